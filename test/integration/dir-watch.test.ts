/**
 * End to end: `litefleet replicate` with a directory entry (`dir`, `pattern`,
 * `recursive`, `watch`). Databases present at start, created later and
 * created in a new subdirectory replicate to `<replica>/<relative path>` and
 * restore byte for byte; a removed database stops without disturbing the
 * others; non-database files and litefleet's own state are never picked up.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent, type AgentProcess } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

function writeConfig(path: string, dir: string, replica: string): void {
  writeFileSync(
    path,
    [
      'status: { addr: "" }',
      "logging: { type: json }",
      "dbs:",
      `  - dir: ${dir}`,
      '    pattern: "*.db"',
      "    recursive: true",
      "    watch: true",
      "    monitor-interval: 50ms",
      "    replica:",
      `      path: ${replica}`,
      "      sync-interval: 100ms",
      "",
    ].join("\n"),
  );
}

/** Creates a WAL database at `path` with one row, and returns its open connection. */
function createDb(path: string, value: string): Database {
  const db = new Database(path, { create: true });
  db.exec("PRAGMA journal_mode = wal; CREATE TABLE t (v TEXT);");
  db.query("INSERT INTO t (v) VALUES (?)").run(value);
  return db;
}

/** Waits until the agent logged `msg` for database `db`. */
async function waitForRecord(agent: AgentProcess, msg: string, db: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  const seen = () =>
    agent
      .log()
      .split("\n")
      .some((line) => line.includes(`"msg":"${msg}"`) && line.includes(`"db":${JSON.stringify(db)}`));
  while (!seen()) {
    if (Date.now() > deadline) throw new Error(`Agent never logged '${msg}' for ${db}:\n${agent.log()}`);
    if (agent.proc.exitCode !== null) throw new Error(`Agent exited (${agent.proc.exitCode}):\n${agent.log()}`);
    await Bun.sleep(20);
  }
}

async function restoreHash(source: string, out: string): Promise<string> {
  const r = await runCli(["restore", "-o", out, `file://${source}`]);
  if (r.code !== 0) throw new Error(`restore of ${source} failed (${r.code}): ${r.stderr}`);
  return fileHash(out);
}

describe("replicate with a watched directory", () => {
  test("databases at start, created later and in a new subdirectory replicate under their relative paths", async () => {
    await using tmp = await makeTempDir("dir-watch-");
    const data = join(tmp.path, "data");
    const replica = join(tmp.path, "replica");
    mkdirSync(data);
    const first = createDb(join(data, "first.db"), "at start");
    // Never databases: a non-SQLite file matching the pattern, and an empty one (not yet a database).
    writeFileSync(join(data, "notes.db"), "not a database, just text long enough to have a header");
    writeFileSync(join(data, "empty.db"), "");
    const cfg = join(tmp.path, "litefleet.yml");
    writeConfig(cfg, data, replica);
    const agent = startAgent(cfg);
    const dbs = [first];
    try {
      await waitForRecord(agent, "capture started", join(data, "first.db"));
      const later = createDb(join(data, "later.db"), "created later");
      dbs.push(later);
      await waitForRecord(agent, "capture started", join(data, "later.db"));
      mkdirSync(join(data, "site", "a"), { recursive: true });
      const nested = createDb(join(data, "site", "a", "nested.db"), "in a new subdirectory");
      dbs.push(nested);
      await waitForRecord(agent, "capture started", join(data, "site", "a", "nested.db"));
      later.query("INSERT INTO t (v) VALUES ('more')").run();
      const log = await agent.stop();
      expect(log).not.toContain("notes.db");
      expect(log).not.toContain("empty.db");
      expect(log).not.toContain("litefleet\\/");
      for (const [rel, db] of [
        ["first.db", first],
        ["later.db", later],
      ] as const) {
        const out = join(tmp.path, `out-${rel}`);
        expect({ rel, hash: await restoreHash(join(replica, rel), out) }).toEqual({ rel, hash: imageHash(db) });
      }
      // DB_PATH arguments resolve through the directory entry.
      const nestedPath = join(data, "site", "a", "nested.db");
      const out = join(tmp.path, "nested.out");
      const restored = await runCli(["restore", "--config", cfg, "-o", out, nestedPath]);
      expect(restored.code).toBe(0);
      expect(fileHash(out)).toBe(imageHash(nested));
      const verified = await runCli(["verify", "--config", cfg, join(data, "later.db")]);
      expect({ code: verified.code, err: verified.stderr }).toEqual({ code: 0, err: expect.any(String) });
      const listed = await runCli(["databases", "--json", "--config", cfg]);
      expect(JSON.parse(listed.stdout)).toEqual([
        {
          dir: data,
          pattern: "*.db",
          recursive: true,
          watch: true,
          matches: ["first.db", "later.db", "site/a/nested.db"].map((rel) => ({
            path: join(data, rel),
            replicas: [{ name: "file", url: `file://${join(replica, rel)}` }],
          })),
        },
      ]);
    } finally {
      for (const db of dbs) db.close();
      if (agent.proc.exitCode === null) await agent.kill();
    }
  });

  test("a removed database stops cleanly while the others go on", async () => {
    await using tmp = await makeTempDir("dir-watch-");
    const data = join(tmp.path, "data");
    const replica = join(tmp.path, "replica");
    mkdirSync(data);
    const keep = createDb(join(data, "keep.db"), "kept");
    const gone = createDb(join(data, "gone.db"), "removed");
    gone.close();
    const cfg = join(tmp.path, "litefleet.yml");
    writeConfig(cfg, data, replica);
    const agent = startAgent(cfg);
    try {
      await waitForRecord(agent, "capture started", join(data, "keep.db"));
      await waitForRecord(agent, "capture started", join(data, "gone.db"));
      for (const suffix of ["", "-wal", "-shm"]) rmSync(join(data, `gone.db${suffix}`), { force: true });
      await waitForRecord(
        agent,
        "database removed; replication stopped (its local state is kept)",
        join(data, "gone.db"),
      );
      keep.query("INSERT INTO t (v) VALUES ('after the removal')").run();
      const log = await agent.stop();
      expect(log).not.toContain('"level":"error"');
      expect(await restoreHash(join(replica, "keep.db"), join(tmp.path, "keep.out"))).toBe(imageHash(keep));
    } finally {
      keep.close();
      if (agent.proc.exitCode === null) await agent.kill();
    }
  });

  test("a directory without a match and without watch is a config error naming the dir and the pattern", async () => {
    await using tmp = await makeTempDir("dir-watch-");
    const cfg = join(tmp.path, "litefleet.yml");
    writeFileSync(cfg, `dbs:\n  - dir: ${tmp.path}\n    pattern: "*.db"\n    replica: { path: ${tmp.path}/r }\n`);
    const r = await runCli(["replicate", "--config", cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `Cannot read config: 'dbs[0].dir' has no SQLite database in '${tmp.path}' matching '*.db'; create one, fix the pattern, or set 'watch: true' to wait for one`,
    );
  });
});
