/**
 * The database checksums beside a replica's NoChecksum files (S3 object
 * metadata, a directory's sidecar), against damage: a missing record, one
 * that does not parse, one that belongs to other bytes (copied from another
 * object, or left behind when another tool rewrote the object) and one that
 * names the bytes but records a wrong state. Restore and verify check what
 * the rule (`effectiveChecksums`) allows, report the rest as unchecked, and
 * fail on what is damaged; never do they trust a record of other bytes.
 * In a directory and on s3rver, with the real capture and uploader.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { ChecksumMismatchError, CorruptFileError } from "../../src/errors.ts";
import { decodeLtxFile } from "../../src/ltx/decoder.ts";
import { encodeLtxFile } from "../../src/ltx/encoder.ts";
import { txid } from "../../src/ltx/txid.ts";
import { nullLogger } from "../../src/log.ts";
import { CHECKSUMS_METADATA, formatChecksumRecord } from "../../src/replica/checksum-record.ts";
import type { LtxFileInfo } from "../../src/replica/client.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import type { LtxReplicaClient } from "../../src/replica/ltx-replica-client.ts";
import { listObjects } from "../../src/replica/object-store.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { applyRestorePlan } from "../../src/restore/applier.ts";
import { planRestore } from "../../src/restore/planner.ts";
import { verifyChain } from "../../src/verify/chain.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { flush, testUploader } from "../harness/uploader.ts";

interface Backend {
  client: LtxReplicaClient;
  source: string;
  env: Record<string, string>;
  /** The path of an object's file (directories only). */
  fileOf?: (key: string) => string;
  [Symbol.asyncDispose](): Promise<void>;
}

const backends: [string, (dir: string) => Promise<Backend>][] = [
  [
    "file replica",
    async (dir) => {
      const path = join(dir, "replica");
      const client = new FileReplicaClient({ type: "file", path });
      return { client, source: path, env: {}, fileOf: (key) => join(path, key), [Symbol.asyncDispose]: async () => {} };
    },
  ],
  [
    "s3 replica (s3rver)",
    async () => {
      const s3 = await startS3Server({ buckets: ["fleet"] });
      const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
      const client = new S3ReplicaClient(
        { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
        { env },
      );
      return {
        client,
        source: `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`,
        env,
        [Symbol.asyncDispose]: () => s3.stop(),
      };
    },
  ],
];

/** A replica of four uploads (the snapshot 1-1, then 2-3, 4-4, 5-6) by the real capture and uploader. */
async function writeReplica(dir: string, b: Backend): Promise<readonly LtxFileInfo[]> {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  const store = LocalStore.open(join(dir, "state"));
  const capture = { busyTimeoutMs: 1000, minCheckpointPageCount: 1000, truncatePageN: 0, checkpointIntervalMs: 60_000 };
  const cap = DbCapture.open(dbPath, { store, capture, log: nullLogger(), floorTxid: txid(0) });
  const up = testUploader({ name: "r", client: b.client, store });
  try {
    for (const syncs of [1, 2, 1, 2]) {
      for (let i = 0; i < syncs; i++) {
        app.run("INSERT INTO t (v) VALUES (?)", [`row ${i} `.repeat(40)]);
        cap.sync();
      }
      await flush(up);
    }
  } finally {
    cap.close();
    app.close();
  }
  return (await planRestore(b.client, {})).files;
}

/** The store key of a file. */
async function keyOf(b: Backend, f: LtxFileInfo): Promise<string> {
  const name = `${f.minTxid.toString(16).padStart(16, "0")}-${f.maxTxid.toString(16).padStart(16, "0")}.ltx`;
  for await (const o of listObjects(b.client.store, "")) if (o.key.endsWith(name)) return o.key;
  throw new Error(`no object for ${name}`);
}

/** Writes `key` again with `bytes` and `metadata` (S3 metadata cannot be edited in place). */
async function rewrite(b: Backend, key: string, bytes: Uint8Array, metadata: Record<string, string>): Promise<void> {
  await b.client.store.put(key, bytes, { metadata });
}

async function restore(b: Backend, out: string) {
  return await applyRestorePlan(b.client, await planRestore(b.client, {}), { output: out });
}

for (const [name, make] of backends) {
  describe(`checksum records (${name})`, () => {
    test("a missing record or one of other bytes is unchecked, a damaged one fails with exit 3, a wrong one is a mismatch", async () => {
      await using dir = await makeTempDir("lf-checksum-record-");
      await using b = await make(dir.path);
      const files = await writeReplica(dir.path, b);
      expect(files.map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`)).toEqual(["9:1-1", "0:2-3", "0:4-4", "0:5-6"]);
      // Whole: every file checked, by restore and by the fast path (its records read by HEAD).
      expect((await restore(b, join(dir.path, "ok.db"))).unchecked).toBe(0);
      const plan = await planRestore(b.client, {});
      expect((await verifyChain(b.client, plan)).unchecked).toBe(0);

      const middle = files[2]!;
      const key = await keyOf(b, middle);
      const bytes = await b.client.readLtxFile(middle);
      const record = (await b.client.statLtxFile(middle)).checksums!;
      const other = (await b.client.statLtxFile(files[3]!)).checksums!;
      const timestamp = { "litestream-timestamp": new Date().toISOString() };

      // Missing (another writer put the object without it): unchecked, said so; the fast path refuses.
      await rewrite(b, key, bytes, timestamp);
      expect((await restore(b, join(dir.path, "missing.db"))).unchecked).toBe(1);
      await expect(verifyChain(b.client, plan)).rejects.toThrow(/no checksum record beside it.*verify --full/);
      expect((await verifyChain(b.client, plan, { allowNoChecksum: true })).unchecked).toBe(1);
      const run = await runCli(["restore", "-o", join(dir.path, "cli.db"), b.source], { env: b.env });
      expect(run.code).toBe(0);
      expect(run.stderr + run.stdout).toContain("1 of 4 files recorded no database checksums");

      // Another object's record: it names other bytes, so it is not trusted.
      await rewrite(b, key, bytes, { ...timestamp, [CHECKSUMS_METADATA]: formatChecksumRecord(other) });
      expect((await restore(b, join(dir.path, "foreign.db"))).unchecked).toBe(1);

      // A record that names these bytes but a wrong state: checked, and it fails.
      const wrong = formatChecksumRecord({ ...record, postApply: record.postApply ^ 1n });
      await rewrite(b, key, bytes, { ...timestamp, [CHECKSUMS_METADATA]: wrong });
      await expect(restore(b, join(dir.path, "wrong.db"))).rejects.toBeInstanceOf(ChecksumMismatchError);
      // The same through files fetched ahead (--parallelism, the CLI's default 8): the record comes along.
      await expect(
        applyRestorePlan(b.client, await planRestore(b.client, {}), {
          output: join(dir.path, "wrong-ahead.db"),
          parallelism: 8,
        }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect((await runCli(["restore", "-o", join(dir.path, "wrong-cli.db"), b.source], { env: b.env })).code).toBe(3);
      await expect(verifyChain(b.client, plan)).rejects.toBeInstanceOf(ChecksumMismatchError);

      // A record that does not parse: a damaged object, exit 3, never skipped.
      await rewrite(b, key, bytes, { ...timestamp, [CHECKSUMS_METADATA]: "v1 pre=zz" });
      const err = await restore(b, join(dir.path, "damaged.db")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptFileError);
      expect((err as Error).message).toContain(`its metadata '${CHECKSUMS_METADATA}' is 'v1 pre=zz'`);
      expect((err as Error).message).toContain("0000000000000004-0000000000000004.ltx");
      const damaged = await runCli(["restore", "-o", join(dir.path, "cli2.db"), b.source], { env: b.env });
      expect(damaged.code).toBe(3);

      // Put back as it was: checked again.
      await rewrite(b, key, bytes, { ...timestamp, [CHECKSUMS_METADATA]: formatChecksumRecord(record) });
      expect((await restore(b, join(dir.path, "back.db"))).unchecked).toBe(0);

      if (b.fileOf !== undefined) {
        // Another tool rewrites the file with other bytes and leaves the sidecar: unchecked, not trusted.
        const file = decodeLtxFile(bytes, { path: key });
        const pages = file.pageNumbers.map((pgno) => ({ pgno, data: file.page(pgno) }));
        writeFileSync(
          b.fileOf(key),
          encodeLtxFile(
            { ...file.header, timestamp: file.header.timestamp + 1 },
            pages,
            file.trailer.postApplyChecksum,
          ),
        );
        expect(readFileSync(`${b.fileOf(key)}.meta.json`, "utf8")).toContain(formatChecksumRecord(record));
        expect((await restore(b, join(dir.path, "stale.db"))).unchecked).toBe(1);
      }
    }, 60_000);
  });
}
