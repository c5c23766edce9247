import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { parseConfig } from "../config/parse.ts";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { Clock } from "../platform/clock.ts";
import { dirDatabasesAtStart, DirWatcher, findDirDatabases } from "./dir-watcher.ts";

function configFor(dir: string, extra = ""): Config {
  return parseConfig(`dbs:\n  - dir: ${dir}\n    pattern: "*.db"\n${extra}    replica: { path: ${dir}-replica }\n`, {
    env: {},
    cwd: "/",
    deviceId: "host-1",
  });
}

function createDb(path: string): void {
  const db = new Database(path, { create: true });
  db.exec("PRAGMA journal_mode = wal; CREATE TABLE t (v);");
  db.close();
}

const quiet = createLogger({ level: "error", format: "text", sink: () => {} });

/**
 * A clock whose sleeps end only when the test calls `tick()` (or the sleep's
 * signal aborts); `tick()` resolves with the lengths of the sleeps it ended.
 */
function manualClock(): Clock & { tick(): Promise<number[]>; sleeping(): number } {
  const sleepers = new Map<() => void, number>();
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    sleep(ms, signal) {
      return new Promise((resolve) => {
        const done = () => {
          sleepers.delete(done);
          resolve();
        };
        if (signal?.aborted) return resolve();
        sleepers.set(done, ms);
        signal?.addEventListener("abort", done, { once: true });
      });
    },
    async tick() {
      const woken = [...sleepers];
      for (const [wake] of woken) wake();
      // Let the woken loop scan and go back to sleep.
      for (let i = 0; i < 20 && sleepers.size === 0; i++) await Bun.sleep(1);
      return woken.map(([, ms]) => ms);
    },
    sleeping: () => sleepers.size,
  };
}

describe("findDirDatabases", () => {
  test("findDirDatabases() finds SQLite databases only, never side files or our own state", async () => {
    await using tmp = await makeTempDir("dir-find-");
    const dir = tmp.path;
    createDb(join(dir, "a.db"));
    mkdirSync(join(dir, "sub"));
    createDb(join(dir, "sub", "b.db"));
    writeFileSync(join(dir, "text.db"), "SQLite format 2 is not a database");
    writeFileSync(join(dir, "empty.db"), "");
    mkdirSync(join(dir, ".a.db-litefleet"));
    createDb(join(dir, ".a.db-litefleet", "x.db"));
    createDb(join(dir, "a.db.tmp"));
    createDb(join(dir, ".hidden.db"));
    const [flat] = configFor(dir).dirs;
    const [deep] = configFor(dir, "    recursive: true\n").dirs;
    expect(findDirDatabases(flat!)).toEqual([join(dir, "a.db")]);
    expect(findDirDatabases(deep!)).toEqual([join(dir, "a.db"), join(dir, "sub", "b.db")]);
  });

  test("findDirDatabases() takes an empty file once it has become a database", async () => {
    await using tmp = await makeTempDir("dir-find-");
    const [entry] = configFor(tmp.path).dirs;
    writeFileSync(join(tmp.path, "app.db"), "");
    expect(findDirDatabases(entry!)).toEqual([]);
    rmSync(join(tmp.path, "app.db"));
    createDb(join(tmp.path, "app.db"));
    expect(findDirDatabases(entry!)).toEqual([join(tmp.path, "app.db")]);
  });
});

describe("dirDatabasesAtStart", () => {
  test("dirDatabasesAtStart() throws a ConfigError without watch and waits with it", async () => {
    await using tmp = await makeTempDir("dir-start-");
    expect(() => dirDatabasesAtStart(configFor(tmp.path), quiet)).toThrow(ConfigError);
    expect(dirDatabasesAtStart(configFor(tmp.path, "    watch: true\n"), quiet)).toEqual([]);
    createDb(join(tmp.path, "a.db"));
    expect(dirDatabasesAtStart(configFor(tmp.path), quiet).map((d) => [d.path, d.replicas[0]?.spec.path])).toEqual([
      [join(tmp.path, "a.db"), `${tmp.path}-replica/a.db`],
    ]);
  });
});

describe("DirWatcher", () => {
  test("DirWatcher scans once right after it starts: a database removed while the others were starting goes at once", async () => {
    await using tmp = await makeTempDir("dir-start-scan-");
    const dir = tmp.path;
    const config = configFor(dir, "    watch: true\n");
    createDb(join(dir, "a.db"));
    const initial = dirDatabasesAtStart(config, quiet);
    rmSync(join(dir, "a.db")); // before the watches exist: no event will tell
    const clock = manualClock();
    const removed: string[] = [];
    const watcher = new DirWatcher({
      entry: config.dirs[0]!,
      claimed: () => true,
      add: async () => {},
      remove: async (path) => void removed.push(path),
      log: quiet,
      clock,
      fsEvents: false,
    });
    watcher.start(initial);
    try {
      for (let i = 0; i < 100 && clock.sleeping() === 0; i++) await Bun.sleep(1);
      // Only the debounce stands before the first scan, not the 10 s rescan.
      expect(await clock.tick()).toEqual([250]);
      expect(removed).toEqual([join(dir, "a.db")]);
    } finally {
      await watcher.stop();
    }
  });

  test("DirWatcher rescans on its clock: adds new databases, removes vanished ones, retries a failed start", async () => {
    await using tmp = await makeTempDir("dir-rescan-");
    const dir = tmp.path;
    const config = configFor(dir, "    recursive: true\n    watch: true\n");
    createDb(join(dir, "a.db"));
    const initial = dirDatabasesAtStart(config, quiet);
    const clock = manualClock();
    const events: string[] = [];
    let failNext = false;
    const replicated = new Set(initial.map((d) => d.path));
    const watcher = new DirWatcher({
      entry: config.dirs[0]!,
      claimed: (path) => replicated.has(path),
      add: async (db) => {
        events.push(`add ${db.path.slice(dir.length)}`);
        if (failNext) {
          failNext = false;
          throw new Error("cannot open");
        }
        replicated.add(db.path);
      },
      remove: async (path) => {
        events.push(`remove ${path.slice(dir.length)}`);
        replicated.delete(path);
      },
      log: quiet,
      clock,
      fsEvents: false,
    });
    watcher.start(initial);
    try {
      await clock.tick();
      expect(events).toEqual([]);
      mkdirSync(join(dir, "new"));
      createDb(join(dir, "new", "b.db"));
      failNext = true;
      await clock.tick();
      expect(events).toEqual(["add /new/b.db", "remove /new/b.db"]);
      expect(watcher.databases).toEqual([join(dir, "a.db")]);
      await clock.tick();
      expect(watcher.databases).toEqual([join(dir, "a.db"), join(dir, "new", "b.db")]);
      rmSync(join(dir, "a.db"));
      await clock.tick();
      expect(events).toEqual(["add /new/b.db", "remove /new/b.db", "add /new/b.db", "remove /a.db"]);
      expect(watcher.databases).toEqual([join(dir, "new", "b.db")]);
    } finally {
      await watcher.stop();
    }
    expect(clock.sleeping()).toBe(0);
  });
});
