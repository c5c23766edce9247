import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import { CorruptFileError, LocalFileError } from "../../errors.ts";
import { openSqlConnection } from "../../platform/sqlite.ts";
import { HISTORY_APPLICATION_ID, HistoryStore, type NewHistoryEntry } from "./history-store.ts";

const state = (device: string, db: string | null, ts: number, s: "ok" | "lagging" | "offline"): NewHistoryEntry => ({
  device,
  db,
  ts,
  kind: "state",
  state: s,
});
const lag = (device: string, db: string, ts: number, lagMs: number): NewHistoryEntry => ({
  device,
  db,
  ts,
  kind: "lag",
  lagMs,
});

describe("HistoryStore.open()", () => {
  test("creates a WAL-mode history file (and its directory) and reopens it with its entries and last states", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "state", "litefleet", "h.db");
    const store = HistoryStore.open(path);
    store.append([
      state("gw-1", null, 1_000, "ok"),
      state("gw-1", "/a.db", 1_000, "ok"),
      lag("gw-1", "/a.db", 1_000, 5),
    ]);
    store.append([state("gw-1", "/a.db", 2_000, "lagging")]);
    store.close();
    const raw = openSqlConnection(path, { readonly: true });
    expect(raw.get<{ journal_mode: string }>("PRAGMA journal_mode")?.journal_mode).toBe("wal");
    expect(raw.get<{ application_id: number }>("PRAGMA application_id")?.application_id).toBe(HISTORY_APPLICATION_ID);
    raw.close();
    const again = HistoryStore.open(path);
    expect(again.lastSeries()).toEqual(
      new Map([
        [
          "gw-1",
          new Map([
            ["", { state: "ok", lagAt: null, lag: null }],
            ["/a.db", { state: "lagging", lagAt: 1_000, lag: 5 }],
          ]),
        ],
      ]),
    );
    expect(again.query({ device: "gw-1" })?.entries.map((e) => [e.kind, e.db, e.ts])).toEqual([
      ["state", null, 1_000],
      ["state", "/a.db", 1_000],
      ["lag", "/a.db", 1_000],
      ["state", "/a.db", 2_000],
    ]);
    again.close();
  });

  test("refuses a file that is not a SQLite database, naming it, and leaves it as it was", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "notes.db");
    writeFileSync(path, "these are my notes, not a database\n".repeat(200));
    const before = readFileSync(path);
    const err = (() => {
      try {
        HistoryStore.open(path);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CorruptFileError);
    expect((err as Error).message).toBe(
      `Cannot open history file '${path}': it is not a SQLite database: move it away (it is never overwritten) or pass --history with another file (or --no-history)`,
    );
    expect(readFileSync(path)).toEqual(before);
  });

  test("refuses another application's SQLite database and leaves it as it was", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "app.db");
    const other = openSqlConnection(path, { create: true });
    other.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    other.close();
    const before = readFileSync(path);
    expect(() => HistoryStore.open(path)).toThrow(LocalFileError);
    expect(() => HistoryStore.open(path)).toThrow(
      `Cannot use '${path}' as a history file: it is a SQLite database of something else (application_id 0, 1 schema objects)`,
    );
    expect(readFileSync(path)).toEqual(before);
  });

  test("a directory that cannot be created is an error naming the file and what to pass instead", async () => {
    await using dir = await makeTempDir("hist-");
    const notDir = join(dir.path, "state");
    writeFileSync(notDir, "a file where the directory should be");
    const path = join(notDir, "litefleet", "h.db");
    let caught: unknown;
    try {
      HistoryStore.open(path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LocalFileError);
    expect((caught as LocalFileError).message).toBe(`Cannot create the directory of history file '${path}': ENOTDIR`);
    expect((caught as LocalFileError).hint).toBe(
      "pass --history with a file in a writable directory (or --no-history)",
    );
    expect(readFileSync(notDir, "utf8")).toBe("a file where the directory should be");
  });

  test("a directory given as the file is refused as a directory", async () => {
    await using dir = await makeTempDir("hist-");
    for (const readonly of [false, true])
      expect(() => HistoryStore.open(dir.path, { readonly })).toThrow(
        `Cannot use '${dir.path}' as a history file: it is a directory, not a file`,
      );
  });

  test("a damaged file: refused at a writer's open (quick_check), a CorruptFileError naming it at a reader's query", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const store = HistoryStore.open(path);
    const detail = { text: "x".repeat(200) };
    for (let i = 0; i < 20; i++)
      store.append(
        Array.from(
          { length: 100 },
          (_, j): NewHistoryEntry => ({
            device: `gw-${j % 10}`,
            db: null,
            ts: i * 100 + j,
            kind: "event",
            event: "e",
            detail,
          }),
        ),
      );
    store.checkpoint();
    store.close();
    // Garbage over the pages in the middle of the file (not the header).
    const image = readFileSync(path);
    image.fill(0xa5, image.length / 2, image.length / 2 + 3 * 4096);
    writeFileSync(path, image);
    expect(() => HistoryStore.open(path)).toThrow(CorruptFileError);
    expect(() => HistoryStore.open(path)).toThrow(`Cannot use history file '${path}': it is damaged (`);
    const reader = HistoryStore.open(path, { readonly: true });
    let caught: unknown;
    try {
      for (let j = 0; j < 10; j++) reader.query({ device: `gw-${j}`, limit: 10_000 });
    } catch (err) {
      caught = err;
    }
    reader.close();
    expect(caught).toBeInstanceOf(CorruptFileError);
    expect((caught as Error).message).toStartWith(`Cannot read history file '${path}': it is damaged (`);
  });

  test("read-only: a missing file is an error naming it; an open one is read beside its writer", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    expect(() => HistoryStore.open(path, { readonly: true })).toThrow(
      `Cannot open history file '${path}': it does not exist`,
    );
    const writer = HistoryStore.open(path);
    writer.append([state("gw-1", null, 1, "ok")]);
    const reader = HistoryStore.open(path, { readonly: true });
    expect(reader.query({ device: "gw-1" })?.entries).toEqual([{ ts: 1, kind: "state", db: null, state: "ok" }]);
    writer.append([state("gw-1", null, 2, "offline")]);
    expect(reader.query({ device: "gw-1" })?.entries.length).toBe(2);
    reader.close();
    writer.close();
  });

  test("a write that fails on a full disk (SQLite rolled back itself) leaves no entry filed under another device", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const seed = HistoryStore.open(path);
    seed.append([state("gw-0", null, 1, "ok")]);
    const pages = seed.stats().bytes / 4096;
    seed.close();
    // Room for small entries only: a big one fills the "disk".
    const store = HistoryStore.open(path, { maxPageCount: pages + 4 });
    const big: NewHistoryEntry = {
      device: "new-a",
      db: null,
      ts: 2,
      kind: "event",
      event: "e",
      detail: { t: "x".repeat(64 * 1024) },
    };
    expect(() => store.append([state("new-a", null, 2, "ok"), big])).toThrow("database or disk is full");
    store.append([lag("new-b", "/b.db", 3, 7_000)]);
    store.append([state("new-a", null, 4, "ok")]);
    expect(store.query({ device: "new-a" })?.entries).toEqual([{ ts: 4, kind: "state", db: null, state: "ok" }]);
    expect(store.query({ device: "new-b" })?.entries).toEqual([{ ts: 3, kind: "lag", db: "/b.db", lagMs: 7_000 }]);
    store.close();
  });

  test("two stores on one file (two dashboards) both write: WAL and busy_timeout, no SQLITE_BUSY", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const a = HistoryStore.open(path);
    const b = HistoryStore.open(path);
    for (let i = 0; i < 50; i++) {
      a.append([lag("gw-1", "/a.db", i, i)]);
      b.append([lag("gw-2", "/a.db", i, i)]);
      if (i % 10 === 0) b.pruneBatch({ olderThan: 0, maxRows: 1_000, batch: 10 });
    }
    expect(a.stats().entries).toBe(100);
    expect(b.query({ device: "gw-1" })?.entries.length).toBe(50);
    a.close();
    b.close();
  });
});

describe("HistoryStore.query()", () => {
  test("one database: its entries and the device's events, not the device's states; oldest first, newest `limit`", async () => {
    await using dir = await makeTempDir("hist-");
    const store = HistoryStore.open(join(dir.path, "h.db"));
    store.append([
      state("gw-1", null, 1, "ok"),
      state("gw-1", "/a.db", 1, "ok"),
      state("gw-1", "/b.db", 1, "ok"),
      { device: "gw-1", db: null, ts: 2, kind: "event", event: "command.done", detail: { id: "c1" } },
      { device: "gw-1", db: "/b.db", ts: 3, kind: "event", event: "snapshot.written", detail: { db: "/b.db" } },
      lag("gw-1", "/a.db", 4, 10),
      lag("gw-1", "/a.db", 5, 20),
    ]);
    expect(store.query({ device: "gw-1", db: "/a.db" })).toEqual({
      device: "gw-1",
      db: "/a.db",
      truncated: false,
      entries: [
        { ts: 1, kind: "state", db: "/a.db", state: "ok" },
        { ts: 2, kind: "event", db: null, event: "command.done", detail: { id: "c1" } },
        { ts: 4, kind: "lag", db: "/a.db", lagMs: 10 },
        { ts: 5, kind: "lag", db: "/a.db", lagMs: 20 },
      ],
    });
    const last2 = store.query({ device: "gw-1", db: "/a.db", limit: 2 });
    expect(last2?.entries.map((e) => e.ts)).toEqual([4, 5]);
    expect(last2?.truncated).toBe(true);
    expect(store.query({ device: "gw-1", since: 3 })?.entries.map((e) => e.ts)).toEqual([3, 4, 5]);
    expect(store.query({ device: "gw-1" })?.entries.length).toBe(7);
    expect(store.query({ device: "gw-2" })).toBeUndefined();
    expect(store.query({ device: "gw-1", db: "/c.db" })).toBeUndefined();
    store.close();
  });
});

describe("HistoryStore.pruneBatch()", () => {
  test("keeps the newest `maxRows`, then deletes by age, at most `batch` per call", async () => {
    await using dir = await makeTempDir("hist-");
    const store = HistoryStore.open(join(dir.path, "h.db"));
    store.append(Array.from({ length: 100 }, (_, i) => lag("gw-1", "/a.db", i * 1000, i)));
    expect(store.pruneBatch({ olderThan: 0, maxRows: 60, batch: 30 })).toBe(30);
    expect(store.pruneBatch({ olderThan: 0, maxRows: 60, batch: 30 })).toBe(10);
    expect(store.pruneBatch({ olderThan: 0, maxRows: 60, batch: 30 })).toBe(0);
    expect(store.query({ device: "gw-1", limit: 10_000 })?.entries.map((e) => e.lagMs)).toEqual(
      Array.from({ length: 60 }, (_, i) => 40 + i),
    );
    // By age: entries before ts 90 000 go.
    let n = 0;
    for (let d = -1; d !== 0; n += d) d = store.pruneBatch({ olderThan: 90_000, maxRows: 60, batch: 7 });
    expect(n).toBe(50);
    expect(store.query({ device: "gw-1" })?.entries.map((e) => e.ts)).toEqual(
      Array.from({ length: 10 }, (_, i) => 90_000 + i * 1000),
    );
    store.close();
  });
});
