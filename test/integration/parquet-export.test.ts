/**
 * `exportDevice` to an S3 prefix on s3rver: the keys written, objects equal
 * byte for byte to the directory export (which the unit tests read back with
 * DuckDB), and re-export replacing exactly one device's objects, past one
 * listing page.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { exportDevice } from "../../src/aggregate/parquet-export.ts";
import { createParquetSink, type ParquetSink } from "../../src/aggregate/parquet-sink.ts";
import { ReplicaError } from "../../src/errors.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { makeTempDir, type TempDir } from "../harness/temp-dir.ts";

const TABLES = ["readings", "events"];
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

let s3: S3Server;
let raw: S3Client;
let tmp: TempDir;
let central: string;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3Server();
  raw = s3.sdkClient();
  tmp = await makeTempDir("litefleet-parquet-s3-");
  central = join(tmp.path, "central.db");
  const db = new Database(central, { create: true });
  db.exec(`
    CREATE TABLE readings (device_id TEXT NOT NULL, id INTEGER, temp REAL, raw BLOB);
    CREATE TABLE events (device_id TEXT NOT NULL, kind TEXT, _rowid INTEGER);
    INSERT INTO readings VALUES ('a', 1, 20.5, x'00'), ('b', 1, NULL, NULL), ('ab', 1, 1.5, x'ff'), ('a', 2, -3.25, NULL);
    INSERT INTO events VALUES ('a', 'boot', 1), ('ab', 'boot', 1), ('ab', 'alarm', 2);
  `);
  db.close();
});

afterAll(async () => {
  raw.destroy();
  await s3.stop();
  await tmp[Symbol.asyncDispose]();
});

async function freshBucket(): Promise<string> {
  const bucket = `lake-${++buckets}`;
  await s3.createBucket(bucket);
  return bucket;
}

function s3Sink(bucket: string, prefix = "fleet/v1"): ParquetSink {
  return createParquetSink(`s3://${bucket}/${prefix}?endpoint=${s3.endpoint}`, {
    cwd: "/",
    env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: SECRET },
  });
}

async function listKeys(bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await raw.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token === undefined ? {} : { ContinuationToken: token }) }),
    );
    for (const obj of out.Contents ?? []) keys.push(obj.Key ?? "");
    token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

async function getObject(bucket: string, key: string): Promise<Uint8Array> {
  const out = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
}

describe("exportDevice to S3", () => {
  test("exportDevice() writes one object per non-empty table, equal to the directory export", async () => {
    const bucket = await freshBucket();
    const sink = s3Sink(bucket);
    expect(sink.location).toBe(`s3://${bucket}/fleet/v1 (${s3.endpoint})`);
    const dir = join(tmp.path, "lake-1");
    const local = createParquetSink(dir, { cwd: "/", env: {} });

    const results = [];
    for (const device of ["a", "b", "ab"]) {
      const before = s3.requests.length;
      const result = await exportDevice(central, device, TABLES, sink);
      expect(result).toEqual(await exportDevice(central, device, TABLES, local));
      results.push(result);
      const requests = s3.requests.slice(before);
      expect(requests.map((r) => r.kind)).toEqual(["ListObjectsV2", ...Array<string>(result.files).fill("PutObject")]);
      expect(
        requests.filter((r) => r.kind === "PutObject").every((r) => typeof r.headers["content-md5"] === "string"),
      ).toBe(true);
    }
    expect(results.map(({ files, rows }) => ({ files, rows }))).toEqual([
      { files: 2, rows: 3 },
      { files: 1, rows: 1 },
      { files: 2, rows: 3 },
    ]);

    const keys = await listKeys(bucket);
    expect(keys).toEqual([
      "fleet/v1/device_id=a/events/part-00000.parquet",
      "fleet/v1/device_id=a/readings/part-00000.parquet",
      "fleet/v1/device_id=ab/events/part-00000.parquet",
      "fleet/v1/device_id=ab/readings/part-00000.parquet",
      "fleet/v1/device_id=b/readings/part-00000.parquet",
    ]);
    for (const key of keys) {
      const bytes = await getObject(bucket, key);
      expect({ key, bytes }).toEqual({
        key,
        bytes: new Uint8Array(await readFile(join(dir, key.slice("fleet/v1/".length)))),
      });
    }
  });

  test("exportDevice() again deletes that device's objects only, over more than one listing page", async () => {
    const bucket = await freshBucket();
    const sink = s3Sink(bucket);
    for (const device of ["a", "ab"]) await exportDevice(central, device, TABLES, sink);
    // Stale objects of `a` (a dropped table, leftovers) beyond one 1000-key listing page.
    for (let i = 0; i < 1001; i++) {
      await s3.seedObject(
        bucket,
        `fleet/v1/device_id=a/dropped/part-${String(i).padStart(5, "0")}.parquet`,
        new Uint8Array([i & 0xff]),
      );
    }
    await s3.seedObject(bucket, "fleet/v1/device_id=a.parquet", new Uint8Array([1]));
    await s3.seedObject(bucket, "other/device_id=a/readings/part-00000.parquet", new Uint8Array([2]));
    const abBefore = await getObject(bucket, "fleet/v1/device_id=ab/readings/part-00000.parquet");

    const before = s3.requests.length;
    expect(await exportDevice(central, "a", TABLES, sink)).toMatchObject({ files: 2, rows: 3 });

    expect(s3.requests.slice(before).map((r) => r.kind)).toEqual([
      "ListObjectsV2",
      "ListObjectsV2",
      "DeleteObjects",
      "DeleteObjects",
      "PutObject",
      "PutObject",
    ]);
    expect(await listKeys(bucket)).toEqual([
      "fleet/v1/device_id=a.parquet",
      "fleet/v1/device_id=a/events/part-00000.parquet",
      "fleet/v1/device_id=a/readings/part-00000.parquet",
      "fleet/v1/device_id=ab/events/part-00000.parquet",
      "fleet/v1/device_id=ab/readings/part-00000.parquet",
      "other/device_id=a/readings/part-00000.parquet",
    ]);
    expect(await getObject(bucket, "fleet/v1/device_id=ab/readings/part-00000.parquet")).toEqual(abBefore);
  });

  test("exportDevice() to a missing bucket fails naming the bucket, never the secret", async () => {
    const sink = s3Sink("no-such-bucket", "");
    expect(sink.location).toBe(`s3://no-such-bucket (${s3.endpoint})`);
    const err = await exportDevice(central, "a", TABLES, sink).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as ReplicaError).message).toBe(
      "Cannot remove device 'a' from 's3://no-such-bucket': bucket 'no-such-bucket' does not exist",
    );
    expect(JSON.stringify({ ...(err as ReplicaError), message: (err as ReplicaError).message })).not.toContain(SECRET);
  });
});
