/**
 * One candidate of `bun run bench s3-clients`, in a process of its own:
 * `bun bench/s3-clients-child.ts <candidate> <endpoint> <bucket> <key id>
 * <secret> <64 MiB file>` prints one JSON `ChildReport` line. Static
 * imports are node:fs only, so "RSS at start" is the runtime alone.
 *
 * 1. RSS before and after importing the client and constructing it;
 * 2. RSS and VmHWM after 100 × (PUT 1 KiB, GET it, LIST the prefix);
 * 3. VmHWM while uploading the 64 MiB file read as a stream / `ByteSource`
 *    (multipart, 5 MiB parts, two in flight), then while downloading it as
 *    a stream (chunks dropped as they come).
 *
 * VmHWM is reset between phases by writing `5` to `/proc/self/clear_refs`,
 * so each phase's peak is its own.
 *
 * @module
 */

import { createReadStream, readFileSync, writeFileSync } from "node:fs";

/** The candidates, in report order. */
export const CANDIDATES = ["aws-sdk", "bun-s3", "litefleet"] as const;
type Candidate = (typeof CANDIDATES)[number];

const MiB = 1024 * 1024;
/** The size of the large object. */
export const BIG_SIZE = 64 * MiB;
const PART_SIZE = 5 * MiB;
const SMALL_ROUNDS = 100;

/** What one child reports (KiB). */
export interface ChildReport {
  readonly candidate: Candidate;
  readonly baseRssKiB: number;
  readonly importRssKiB: number;
  readonly smallRssKiB: number;
  readonly smallHwmKiB: number;
  readonly uploadHwmKiB: number;
  readonly downloadHwmKiB: number;
  readonly uploadMs: number;
  readonly downloadMs: number;
  readonly downloadedBytes: number;
}

/** The operations each candidate provides to the measuring loop. */
interface ClientUnderTest {
  put(key: string, body: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  list(prefix: string): Promise<number>;
  uploadFile(key: string, path: string, size: number): Promise<void>;
  /** Streams an object, returns its byte count. */
  download(key: string): Promise<number>;
}

interface Target {
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

function memoryKiB(): { rss: number; hwm: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0). */
function resetPeak(): void {
  writeFileSync("/proc/self/clear_refs", "5");
}

async function makeClient(candidate: Candidate, t: Target): Promise<ClientUnderTest> {
  if (candidate === "aws-sdk") {
    const sdk = await import("@aws-sdk/client-s3");
    const { Upload } = await import("@aws-sdk/lib-storage");
    const client = new sdk.S3Client({
      endpoint: t.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    });
    return {
      put: async (Key, Body) => void (await client.send(new sdk.PutObjectCommand({ Bucket: t.bucket, Key, Body }))),
      get: async (Key) =>
        (await client.send(new sdk.GetObjectCommand({ Bucket: t.bucket, Key }))).Body!.transformToByteArray(),
      list: async (Prefix) =>
        (await client.send(new sdk.ListObjectsV2Command({ Bucket: t.bucket, Prefix }))).KeyCount ?? 0,
      uploadFile: async (Key, path) => {
        const upload = new Upload({
          client,
          params: { Bucket: t.bucket, Key, Body: createReadStream(path) },
          partSize: PART_SIZE,
          queueSize: 2,
        });
        await upload.done();
      },
      download: async (Key) => {
        const out = await client.send(new sdk.GetObjectCommand({ Bucket: t.bucket, Key }));
        let n = 0;
        for await (const chunk of out.Body as AsyncIterable<Uint8Array>) n += chunk.byteLength;
        return n;
      },
    };
  }
  if (candidate === "bun-s3") {
    const client = new Bun.S3Client({
      endpoint: t.endpoint,
      bucket: t.bucket,
      region: "us-east-1",
      accessKeyId: t.accessKeyId,
      secretAccessKey: t.secretAccessKey,
    });
    return {
      put: async (key, body) => void (await client.write(key, body)),
      get: async (key) => new Uint8Array(await client.file(key).arrayBuffer()),
      list: async (prefix) => (await client.list({ prefix })).contents?.length ?? 0,
      uploadFile: async (key, path) =>
        void (await client.file(key).write(Bun.file(path), { partSize: PART_SIZE, queueSize: 2 })),
      download: async (key) => {
        let n = 0;
        for await (const chunk of client.file(key).stream()) n += chunk.byteLength;
        return n;
      },
    };
  }
  const { S3ObjectStore } = await import("../src/replica/s3/object-store.ts");
  const { openFileSource } = await import("../src/platform/byte-source.ts");
  const store = new S3ObjectStore(
    {
      type: "s3",
      bucket: t.bucket,
      path: "",
      endpoint: t.endpoint,
      accessKeyId: t.accessKeyId,
      secretAccessKey: t.secretAccessKey,
    },
    { env: {}, partSize: PART_SIZE },
  );
  return {
    put: async (key, body) => {
      await store.put(key, body);
    },
    get: (key) => store.getBytes(key),
    list: async (prefix) => {
      let n = 0;
      for await (const _ of store.list(prefix)) n++;
      return n;
    },
    uploadFile: async (key, path) => {
      await using source = await openFileSource(path);
      await store.put(key, source);
    },
    download: async (key) => {
      let n = 0;
      for await (const chunk of await store.get(key)) n += chunk.byteLength;
      return n;
    },
  };
}

/** The child: measures one candidate and prints its `ChildReport` as JSON. */
async function runChild(candidate: Candidate, t: Target, bigPath: string): Promise<void> {
  Bun.gc(true);
  const baseRssKiB = memoryKiB().rss;
  const client = await makeClient(candidate, t);
  Bun.gc(true);
  const importRssKiB = memoryKiB().rss;
  resetPeak();
  const small = new Uint8Array(1024).fill(7);
  for (let i = 0; i < SMALL_ROUNDS; i++) {
    const key = `${candidate}/small/${String(i).padStart(4, "0")}`;
    await client.put(key, small);
    await client.get(key);
    await client.list(`${candidate}/small/`);
  }
  Bun.gc(true);
  const afterSmall = memoryKiB();
  resetPeak();
  let started = performance.now();
  await client.uploadFile(`${candidate}/big`, bigPath, BIG_SIZE);
  const uploadMs = performance.now() - started;
  const uploadHwmKiB = memoryKiB().hwm;
  Bun.gc(true);
  resetPeak();
  started = performance.now();
  const downloadedBytes = await client.download(`${candidate}/big`);
  const downloadMs = performance.now() - started;
  const downloadHwmKiB = memoryKiB().hwm;
  const report: ChildReport = {
    candidate,
    baseRssKiB,
    importRssKiB,
    smallRssKiB: afterSmall.rss,
    smallHwmKiB: afterSmall.hwm,
    uploadHwmKiB,
    downloadHwmKiB,
    uploadMs,
    downloadMs,
    downloadedBytes,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (import.meta.main) {
  const [candidate, endpoint, bucket, accessKeyId, secretAccessKey, bigPath] = process.argv.slice(2);
  if (!CANDIDATES.includes(candidate as Candidate) || bigPath === undefined)
    throw new Error(`Cannot run child: bad arguments ${process.argv.slice(2).join(" ")}`);
  await runChild(
    candidate as Candidate,
    { endpoint: endpoint!, bucket: bucket!, accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey! },
    bigPath,
  );
}
