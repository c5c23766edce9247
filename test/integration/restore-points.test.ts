/**
 * `restore --txid` of a TXID no plan reaches exactly (issue #12): a TXID
 * inside a batch, or past the end of the replica, is "not a restore point"
 * with the nearest restore points named (TXID and LTX header time), exit 1,
 * and no advice to repair a replica that is fine; a real gap in the chain
 * still says the chain is broken. Against replicas the real capture and
 * uploader wrote (one batch per upload), in a directory and on s3rver.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import { formatTxid, txid } from "../../src/ltx/txid.ts";
import { nullLogger } from "../../src/log.ts";
import type { ReplicaClient } from "../../src/replica/client.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { listAllLtxFiles } from "../../src/restore/planner.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { flush, testUploader } from "../harness/uploader.ts";

/**
 * Replicates a database to `client` in four uploads: TXID 1, the batch
 * 2-4, 5, and the batch 6-7 (several syncs before each upload).
 */
async function writeBatchedReplica(dir: string, client: ReplicaClient): Promise<void> {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  const store = LocalStore.open(join(dir, "state"));
  const cap = DbCapture.open(dbPath, {
    store,
    capture: { busyTimeoutMs: 1000, minCheckpointPageCount: 1000, truncatePageN: 0, checkpointIntervalMs: 60_000 },
    log: nullLogger(),
    floorTxid: txid(0),
  });
  const up = testUploader({ name: "r", client, store });
  try {
    for (const syncs of [1, 3, 1, 2]) {
      for (let i = 0; i < syncs; i++) {
        app.run("INSERT INTO t (v) VALUES (?)", [`row ${i}`]);
        cap.sync();
      }
      await flush(up);
    }
  } finally {
    cap.close();
    app.close();
  }
  const names = (await listAllLtxFiles(client)).map((f) => `${f.level}:${f.minTxid}-${f.maxTxid}`);
  // The first state is the level-9 snapshot 1-1; level 0 continues from 2 (issue #13).
  expect(names.sort()).toEqual(["0:2-4", "0:5-5", "0:6-7", "9:1-1"]);
}

/** `<txid> (<LTX header time>)`, as the messages name a restore point. */
async function point(client: ReplicaClient, id: number): Promise<string> {
  const f = (await listAllLtxFiles(client)).find((x) => x.maxTxid === txid(id));
  if (!f) throw new Error(`no file ends at ${id}`);
  const header = decodeHeader(await client.readLtxFile(f, { offset: 0, size: HEADER_SIZE }), { path: "test" });
  return `${formatTxid(txid(id))} (${new Date(header.timestamp).toISOString()})`;
}

interface Backend {
  readonly client: ReplicaClient;
  /** The replica as `litefleet restore` takes it. */
  readonly source: string;
  readonly env: Record<string, string>;
  [Symbol.asyncDispose](): Promise<void>;
}

const backends: Array<[string, (dir: string) => Promise<Backend>]> = [
  [
    "file replica",
    async (dir) => {
      const path = join(dir, "replica");
      return {
        client: new FileReplicaClient({ type: "file", path }),
        source: path,
        env: {},
        [Symbol.asyncDispose]: async () => {},
      };
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

describe.each(backends)("restore --txid that no plan reaches exactly (issue #12): %s", (_name, makeBackend) => {
  test("inside a batch or past the end: not a restore point, the nearest named; a real gap is still a broken chain", async () => {
    await using dir = await makeTempDir("lf-restore-points-");
    await using backend = await makeBackend(dir.path);
    const { client, source, env } = backend;
    await client.init();
    await writeBatchedReplica(dir.path, client);
    const restore = async (id: string) => {
      const out = join(dir.path, `out-${id}-${Math.random().toString(16).slice(2)}.db`);
      const res = await runCli(["restore", "--txid", id, "-o", out, source], { env });
      return { ...res, wrote: existsSync(out) || existsSync(`${out}.tmp`) };
    };

    // TXID 3 is inside the batch 2-4.
    const inside = await restore("3");
    expect(inside.code).toBe(1);
    expect(inside.wrote).toBe(false);
    expect(inside.stderr).toContain(
      `Cannot restore TXID 0000000000000003 from '${client.location}': it is not a restore point`,
    );
    expect(inside.stderr).toContain(
      "TXIDs 0000000000000002-0000000000000004 were replicated together in one file (level 0)",
    );
    expect(inside.stderr).toContain(
      `the nearest restore points are ${await point(client, 1)} and ${await point(client, 4)}`,
    );
    expect(inside.stderr).not.toMatch(/repair|missing|broken/);
    // The points it names restore.
    expect((await restore("4")).code).toBe(0);

    // Past the end: the latest is 7.
    const past = await restore("20");
    expect(past.code).toBe(1);
    expect(past.wrote).toBe(false);
    expect(past.stderr).toContain("Cannot restore TXID 0000000000000020");
    expect(past.stderr).toContain(
      `it is past the end of the replica; the latest restore point is ${await point(client, 7)}`,
    );
    expect(past.stderr).not.toMatch(/repair|missing|broken/);

    // A real gap: file 5 is lost. TXID 7 is behind it.
    const at4 = await point(client, 4);
    await client.deleteLtxFiles([{ level: 0, minTxid: txid(5), maxTxid: txid(5) }]);
    const gap = await restore("7");
    expect(gap.code).toBe(1);
    expect(gap.wrote).toBe(false);
    expect(gap.stderr).toContain("the chain of files ends at 0000000000000004 (file 0000000000000005 is missing)");
    expect(gap.stderr).toContain(`the nearest restore points are ${at4}`);
    expect(gap.stderr).toContain("repair the replica");
    // Past the end of a broken replica: both said.
    const pastGap = await restore("20");
    expect(pastGap.stderr).toContain(
      `the latest restore point is ${at4}; the chain of files ends there (file 0000000000000005 is missing`,
    );
    expect(pastGap.stderr).toContain("repair the replica");
  }, 60_000);
});
