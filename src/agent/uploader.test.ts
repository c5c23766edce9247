import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { UploadPolicy } from "../config/schema.ts";
import { nullLogger } from "../log.ts";
import { decodeLtxFile } from "../ltx/decoder.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { txid } from "../ltx/txid.ts";
import { FileReplicaClient } from "../replica/file/replica-client.ts";
import { S3ReplicaClient } from "../replica/s3/replica-client.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { planRestore } from "../restore/planner.ts";
import { offsetClock, type OffsetClock } from "../../test/harness/clocks.ts";
import { FaultyReplicaClient } from "../../test/harness/faulty-client.ts";
import { fileHash, imageHash } from "../../test/harness/sqlite-image.ts";
import { startS3Server } from "../../test/harness/s3-server.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { DbCapture } from "./capture.ts";
import { mergeLocalLtx } from "./local-ltx.ts";
import { LocalStore } from "./local-store.ts";
import { Uploader, type UploaderOptions } from "./uploader.ts";

const CAPTURE = {
  busyTimeoutMs: 1000,
  minCheckpointPageCount: 1000,
  truncatePageN: 0,
  checkpointIntervalMs: 3_600_000,
};
const POLICY: UploadPolicy = { minInterval: 10_000, maxInterval: 60_000, maxBatchBytes: 16 << 20, bandwidth: 0 };
const METERED: UploadPolicy = { minInterval: 300_000, maxInterval: 900_000, maxBatchBytes: 16 << 20, bandwidth: 0 };

/** An uploader of replica "r" with the test policies; `options` override. */
function newUploader(options: Pick<UploaderOptions, "client" | "store"> & Partial<UploaderOptions>): Uploader {
  return new Uploader({
    name: "r",
    log: nullLogger(),
    replica: { upload: POLICY, meteredUpload: METERED, windows: [], meteredSnapshots: false },
    levels: [],
    snapshotRetentionMs: 24 * 3_600_000,
    spool: { maxBytes: 1 << 30, maxAge: 24 * 3_600_000 },
    ...options,
  });
}

async function fixture(dir: string, over: Partial<UploaderOptions> & { inner?: UploaderOptions["client"] } = {}) {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  const store = LocalStore.open(join(dir, "state"));
  const clock: OffsetClock = offsetClock();
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0), clock });
  const { inner = new FileReplicaClient({ type: "file", path: join(dir, "replica") }), ...rest } = over;
  const client = new FaultyReplicaClient(inner);
  const up = newUploader({ client, store, clock, ...rest });
  const write = (n: number) => {
    for (let i = 0; i < n; i++) {
      app.run("INSERT INTO t (v) VALUES (?)", [`value ${i} `.repeat(20)]);
      cap.sync();
    }
  };
  const restore = async (name: string) => {
    const out = join(dir, name);
    await applyRestorePlan(client, await planRestore(client, {}), { output: out });
    return fileHash(out);
  };
  return { app, store, cap, client, clock, up, write, restore, [Symbol.dispose]: () => (cap.close(), app.close()) };
}

describe("Uploader.tick", () => {
  test("merges every pending capture into one PUT when the batch is due (the first state as the snapshot, issue #13)", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(30);
    expect((await f.up.tick({ metered: false })).files).toBe(0); // younger than max-interval
    f.clock.advance(60_000);
    const res = await f.up.tick({ metered: false });
    // The first capture (every page) goes once, as the level-9 snapshot;
    // the other 29 captures are one L0 batch on top of it.
    expect(res.files).toBe(2);
    expect(f.client.writes.map((k) => [k.level, k.minTxid, k.maxTxid])).toEqual([
      [9, txid(1), txid(1)],
      [0, txid(2), txid(30)],
    ]);
    expect(f.up.state?.uploaded[0]).toBe(txid(30));
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("a page rewritten 100 times inside a batch is uploaded once", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(1);
    await f.up.tick({ metered: false, explicit: true });
    for (let i = 0; i < 100; i++) {
      f.app.run("UPDATE t SET v = ? WHERE id = 1", [`rewrite ${i}`]);
      f.cap.sync();
    }
    const spoolBytes = f.store.spool
      .list(0)
      .filter((x) => x.minTxid > 1n)
      .reduce((n, x) => n + x.size, 0);
    await f.up.tick({ metered: false, explicit: true });
    const key = f.client.writes[1];
    if (!key) throw new Error("no second upload");
    const file = decodeLtxFile(await f.client.readLtxFile(key), { path: "batch" });
    expect([key.minTxid, key.maxTxid]).toEqual([txid(2), txid(101)]);
    expect(file.pageNumbers).toEqual([2]); // the table's only leaf page, once
    expect(file.size).toBeLessThan(spoolBytes / 50);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("an explicit sync pre-empts the policy; the metered policy waits longer", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(3);
    f.clock.advance(60_000);
    expect((await f.up.tick({ metered: true })).files).toBe(0);
    f.clock.advance(900_000);
    expect((await f.up.tick({ metered: true })).files).toBe(2); // the first state (level 9) and the batch
    f.write(2);
    expect((await f.up.tick({ metered: true, explicit: true })).files).toBe(1);
  });

  test("a wall clock stepped back an hour neither holds batches nor compaction back (issue #11)", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path, { levels: [{ interval: 60_000 }] });
    f.write(3);
    expect((await f.up.tick({ metered: false })).files).toBe(0); // younger than max-interval
    f.clock.step(-3_600_000);
    f.clock.advance(60_000);
    // Due on the monotonic clock: the first state, one batch, then level 1 (its interval passed too).
    expect((await f.up.tick({ metered: false })).files).toBe(3);
    expect(f.client.writes.map((k) => k.level)).toEqual([9, 0, 1]);
    // The agent's loop sees each capture within seconds (it ticks at least every 5 s).
    f.write(2);
    expect((await f.up.tick({ metered: false })).files).toBe(0);
    f.clock.step(-3_600_000);
    f.clock.advance(60_000);
    expect((await f.up.tick({ metered: false })).files).toBe(2);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("a wall clock stepped forward two hours right after a capture does not rush its batch (the review's 4 of 4)", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(1);
    await f.up.tick({ metered: false, explicit: true }); // the first state, uploaded
    f.clock.advance(5_000);
    expect((await f.up.tick({ metered: false })).files).toBe(0); // the spool looked at: nothing new
    f.write(1);
    f.clock.advance(1_000);
    f.clock.step(2 * 3_600_000);
    // Uptime (and so the status's monthly projection) runs on the monotonic clock: 6 s, not two hours.
    expect(f.up.uptimeMs()).toBeLessThan(60_000);
    // By the wall clock the new capture is two hours old; it was not there 1 s ago, so it is at most 1 s old.
    expect((await f.up.tick({ metered: false })).files).toBe(0);
    f.clock.advance(30_000);
    expect((await f.up.tick({ metered: false })).files).toBe(0); // 31 s: before max-interval (60 s)
    f.clock.advance(30_000);
    expect((await f.up.tick({ metered: false })).files).toBe(1); // 61 s: due, as without the step
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("the leftovers of a merge interrupted by a crash (output written, inputs not yet removed) are dropped, not merged again (chaos seed 79)", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(1);
    await f.up.tick({ metered: false, explicit: true });
    f.write(4);
    // A spool coalesce that wrote its output and died before removing its inputs.
    const inputs = f.store.spool.list(0).filter((x) => x.minTxid > 1n);
    expect(inputs.length).toBe(4);
    mergeLocalLtx(f.store.spool, { files: inputs, dst: f.store.spool, level: 0 });
    expect(f.store.spool.list(0).length).toBe(6);
    const res = await f.up.tick({ metered: false, explicit: true });
    expect(res.files).toBe(1);
    expect(f.store.spool.list(0).map((x) => [x.minTxid, x.maxTxid])).toEqual([
      [txid(1), txid(1)],
      [txid(2), txid(5)],
    ]);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("offline: batches pile up locally, coalesce past max-bytes, and drain as one PUT", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path, { spool: { maxBytes: 4_000, maxAge: 24 * 3_600_000 } });
    f.write(1);
    await f.up.tick({ metered: false, explicit: true });
    f.client.offline = true;
    let failures = 0;
    for (let round = 0; round < 12; round++) {
      f.write(20);
      f.clock.advance(60_000);
      await f.up.tick({ metered: false }).catch(() => failures++);
    }
    expect(failures).toBe(12);
    const waiting = f.store.replicaDir("r").list(0);
    expect(waiting.length).toBeLessThan(6);
    expect(f.up.stats.coalesced).toBeGreaterThan(0);
    f.client.offline = false;
    const res = await f.up.tick({ metered: false, explicit: true });
    expect(res.files).toBe(waiting.length);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("compaction builds level 1 from local copies, and restore prefers it", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path, { levels: [{ interval: 60_000 }] });
    for (let i = 0; i < 3; i++) {
      f.write(5);
      await f.up.tick({ metered: false, explicit: true });
    }
    f.clock.advance(60_000);
    await f.up.tick({ metered: false });
    const l1 = f.client.writes.filter((k) => k.level === 1);
    // Level 0 starts after the first state's snapshot (issue #13).
    expect(l1.map((k) => [k.minTxid, k.maxTxid])).toEqual([[txid(2), txid(15)]]);
    expect(f.store.replicaDir("r").list(0)).toEqual([]); // consumed by L1
    const plan = await planRestore(f.client, {});
    expect(plan.files.map((x) => x.level)).toEqual([9, 1]);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("a replica added after the spool was pruned gets a snapshot that bridges the gap", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path);
    f.write(3);
    for (const x of f.store.spool.list(0).slice(0, 2)) f.store.spool.remove(x);
    expect((await f.up.tick({ metered: false, explicit: true })).needsSnapshot).toBe(true);
    f.cap.writeLevel9Snapshot();
    f.write(2);
    await f.up.tick({ metered: false, explicit: true });
    const plan = await planRestore(f.client, {});
    expect(plan.files.map((x) => [x.level, x.minTxid, x.maxTxid])).toEqual([
      [9, txid(1), txid(3)],
      [0, txid(4), txid(5)],
    ]);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });
});

describe("Uploader snapshots", () => {
  test("wait for a time window and for an unmetered link, then upload and apply retention", async () => {
    await using dir = await makeTempDir("uploader-");
    const now = new Date();
    const minute = now.getHours() * 60 + now.getMinutes();
    // A one-hour window starting two hours from now.
    const start = (minute + 120) % 1440;
    const windows = [{ start, end: (start + 60) % 1440 }];
    using f = await fixture(dir.path, {
      replica: { upload: POLICY, meteredUpload: METERED, windows, meteredSnapshots: false },
    });
    f.write(2);
    await f.up.tick({ metered: false, explicit: true });
    // The first state is the replica's start: it goes at once, as a
    // snapshot (issue #13), whatever the windows say.
    const snapshots = () => f.client.writes.filter((k) => k.level === 9).map((k) => k.maxTxid);
    expect(snapshots()).toEqual([txid(1)]);
    f.cap.writeLevel9Snapshot();
    await f.up.tick({ metered: false, explicit: true });
    expect(snapshots()).toEqual([txid(1)]);
    f.clock.advance(120 * 60_000 + 60_000);
    await f.up.tick({ metered: true, explicit: true });
    expect(snapshots()).toEqual([txid(1)]);
    await f.up.tick({ metered: false });
    expect(snapshots()).toEqual([txid(1), txid(2)]);
    // Nothing is older than the retention, so every file stays.
    const remaining = [];
    for await (const x of f.client.listLtxFiles(0)) remaining.push(x.maxTxid);
    expect(remaining).toEqual([txid(2)]);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });
});

describe("Uploader.settle", () => {
  test("a missing or short remote copy of a local batch is sent again", async () => {
    await using dir = await makeTempDir("uploader-");
    using f = await fixture(dir.path, { levels: [{ interval: 3_600_000 }] });
    for (let i = 0; i < 3; i++) {
      f.write(1);
      await f.up.tick({ metered: false, explicit: true });
    }
    writeFileSync(join(dir.path, "replica", "ltx", "0", formatLtxFileName(txid(2), txid(2))), new Uint8Array(0));
    const again = newUploader({ client: f.client, store: f.store, levels: [{ interval: 3_600_000 }] });
    expect((await again.settle()).uploaded[0]).toBe(txid(1));
    expect((await again.tick({ metered: false })).files).toBe(2);
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });
});

describe("the second-writer guard (issue #12)", () => {
  test("another writer's file above our position stops uploads before anything of ours lands on it", async () => {
    await using dir = await makeTempDir("uploader-guard-");
    using f = await fixture(dir.path);
    f.store.beginWriterSession();
    f.write(2);
    await f.up.tick({ metered: false, explicit: true });
    // Another device's TXID 3 lands (a copy of our file with another writer ID).
    const ours = f.store.spool.list(0).at(-1);
    const foreign = Buffer.from(readFileSync(f.store.spool.path(ours as never)));
    foreign.writeBigUInt64BE(0x1234_5678_9abc_def0n, 72);
    const raw = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
    await raw.writeLtxFile({ level: 0, minTxid: txid(3), maxTxid: txid(3) }, new Uint8Array(foreign), {
      timestamp: new Date(),
    });
    f.write(1);
    const puts = f.client.writes.length;
    await expect(f.up.tick({ metered: false, explicit: true })).rejects.toThrow(/written by writer [0-9a-f]{16}/);
    expect(f.up.conflict?.hint).toContain("litefleet takeover");
    expect(f.client.writes.length).toBe(puts);
    await expect(f.up.tick({ metered: false, explicit: true })).rejects.toBe(f.up.conflict as never);
  });

  test("a replica state file lost (a full disk, then a crash): the replica's files carry our writer ID, so its history is still ours", async () => {
    await using dir = await makeTempDir("uploader-guard-");
    using f = await fixture(dir.path);
    f.store.beginWriterSession();
    f.write(3);
    await f.up.tick({ metered: false, explicit: true });
    rmSync(join(f.store.replicaDir("r").root, "state.json"));
    f.write(2); // the application goes on while the agent is down
    const store = LocalStore.open(join(dir.path, "state"));
    store.beginWriterSession();
    const again = newUploader({ client: f.client, store });
    await again.settle();
    expect(again.continuationPending).toBe(false);
    expect((await again.tick({ metered: false, explicit: true })).files).toBe(1);
    expect(again.conflict).toBeUndefined();
    expect(await f.restore("r.db")).toBe(imageHash(f.app));
  });

  test("on S3 a round reads no header while the newest file is our last PUT with its ETag, and still stops at another writer's PUT of the same name and size (issue #13)", async () => {
    await using s3 = await startS3Server({ buckets: ["guard"] });
    await using dir = await makeTempDir("uploader-guard-");
    const spec = {
      type: "s3",
      bucket: "guard",
      path: "app",
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    } as const;
    using f = await fixture(dir.path, { inner: new S3ReplicaClient(spec, { env: {}, maxAttempts: 1 }) });
    f.store.beginWriterSession();
    const gets = () => s3.requests.filter((r) => r.kind === "GetObject").length;
    f.write(1);
    await f.up.tick({ metered: false, explicit: true }); // the first state, as a snapshot
    f.write(1);
    await f.up.tick({ metered: false, explicit: true }); // L0 2-2
    const before = { gets: gets(), puts: f.client.writes.length };
    for (let i = 0; i < 3; i++) {
      f.write(1);
      await f.up.tick({ metered: false, explicit: true });
    }
    expect(f.client.writes.length).toBe(before.puts + 3);
    expect(gets()).toBe(before.gets);
    // Another device replaces our newest file (5-5) with its own of the same size.
    const ours = f.store.spool.list(0).at(-1);
    expect(ours?.maxTxid).toBe(txid(5));
    const foreign = Buffer.from(readFileSync(f.store.spool.path(ours as never)));
    foreign.writeBigUInt64BE(0x1234_5678_9abc_def0n, 72);
    await new S3ReplicaClient(spec, { env: {} }).writeLtxFile(ours as never, new Uint8Array(foreign), {
      timestamp: new Date(),
    });
    f.write(1);
    const puts = f.client.writes.length;
    await expect(f.up.tick({ metered: false, explicit: true })).rejects.toThrow(/written by writer 123456789abcdef0/);
    expect(f.client.writes.length).toBe(puts);
  });

  test("a damaged object above our position is not taken for another writer's", async () => {
    await using dir = await makeTempDir("uploader-guard-");
    using f = await fixture(dir.path);
    f.store.beginWriterSession();
    f.write(1);
    await f.up.tick({ metered: false, explicit: true });
    mkdirSync(join(dir.path, "replica", "ltx", "0"), { recursive: true }); // the first state went to level 9
    writeFileSync(join(dir.path, "replica", "ltx", "0", formatLtxFileName(txid(5), txid(5))), new Uint8Array(10));
    f.write(1);
    await f.up.tick({ metered: false, explicit: true });
    expect(f.up.conflict).toBeUndefined();
    expect(f.up.state?.uploaded[0]).toBe(txid(2));
  });
});
