/**
 * A replica written by stock Litestream v0.5.16 (`../shared/fixtures/litestream-v05/`: one level-9
 * snapshot, one L0 file per TXID, every file NoChecksum) restores with litefleet to every TXID,
 * byte for byte the database stock `litestream restore -txid N` made, and to the latest TXID without
 * `--txid`. The first step of issue #14 (stock Litestream v0.5 compatibility): reading what stock
 * Litestream writes. Then the way back: litefleet continues on top of that replica (no takeover:
 * the database restored from it has no local state) without touching stock's files, and stock
 * (the model in `test/harness/stock-litestream-resume.ts`) resumes on top of litefleet's.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fileHash, imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { expectStockRoundTrip, isMerged, l0Names } from "../harness/stock-handover.ts";
import { stockResume } from "../harness/stock-litestream-resume.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const FIXTURE = fileURLToPath(new URL("../../../shared/fixtures/litestream-v05/", import.meta.url));

describe("a stock Litestream v0.5.16 replica", () => {
  test("restores to each TXID exactly as stock restore did, and to the latest without --txid", async () => {
    await using dir = await makeTempDir("litestream-v05-");
    const replica = join(dir.path, "replica");
    cpSync(join(FIXTURE, "replica"), replica, { recursive: true });
    for (const txid of [1, 2, 3, 4]) {
      const out = join(dir.path, `txid-${txid}.db`);
      const run = await runCli(["restore", "-o", out, "--txid", String(txid), `file://${replica}`]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: 0,
        stderr: expect.stringContaining("integrity ok"),
      });
      expect(Buffer.compare(readFileSync(out), readFileSync(join(FIXTURE, `expected-txid-${txid}.db`)))).toBe(0);
    }
    const latest = join(dir.path, "latest.db");
    const run = await runCli(["restore", "-o", latest, replica]);
    expect(run.code).toBe(0);
    expect(Buffer.compare(readFileSync(latest), readFileSync(join(FIXTURE, "expected-txid-4.db")))).toBe(0);
  });

  test("litefleet continues on top of it, leaves stock's TXIDs restorable, and stock resumes on top of litefleet", async () => {
    await using dir = await makeTempDir("litestream-v05-");
    const replica = join(dir.path, "replica");
    cpSync(join(FIXTURE, "replica"), replica, { recursive: true });
    const stockFiles = l0Names(replica);
    const db = join(dir.path, "app.db");
    expect((await runCli(["restore", "-o", db, replica])).code).toBe(0);
    const app = new Database(db);
    // Stock's database was in WAL mode, and the restored header says so; set it anyway.
    app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 0");
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        'status: { addr: "" }',
        "levels: []",
        "logging: { level: debug }",
        "dbs:",
        `  - path: ${db}`,
        "    monitor-interval: 100ms",
        "    replica:",
        `      url: file://${replica}`,
        "      min-interval: 1h",
        "      max-interval: 1h",
      ].join("\n"),
    );
    let rows = 0;
    const insert = (n: number) =>
      app.transaction(() => {
        for (let i = 0; i < n; i++)
          app.run("INSERT INTO readings (ts, sensor, value) VALUES (?, ?, ?)", [1e9 + rows, `lf${rows++}`, rows / 7]);
      })();

    // No takeover: a database with no local state continues on top of a replica whose latest
    // file records no checksum, with a warning (docs/OPERATIONS.md, "stock Litestream → litefleet").
    const agent = startAgent(cfg);
    await agent.waitForLog("capture started");
    insert(50);
    await agent.waitForLog("txid=6 ");
    app.run("UPDATE readings SET value = -value, unit = 'F' WHERE id % 4 = 0");
    await agent.waitForLog("txid=7 ");
    app.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('after stock')");
    await agent.waitForLog("txid=8 ");
    const log = await agent.stop();
    expect(log).toContain("continuing on top of it");
    expect(log).toContain("handover tip written");

    const names = l0Names(replica);
    expect(names.slice(0, stockFiles.length)).toEqual(stockFiles);
    expect(names.length).toBeGreaterThan(stockFiles.length);
    expect(isMerged(names.at(-1))).toBe(false);
    const latest = join(dir.path, "litefleet-latest.db");
    const run = await runCli(["restore", "-o", latest, replica]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining("integrity ok"),
    });
    expect(fileHash(latest)).toBe(imageHash(app));
    expect(integrityCheck(latest)).toBe("ok");
    // Stock's part of the chain: every file byte for byte as stock wrote it, every TXID as stock restored it.
    for (const name of stockFiles) {
      const path = join("ltx", "0", name);
      expect(Buffer.compare(readFileSync(join(replica, path)), readFileSync(join(FIXTURE, "replica", path)))).toBe(0);
    }
    for (const txid of [1, 2, 3, 4]) {
      const out = join(dir.path, `after-litefleet-txid-${txid}.db`);
      expect((await runCli(["restore", "-o", out, "--txid", String(txid), replica])).code).toBe(0);
      expect(Buffer.compare(readFileSync(out), readFileSync(join(FIXTURE, `expected-txid-${txid}.db`)))).toBe(0);
    }

    const resume = stockResume(db, replica);
    expect(resume.decision).toBe("incremental");
    expect(resume.txid).toBeGreaterThan(4n);
    await expectStockRoundTrip({ db, app, insert, replica }, dir.path, resume);
    app.close();
  }, 30_000);
});
