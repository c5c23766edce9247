/**
 * Stock Litestream v0.5.16 `restore` takes what litefleet writes (issue
 * #14): replicas written by the real capture and uploader (snapshots,
 * levels 1 to 8, merged L0 batches, the NoChecksum full-database L0 of a
 * fresh state above a replica) and by `migrate` are run, at every restore
 * point litefleet offers (latest, each TXID, each file's time), through
 * the model of stock's rule (`test/harness/stock-restore-rule.ts`), which
 * must succeed and equal litefleet's restore byte for byte. The same
 * replicas written the old way (flags 0 on the replica) fail the model
 * with stock's error, and still restore with litefleet, checked. The model
 * itself is held to stock v0.5.16's own restores of the replica it wrote
 * (`../shared/fixtures/litestream-v05/`). No stock binary runs here.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { Uploader } from "../../src/agent/uploader.ts";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import { txid, type Txid } from "../../src/ltx/txid.ts";
import { nullLogger } from "../../src/log.ts";
import { openFileSource } from "../../src/platform/byte-source.ts";
import {
  bodySize,
  type LtxBody,
  type LtxFileInfo,
  type LtxFileKey,
  type ReplicaClient,
  type WriteLtxFileOptions,
} from "../../src/replica/client.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { ltxFileNameOf } from "../../src/replica/layout.ts";
import { applyRestorePlan } from "../../src/restore/applier.ts";
import { listAllLtxFiles, planRestore, type RestoreTarget } from "../../src/restore/planner.ts";
import { copyV3Replica, v3Manifest } from "../fixtures/litestream-v3/fixture.ts";
import { runCli } from "../harness/cli.ts";
import { offsetClock } from "../harness/clocks.ts";
import { stockRestore, stockRestorePlan, StockRestoreError } from "../harness/stock-restore-rule.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const CAPTURE = {
  busyTimeoutMs: 1000,
  minCheckpointPageCount: 1000,
  truncatePageN: 0,
  checkpointIntervalMs: 3_600_000,
};
const POLICY = { minInterval: 1000, maxInterval: 1000, maxBatchBytes: 64 << 20, bandwidth: 0 };

/**
 * A client that writes each file as it is given, as litefleet did before
 * it stored NoChecksum files (flags 0 and the checksums in the file).
 */
function oldWayClient(dir: string): ReplicaClient {
  return new OldWayClient({ type: "file", path: dir });
}

class OldWayClient extends FileReplicaClient {
  override async writeLtxFile(key: LtxFileKey, body: LtxBody, options: WriteLtxFileOptions): Promise<LtxFileInfo> {
    await this.store.put(`ltx/${key.level}/${ltxFileNameOf(key)}`, body, { mtime: options.timestamp });
    return { ...key, size: bodySize(body), createdAt: options.timestamp };
  }
}

/**
 * Replicates a database through `client` with the real capture and
 * uploader: batches of several captures, a compaction at each of 8 levels,
 * a level-9 snapshot every few rounds, a table dropped and vacuumed (the
 * database shrinks). `switchTo` swaps the client half way (a mixed chain).
 */
async function writeReplica(dir: string, client: ReplicaClient, switchTo?: ReplicaClient): Promise<void> {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE big (v TEXT);");
  const store = LocalStore.open(join(dir, "state"));
  const clock = offsetClock();
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0), clock });
  const uploader = (c: ReplicaClient) =>
    new Uploader({
      name: "r",
      client: c,
      store,
      log: nullLogger(),
      replica: { upload: POLICY, meteredUpload: POLICY, windows: [], meteredSnapshots: true },
      levels: Array.from({ length: 8 }, (_, i) => ({ interval: 60_000 * (i + 1) })),
      snapshotRetentionMs: 24 * 3_600_000,
      spool: { maxBytes: 1 << 30, maxAge: 24 * 3_600_000 },
      clock,
    });
  let up = uploader(client);
  try {
    for (let round = 0; round < 24; round++) {
      if (round === 12 && switchTo !== undefined) up = uploader(switchTo);
      for (let i = 0; i < 1 + (round % 3); i++) {
        app.run("INSERT INTO t (v) VALUES (?)", [`round ${round} row ${i} `.repeat(30)]);
        if (round < 5) app.run("INSERT INTO big (v) VALUES (?)", ["x".repeat(6000)]);
        app.run("UPDATE t SET v = ? WHERE id = 1", [`updated in round ${round}`]);
        cap.sync();
      }
      if (round === 5) {
        app.exec("DROP TABLE big; VACUUM;");
        cap.sync();
      }
      if (round % 4 === 3) cap.writeLevel9Snapshot();
      clock.advance(60_000);
      await up.tick({ metered: false, explicit: true });
    }
  } finally {
    cap.close();
    app.close();
  }
}

/** Every target litefleet can restore: latest, each TXID it has a plan for, and each file's header time. */
async function restoreTargets(client: ReplicaClient): Promise<RestoreTarget[]> {
  const files = await listAllLtxFiles(client);
  const max = files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
  const targets: RestoreTarget[] = [{}];
  for (let t = 1n; t <= max; t++) {
    const plan = await planRestore(client, { txid: t as Txid }, { files }).catch(() => undefined);
    if (plan !== undefined) targets.push({ txid: t as Txid });
  }
  for (const f of files) {
    const head = decodeHeader(await client.readLtxFile(f, { offset: 0, size: HEADER_SIZE }), { path: "h" });
    targets.push({ timestamp: new Date(head.timestamp + 1) });
  }
  return targets;
}

/** Restores `target` with litefleet; the bytes and how many files had no checksums. */
async function litefleetRestore(client: ReplicaClient, target: RestoreTarget, out: string) {
  const result = await applyRestorePlan(client, await planRestore(client, target), { output: out });
  return { bytes: new Uint8Array(readFileSync(out)), txid: result.txid, unchecked: result.unchecked };
}

/**
 * Runs every target through the stock model and compares with litefleet's
 * restore of the TXID the stock plan reaches; returns how many points ran.
 */
async function everyPointThroughStock(client: ReplicaClient, dir: string): Promise<number> {
  let n = 0;
  for (const target of await restoreTargets(client)) {
    const plan = await stockRestorePlan(client, {
      ...(target.txid === undefined ? {} : { txid: target.txid }),
      ...(target.timestamp === undefined ? {} : { timestamp: target.timestamp }),
    }).catch((err: unknown) => {
      // A time before the first file: stock, like litefleet, has nothing to restore.
      if (target.timestamp !== undefined && err instanceof StockRestoreError) return undefined;
      throw err;
    });
    if (plan === undefined) continue;
    const stock = await stockRestore(client, plan);
    const ours = await litefleetRestore(client, { txid: plan.at(-1)!.maxTxid }, join(dir, `r${n++}.db`));
    expect(Buffer.compare(stock, ours.bytes)).toBe(0);
  }
  return n;
}

/** Stock Litestream v0.5.16's own replica and its own restores of it. */
const V05_FIXTURE = fileURLToPath(new URL("../../../shared/fixtures/litestream-v05/", import.meta.url));

describe("stock Litestream restore rule", () => {
  test("the model reproduces stock v0.5.16's own restores of the replica it wrote, at every TXID", async () => {
    await using dir = await makeTempDir("lf-stock-rule-");
    cpSync(join(V05_FIXTURE, "replica"), join(dir.path, "replica"), { recursive: true });
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
    for (const n of [1n, 2n, 3n, 4n]) {
      const stock = await stockRestore(client, await stockRestorePlan(client, { txid: n as Txid }));
      expect(Buffer.compare(stock, readFileSync(join(V05_FIXTURE, `expected-txid-${n}.db`)))).toBe(0);
    }
    const latest = await stockRestore(client, await stockRestorePlan(client));
    expect(Buffer.compare(latest, readFileSync(join(V05_FIXTURE, "expected-txid-4.db")))).toBe(0);
  });

  test("every restore point of a replica the real capture and uploader wrote passes stock's rule and equals litefleet's restore", async () => {
    await using dir = await makeTempDir("lf-stock-rule-");
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
    await writeReplica(dir.path, client);
    const levels = new Set((await listAllLtxFiles(client)).map((f) => f.level));
    expect([...levels].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const points = await everyPointThroughStock(client, dir.path);
    expect(points).toBeGreaterThan(20);
    // litefleet itself still checks the whole chain.
    expect((await litefleetRestore(client, {}, join(dir.path, "latest.db"))).unchecked).toBe(0);
  }, 120_000);

  test("the NoChecksum full-database L0 of a fresh state above a replica passes too", async () => {
    await using dir = await makeTempDir("lf-stock-rule-");
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
    await writeReplica(dir.path, client);
    const max = (await planRestore(client, {})).txid;
    // A fresh local state (the database restored elsewhere) whose capture knows no checksum at the floor.
    const dbPath = join(dir.path, "app.db");
    const store = LocalStore.open(join(dir.path, "fresh-state"));
    const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: max });
    try {
      const app = new Database(dbPath);
      app.run("INSERT INTO t (v) VALUES ('after the restore')");
      app.close();
      cap.sync();
    } finally {
      cap.close();
    }
    const file = store.spool.list(0).at(-1)!;
    expect(file.minTxid).toBe(txid(max + 1n));
    await using source = await openFileSource(store.spool.path(file));
    await client.writeLtxFile(file, source, { timestamp: file.createdAt });
    const stock = await stockRestore(client, await stockRestorePlan(client));
    const ours = await litefleetRestore(client, {}, join(dir.path, "latest.db"));
    expect(ours.txid).toBe(txid(max + 1n));
    expect(ours.unchecked).toBe(1);
    expect(Buffer.compare(stock, ours.bytes)).toBe(0);
  }, 120_000);

  test("migrate's output passes at every restore point", async () => {
    await using dir = await makeTempDir("lf-stock-rule-");
    const from = copyV3Replica(dir.path);
    const to = join(dir.path, "ltx-replica");
    const fixtureTime = Math.max(...Object.values(v3Manifest.mtimes));
    const run = await runCli(["migrate", "--from", from, "--to", to, "--history"], { now: () => fixtureTime });
    expect(run.code).toBe(0);
    const client = new FileReplicaClient({ type: "file", path: to });
    expect(await everyPointThroughStock(client, dir.path)).toBeGreaterThan(3);
  }, 120_000);

  test("files written the old way (flags 0 on the replica) fail stock's rule, and still restore with litefleet, checked, mixed chains too", async () => {
    await using dir = await makeTempDir("lf-stock-rule-");
    const old = oldWayClient(join(dir.path, "old"));
    await writeReplica(join(dir.path), old);
    await expect(stockRestore(old, await stockRestorePlan(old))).rejects.toThrow(
      "decode database: close encoder: validate trailer: post-apply checksum not allowed",
    );
    expect((await litefleetRestore(old, {}, join(dir.path, "old.db"))).unchecked).toBe(0);

    await using mixed = await makeTempDir("lf-stock-rule-");
    const oldHalf = oldWayClient(join(mixed.path, "replica"));
    const newHalf = new FileReplicaClient({ type: "file", path: join(mixed.path, "replica") });
    await writeReplica(mixed.path, oldHalf, newHalf);
    const files = await listAllLtxFiles(newHalf);
    const flags = new Set<number>();
    for (const f of files) {
      flags.add(decodeHeader(await newHalf.readLtxFile(f, { offset: 0, size: HEADER_SIZE }), { path: "h" }).flags);
    }
    expect([...flags].sort()).toEqual([0, 2]);
    for (const target of await restoreTargets(newHalf)) {
      const r = await litefleetRestore(newHalf, target, join(mixed.path, `m${Math.random()}.db`)).catch(
        (err: unknown) => err,
      );
      if (r instanceof Error && target.timestamp !== undefined) continue;
      expect(r).toMatchObject({ unchecked: 0 });
    }
  }, 180_000);
});
