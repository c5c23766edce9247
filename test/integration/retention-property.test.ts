/**
 * Retention is proved, not assumed (issue #11): randomized schedules (seeded
 * PRNG) of application writes, captures, batches, compactions (L1, L2),
 * level-9 snapshots taken at any TXID (also inside a batch), retention runs
 * and wall-clock steps both ways (the monotonic clock keeps running) drive a
 * real capture and two real uploaders, one to a file replica and one to
 * s3rver. After every step, every TXID the docs promise restores from both
 * replicas: the latest uploaded, every batch boundary or snapshot uploaded within
 * `snapshot.retention` of the latest reading of the replica's clock (the
 * device's for a file replica, the storage's for S3), and the newest
 * boundary before that (the state at the window's start). The promised set is derived from
 * the history of uploads the test saw, not from what the bucket still
 * lists, so a deleted file cannot hide a broken promise. At the end each
 * promised TXID is restored and compared byte for byte with the database
 * image recorded when it was captured.
 *
 * LITEFLEET_RETENTION_SEEDS=N runs N seeds (default 6); LITEFLEET_SEED=S starts at S.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { Uploader } from "../../src/agent/uploader.ts";
import type { UploadPolicy } from "../../src/config/schema.ts";
import { nullLogger } from "../../src/log.ts";
import { txid } from "../../src/ltx/txid.ts";
import { SNAPSHOT_LEVEL, type ReplicaClient } from "../../src/replica/client.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { applyRestorePlan } from "../../src/restore/applier.ts";
import { listAllLtxFiles, planRestore } from "../../src/restore/planner.ts";
import { offsetClock } from "../harness/clocks.ts";
import { mulberry32, randomSeed } from "../harness/prng.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { fileHash, imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const SEEDS = Number(process.env["LITEFLEET_RETENTION_SEEDS"] ?? 6);
const STEPS = 60;
const MINUTE = 60_000;
const RETENTION = 60 * MINUTE;
const CAPTURE = { busyTimeoutMs: 2000, minCheckpointPageCount: 40, truncatePageN: 0, checkpointIntervalMs: 3_600_000 };
const POLICY: UploadPolicy = { minInterval: 10_000, maxInterval: 60_000, maxBatchBytes: 16 << 20, bandwidth: 0 };
const LEVELS = [{ interval: 30_000 }, { interval: 5 * MINUTE }];

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server({ buckets: ["ret"] });
});
afterAll(async () => {
  await s3.stop();
});

/**
 * A replica client that records every batch (L0) and snapshot (L9) it
 * stores, the restore points, with the time the replica dates it by: the LTX timestamp (the
 * device's clock) for a file replica, the storage's clock for S3 (read just
 * before the PUT, so never after the object's LastModified).
 */
class RecordingClient {
  readonly boundaries = new Map<bigint, number>();
  #highest = Number.NEGATIVE_INFINITY;
  constructor(
    readonly inner: ReplicaClient,
    readonly clock: () => number,
  ) {}

  /**
   * The latest reading of the replica's clock so far: a clock stepped back
   * does not bring back points that were already past the window.
   */
  now(): number {
    this.#highest = Math.max(this.#highest, this.clock());
    return this.#highest;
  }
  wrap(): ReplicaClient {
    const rec = this.boundaries;
    const inner = this.inner;
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === "writeLtxFile") {
          return async (...args: Parameters<ReplicaClient["writeLtxFile"]>) => {
            const at = inner.storageNow ? Date.now() : args[2].timestamp.getTime();
            const info = await inner.writeLtxFile(...args);
            // Batches and snapshots are restore points; compactions end on a batch's TXID.
            if (args[0].level === 0 || args[0].level === SNAPSHOT_LEVEL)
              rec.set(args[0].maxTxid, Math.min(at, rec.get(args[0].maxTxid) ?? at));
            return info;
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}

/** What the docs promise at wall time `now`, from the uploads seen. */
function promised(boundaries: ReadonlyMap<bigint, number>, now: number): bigint[] {
  const cutoff = now - RETENTION;
  const all = [...boundaries.entries()];
  if (all.length === 0) return [];
  const out = new Set<bigint>([all.reduce((m, [t]) => (t > m ? t : m), 0n)]);
  const before = all.filter(([, at]) => at < cutoff).map(([t]) => t);
  if (before.length > 0) out.add(before.reduce((m, t) => (t > m ? t : m)));
  for (const [t, at] of all) if (at >= cutoff) out.add(t);
  return [...out].sort((a, b) => (a < b ? -1 : 1));
}

async function runSeed(seed: number, dirPath: string) {
  const rand = mulberry32(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  const dbPath = join(dirPath, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
  const clock = offsetClock();
  const store = LocalStore.open(join(dirPath, "state"));
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0), clock });
  const images = new Map<bigint, string>();
  const replicas = [
    new RecordingClient(new FileReplicaClient({ type: "file", path: join(dirPath, "replica") }), () => clock.now()),
    // s3rver runs on this machine's real clock, which the device's steps do not move.
    new RecordingClient(
      new S3ReplicaClient(
        { type: "s3", bucket: "ret", path: `seed-${seed}`, endpoint: s3.endpoint, forcePathStyle: true },
        { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }, maxAttempts: 1 },
      ),
      () => Date.now(),
    ),
  ];
  const uploaders = replicas.map(
    (r, i) =>
      new Uploader({
        name: `r${i}`,
        client: r.wrap(),
        store,
        log: nullLogger(),
        replica: { upload: POLICY, meteredUpload: POLICY, windows: [], meteredSnapshots: true },
        levels: LEVELS,
        snapshotRetentionMs: RETENTION,
        spool: { maxBytes: 1 << 30, maxAge: 24 * 3_600_000 },
        clock,
      }),
  );
  const capture = () => {
    const res = cap.sync();
    if (res) images.set(res.txid, imageHash(app));
  };
  const stats = { snapshots: 0, steps: 0, checked: 0, stepsBack: 0, stepsForward: 0, deleted: 0 };
  const check = async (label: string) => {
    for (const [i, r] of replicas.entries()) {
      const client = r.inner;
      const files = await listAllLtxFiles(client);
      for (const t of promised(r.boundaries, r.now())) {
        const plan = await planRestore(client, { txid: txid(t) }, { files }).catch((err: unknown) => err as Error);
        if (plan instanceof Error) {
          const listing = files.map((f) => `${f.level}:${f.minTxid.toString(16)}-${f.maxTxid.toString(16)}`).join(" ");
          throw new Error(
            `seed ${seed} ${label}: replica ${i} cannot restore promised TXID ${t.toString(16)}: ${plan.message}; replica holds ${listing}`,
          );
        }
        expect(plan.txid).toBe(txid(t));
        stats.checked++;
      }
    }
  };
  try {
    capture();
    for (let step = 0; step < STEPS; step++) {
      const op = pick(20);
      if (op < 9) {
        // Writes: a few commits, each captured (one TXID each).
        for (let n = 1 + pick(4); n > 0; n--) {
          if (pick(5) === 0) app.run("DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 2)");
          else app.run("INSERT INTO t (v) VALUES (randomblob(?))", [200 + pick(3000)]);
          capture();
          clock.advance(1000 + pick(5000));
        }
      } else if (op < 15) {
        clock.advance(pick(4) === 0 ? 5 * MINUTE + pick(20 * MINUTE) : 10_000 + pick(60_000));
      } else if (op < 17) {
        // A snapshot at the current TXID, wherever the batches stand.
        capture();
        if (cap.writeLevel9Snapshot()) stats.snapshots++;
      } else if (op < 18) {
        cap.checkpointIfNeeded();
      } else if (op < 19) {
        stats.stepsBack++;
        clock.step(-(MINUTE + pick(120 * MINUTE)));
      } else {
        stats.stepsForward++;
        clock.step(MINUTE + pick(pick(3) === 0 ? 48 * 60 * MINUTE : 90 * MINUTE));
      }
      // Not every step ends in a tick, so snapshots also land inside batches.
      if (pick(10) < 4) continue;
      for (const u of uploaders) {
        const before = u.stats.deletes;
        const res = await u.tick({ metered: false, explicit: pick(6) === 0 });
        expect(res.needsSnapshot).toBe(false);
        stats.deleted += u.stats.deletes - before;
      }
      stats.steps++;
      await check(`after step ${step} (op ${op})`);
    }
    // Drain, then restore every promised TXID byte for byte from both replicas.
    capture();
    for (const u of uploaders) await u.tick({ metered: false, explicit: true });
    await check("after the final sync");
    for (const [i, r] of replicas.entries()) {
      const files = await listAllLtxFiles(r.inner);
      for (const t of promised(r.boundaries, r.now())) {
        const out = join(dirPath, `restore-${i}-${t.toString(16)}.db`);
        await applyRestorePlan(r.inner, await planRestore(r.inner, { txid: txid(t) }, { files }), { output: out });
        expect(integrityCheck(out)).toBe("ok");
        const want = images.get(t);
        if (fileHash(out) !== want)
          throw new Error(`seed ${seed}: replica ${i} TXID ${t.toString(16)} restored other bytes than captured`);
      }
    }
    return { ...stats, files: await Promise.all(replicas.map(async (r) => (await listAllLtxFiles(r.inner)).length)) };
  } finally {
    cap.close();
    app.close();
  }
}

describe("retention property", () => {
  test(`every promised restore point restores after every step (${SEEDS} seeds, file and S3)`, async () => {
    const first = randomSeed();
    let deleted = 0;
    let snapshots = 0;
    let checked = 0;
    for (let s = first; s < first + SEEDS; s++) {
      await using dir = await makeTempDir("ret-prop-");
      const res = await runSeed(s, dir.path);
      deleted += res.deleted;
      snapshots += res.snapshots;
      checked += res.checked;
    }
    // The schedules exercised what they are for: snapshots, and retention
    // deleting files while every promise held.
    expect(snapshots).toBeGreaterThan(SEEDS);
    expect(deleted).toBeGreaterThan(0);
    expect(checked).toBeGreaterThan(SEEDS * STEPS);
  }, 300_000);
});
