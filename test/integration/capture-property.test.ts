/**
 * Randomized property test of capture and restore (seeded PRNG). Each seed
 * interleaves application writes, application checkpoints of every mode,
 * VACUUM, WAL growth past both checkpoint thresholds, agent syncs and
 * checkpoints, graceful stops, crashes (the agent vanishes without a final
 * sync), crashes between writing an L0 file and recording the position,
 * stops during which the application runs its own TRUNCATE checkpoint and
 * goes on writing (the restart must resync with only the changed pages,
 * issue #11), a lost position file, a damaged `pages.crc` (the restart must
 * send every page), and level-9 snapshots. Afterwards every TXID the agent
 * reported restores to exactly the recorded database image, and every LTX
 * file verifies.
 *
 * LITEFLEET_SEEDS=N runs N seeds (default 50); LITEFLEET_SEED=S starts at S.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { flush, testUploader } from "../harness/uploader.ts";
import { nullLogger } from "../../src/log.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";
import { txid } from "../../src/ltx/txid.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { applyRestorePlan } from "../../src/restore/applier.ts";
import { planRestore } from "../../src/restore/planner.ts";
import { mulberry32, randomSeed } from "../harness/prng.ts";
import { fileHash, imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const SEEDS = Number(process.env.LITEFLEET_SEEDS ?? 50);
const STEPS = 45;
const CAPTURE = { busyTimeoutMs: 2000, minCheckpointPageCount: 15, truncatePageN: 60, checkpointIntervalMs: 60_000 };

async function runSeed(
  seed: number,
): Promise<{ txids: number; snapshots: number; resyncs: number; checkpoints: number }> {
  const rand = mulberry32(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  await using dir = await makeTempDir("prop-");
  const dbPath = join(dir.path, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000;");
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB); CREATE INDEX t_k ON t (k);");
  const store = LocalStore.open(join(dir.path, "state"));
  const replica = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
  const uploader = testUploader({ name: "file", client: replica, store });
  const open = () => DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0) });
  const recorded = new Map<bigint, string>();
  let snapshots = 0;
  let resyncs = 0;
  let checkpoints = 0;
  let cap: DbCapture | undefined = open();

  const sync = async () => {
    if (!cap) cap = open();
    const res = cap.sync();
    if (res) {
      recorded.set(res.txid, imageHash(app));
      if (res.snapshot) snapshots++;
      if (res.resync) resyncs++;
    }
    if (cap.checkpointIfNeeded()) checkpoints++;
    await flush(uploader);
  };
  const write = () => {
    const op = rand();
    const n = 1 + pick(op < 0.1 ? 400 : 30);
    app.transaction(() => {
      if (op < 0.6) {
        const stmt = app.prepare("INSERT INTO t (k, v) VALUES (?, randomblob(?))");
        for (let i = 0; i < n; i++) stmt.run(pick(1000), 50 + pick(900));
      } else if (op < 0.85) {
        app.run("UPDATE t SET v = randomblob(?) WHERE k % ? = 0", [10 + pick(500), 2 + pick(20)]);
      } else {
        app.run("DELETE FROM t WHERE k % ? = ?", [3 + pick(10), pick(3)]);
      }
    })();
  };

  for (let step = 0; step < STEPS; step++) {
    const r = rand();
    if (r < 0.4) write();
    else if (r < 0.5) {
      const mode = ["PASSIVE", "FULL", "RESTART", "TRUNCATE"][pick(4)];
      app.exec("PRAGMA busy_timeout = 20");
      app.query(`PRAGMA wal_checkpoint(${mode})`).get();
      app.exec("PRAGMA busy_timeout = 5000");
    } else if (r < 0.64) await sync();
    else if (r < 0.72) {
      // An agent checkpoint, so crashes often happen while the agent
      // expects its own WAL restart.
      await sync();
      if (cap?.checkpoint(rand() < 0.5 ? "PASSIVE" : "TRUNCATE")) checkpoints++;
    } else if (r < 0.76) {
      app.exec("VACUUM");
    } else if (r < 0.82) {
      // Graceful stop and start.
      await sync();
      cap?.close();
      cap = undefined;
    } else if (r < 0.88) {
      // Crash: the agent disappears without a final sync; the application
      // goes on writing and checkpointing meanwhile.
      cap?.close();
      cap = undefined;
      write();
      if (rand() < 0.5) app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
    } else if (r < 0.905) {
      // Issue #11: the agent stops, the application writes, runs its own
      // TRUNCATE checkpoint and writes again. With the last capture's page
      // checksums intact the restart sends only the pages that differ; with
      // a lost position it continues from the newest local file; with a
      // damaged pages.crc it sends every page.
      await sync();
      cap?.close();
      cap = undefined;
      // Inserts, so the database file surely differs from the last capture.
      const insert = app.prepare("INSERT INTO t (k, v) VALUES (?, randomblob(?))");
      insert.run(pick(1000), 50 + pick(900));
      app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
      write();
      insert.run(pick(1000), 50 + pick(900));
      const damage = pick(3);
      if (damage === 1) rmSync(join(store.dir, "position.json"), { force: true });
      if (damage === 2) {
        const crc = join(store.dir, "pages.crc");
        const bytes = readFileSync(crc);
        const at = 32 + pick(Math.max(1, bytes.length - 32));
        bytes[at] = (bytes[at] ?? 0) ^ 0x10;
        writeFileSync(crc, bytes);
      }
      cap = open();
      const res = cap.sync();
      if (res) {
        recorded.set(res.txid, imageHash(app));
        if (res.snapshot) snapshots++;
        if (res.resync) resyncs++;
      }
      expect({ seed, damage, resync: res?.resync, snapshot: res?.snapshot }).toEqual({
        seed,
        damage,
        resync: damage !== 2,
        snapshot: damage === 2,
      });
      await flush(uploader);
    } else if (r < 0.93) {
      // Crash after the L0 file was renamed into place but before the
      // position was recorded.
      if (!cap) cap = open();
      const posPath = join(store.dir, "position.json");
      let before: string | undefined;
      try {
        before = readFileSync(posPath, "utf8");
      } catch {
        before = undefined;
      }
      write();
      const res = cap.sync();
      if (res) recorded.set(res.txid, imageHash(app));
      cap.close();
      cap = undefined;
      if (before !== undefined) writeFileSync(posPath, before);
    } else {
      if (!cap) cap = open();
      await sync();
      cap.writeLevel9Snapshot();
      await flush(uploader);
    }
  }
  await sync();
  cap?.close();

  // Every batch boundary in the replica is a restore point; each one the
  // test recorded must restore to exactly the recorded image.
  const boundaries = new Set<bigint>();
  for await (const f of replica.listLtxFiles(0)) boundaries.add(f.maxTxid);
  let restored = 0;
  for (const [id, hash] of recorded) {
    if (!boundaries.has(id)) continue;
    const out = join(dir.path, `r-${id}.db`);
    const plan = await planRestore(replica, { txid: txid(id) });
    await applyRestorePlan(replica, plan, { output: out });
    if (fileHash(out) !== hash) throw new Error(`seed ${seed}: TXID ${id} restored to a different image`);
    restored++;
  }
  const last = [...recorded.keys()].reduce((a, b) => (a > b ? a : b), 0n);
  expect(boundaries.has(last)).toBe(true);
  expect(integrityCheck(join(dir.path, `r-${last}.db`))).toBe("ok");
  for (const level of ["0", "9"]) {
    let names: string[] = [];
    try {
      names = readdirSync(join(dir.path, "replica", "ltx", level));
    } catch {
      names = [];
    }
    for (const name of names.filter((n) => n.endsWith(".ltx")))
      verifyLtxFile(readFileSync(join(dir.path, "replica", "ltx", level, name)), { path: name });
  }
  app.close();
  return { txids: restored, snapshots, resyncs, checkpoints };
}

describe("capture property", () => {
  test(`${SEEDS} seeds: every TXID restores to the recorded image`, async () => {
    const base = randomSeed();
    let txids = 0;
    let snapshots = 0;
    let resyncs = 0;
    let checkpoints = 0;
    for (let i = 0; i < SEEDS; i++) {
      const seed = (base + i) >>> 0;
      try {
        const r = await runSeed(seed);
        txids += r.txids;
        snapshots += r.snapshots;
        resyncs += r.resyncs;
        checkpoints += r.checkpoints;
      } catch (err) {
        throw new Error(`Property failed for LITEFLEET_SEED=${seed}: ${String(err)}`, { cause: err });
      }
    }
    // The mix must actually exercise snapshots, resyncs and checkpoints.
    expect(snapshots).toBeGreaterThanOrEqual(SEEDS);
    expect(resyncs).toBeGreaterThan(SEEDS / 2);
    expect(checkpoints).toBeGreaterThan(SEEDS / 2);
    expect(txids).toBeGreaterThan(SEEDS * 5);
  }, 600_000);
});
