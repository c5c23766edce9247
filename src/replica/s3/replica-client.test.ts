import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { NotFoundError, ReplicaError } from "../../errors.ts";
import { txid } from "../../ltx/txid.ts";
import { startS3Server, type S3Server } from "../../../test/harness/s3-server.ts";
import { startTcpProxy, type ChunkArrival, type TcpProxy } from "../../../test/harness/tcp-proxy.ts";
import { offsetClock } from "../../../test/harness/clocks.ts";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import type { LtxFileKey } from "../client.ts";
import { S3ReplicaClient, type S3ReplicaClientOptions } from "./replica-client.ts";
import type { S3ReplicaSpec } from "../spec.ts";
import { ByteThrottle } from "../throttle.ts";

const TIMESTAMP = new Date("2024-05-06T07:08:09.123Z");
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const UNKNOWN_KEY_ID = "AKIAIOSFODNN7EXAMPLE";

let s3: S3Server;
let raw: S3Client;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3Server();
  raw = s3.sdkClient();
});

afterAll(async () => {
  raw.destroy();
  await s3.stop();
});

async function freshBucket(): Promise<string> {
  const bucket = `unit-${++buckets}`;
  await s3.createBucket(bucket);
  return bucket;
}

function makeClient(
  spec: Partial<S3ReplicaSpec> & { bucket: string },
  options: Partial<S3ReplicaClientOptions> = {},
): S3ReplicaClient {
  return new S3ReplicaClient(
    {
      type: "s3",
      path: "app/db",
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      ...spec,
    },
    { env: {}, maxAttempts: 1, ...options },
  );
}

function key(level: number, min: number, max: number): LtxFileKey {
  return { level, minTxid: txid(min), maxTxid: txid(max) };
}

async function objectKeys(bucket: string): Promise<string[]> {
  const out = await raw.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
}

/** Counts the requests of each kind made while `run` executes. */
async function countRequests(run: () => Promise<unknown>): Promise<Record<string, number>> {
  const start = s3.requests.length;
  await run();
  const counts: Record<string, number> = {};
  for (const r of s3.requests.slice(start)) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  return counts;
}

/** Every string an operator could see for an error: message, hint, causes. */
function visibleText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    parts.push(e.message, e instanceof ReplicaError ? (e.hint ?? "") : "");
  }
  return parts.join("\n");
}

/** A real HTTP server that answers every request with the same S3 error. */
function s3ErrorServer(status: number, code: string): ReturnType<typeof Bun.serve> {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>Refused by test server</Message><RequestId>1</RequestId></Error>`;
  return Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) =>
      new Response(req.method === "HEAD" ? null : body, { status, headers: { "content-type": "application/xml" } }),
  });
}

describe("S3ReplicaClient", () => {
  test("writeLtxFile() stores objects at <prefix>/<level %04x>/<min>-<max>.ltx", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    await client.writeLtxFile(key(0, 7, 7), new Uint8Array([1]), { timestamp: TIMESTAMP });
    await client.writeLtxFile(key(9, 1, 0xa3), new Uint8Array([2]), { timestamp: TIMESTAMP });
    await client.writeLtxFile(key(2, 0x10, 0xff), new Uint8Array([3]), { timestamp: TIMESTAMP });
    expect(await objectKeys(bucket)).toEqual([
      "app/db/0000/0000000000000007-0000000000000007.ltx",
      "app/db/0002/0000000000000010-00000000000000ff.ltx",
      "app/db/0009/0000000000000001-00000000000000a3.ltx",
    ]);
  });

  test("writeLtxFile() stores keys without a leading slash when the prefix is empty", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket, path: "" });
    await client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP });
    expect(await objectKeys(bucket)).toEqual(["0000/0000000000000001-0000000000000001.ltx"]);
  });

  test("writeLtxFile() ignores leading and trailing slashes in the prefix", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket, path: "/app/db/" });
    await client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP });
    expect(await objectKeys(bucket)).toEqual(["app/db/0000/0000000000000001-0000000000000001.ltx"]);
  });

  test("writeLtxFile() sets metadata litestream-timestamp and Content-MD5", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const body = new Uint8Array([1, 2, 3, 4, 5]);
    const start = s3.requests.length;
    await client.writeLtxFile(key(0, 3, 3), body, { timestamp: TIMESTAMP });
    const put = s3.requests.slice(start).find((r) => r.kind === "PutObject");
    expect(put?.headers["content-md5"]).toBe(createHash("md5").update(body).digest("base64"));
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "app/db/0000/0000000000000003-0000000000000003.ltx" }),
    );
    expect(head.Metadata).toEqual({ "litestream-timestamp": "2024-05-06T07:08:09.123Z" });
    expect(head.ContentLength).toBe(5);
  });

  test("writeLtxFile() uses one PutObject up to partSize and a multipart upload above it", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const partSize = 5 * 1024 * 1024;
    expect(
      await countRequests(() => client.writeLtxFile(key(9, 1, 2), new Uint8Array(partSize), { timestamp: TIMESTAMP })),
    ).toEqual({ PutObject: 1 });
    const big = new Uint8Array(12 * 1024 * 1024).fill(7);
    expect(await countRequests(() => client.writeLtxFile(key(9, 1, 3), big, { timestamp: TIMESTAMP }))).toEqual({
      CreateMultipartUpload: 1,
      UploadPart: 3,
      CompleteMultipartUpload: 1,
    });
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "app/db/0009/0000000000000001-0000000000000003.ltx" }),
    );
    expect(head.Metadata).toEqual({ "litestream-timestamp": "2024-05-06T07:08:09.123Z" });
    expect(head.ContentLength).toBe(big.byteLength);
  });

  test("listLtxFiles() paginates and deleteLtxFiles() batches by 1000 keys", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const keys = Array.from({ length: 1003 }, (_, i) => key(0, i + 1, i + 1));
    // Seeded straight into the store: 1003 PUTs take twice as long.
    await Promise.all(
      keys.map((k) => {
        const name = `${k.minTxid.toString(16).padStart(16, "0")}-${k.maxTxid.toString(16).padStart(16, "0")}.ltx`;
        return s3.seedObject(bucket, `app/db/0000/${name}`, new Uint8Array([1]));
      }),
    );
    const listed: LtxFileKey[] = [];
    const listCounts = await countRequests(async () => {
      for await (const info of client.listLtxFiles(0))
        listed.push({ level: 0, minTxid: info.minTxid, maxTxid: info.maxTxid });
    });
    expect(listed).toEqual(keys);
    expect(listCounts).toEqual({ ListObjectsV2: 2 });

    const sought: bigint[] = [];
    for await (const info of client.listLtxFiles(0, { seek: txid(1000) })) sought.push(info.minTxid);
    expect(sought).toEqual([1000n, 1001n, 1002n, 1003n]);

    expect(await countRequests(() => client.deleteLtxFiles(keys))).toEqual({ DeleteObjects: 2 });
    expect(await objectKeys(bucket)).toEqual([]);
  }, 30_000); // Seeding 1003 objects takes seconds on a loaded machine.

  test("deleteAll() leaves objects outside the level directories alone", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: "app/db/generations/x", Body: "v0.3" }));
    await raw.send(
      new PutObjectCommand({ Bucket: bucket, Key: "other/0000/0000000000000001-0000000000000001.ltx", Body: "x" }),
    );
    await client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP });
    await client.writeLtxFile(key(9, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP });
    await client.deleteAll();
    expect(await objectKeys(bucket)).toEqual([
      "app/db/generations/x",
      "other/0000/0000000000000001-0000000000000001.ltx",
    ]);
  });

  test("readLtxFile() throws NotFoundError whose path is the object key", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const err = await client.readLtxFile(key(1, 2, 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({
      path: "app/db/0001/0000000000000002-0000000000000003.ltx",
      message:
        "Cannot read 'app/db/0001/0000000000000002-0000000000000003.ltx' from replica 's3://" +
        `${bucket}/app/db': object 'app/db/0001/0000000000000002-0000000000000003.ltx' does not exist`,
    });
  });

  test("init() succeeds for an existing bucket", async () => {
    const bucket = await freshBucket();
    await makeClient({ bucket }).init();
  });

  test("init() throws ReplicaError naming the bucket when it does not exist", async () => {
    const client = makeClient({ bucket: "no-such-bucket" });
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect(err).toMatchObject({
      message: "Cannot open replica 's3://no-such-bucket/app/db': bucket 'no-such-bucket' does not exist",
      replica: `s3://no-such-bucket/app/db (${s3.endpoint})`,
    });
    expect((err as ReplicaError).hint).toContain("Create the bucket 'no-such-bucket'");
  });

  test("every operation maps a missing bucket to ReplicaError", async () => {
    const client = makeClient({ bucket: "no-such-bucket" });
    const ops: [string, () => Promise<unknown>][] = [
      [
        "list",
        async () => {
          for await (const _ of client.listLtxFiles(0)) void _;
        },
      ],
      ["read", () => client.readLtxFile(key(0, 1, 1))],
      ["write", () => client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP })],
      ["delete", () => client.deleteLtxFiles([key(0, 1, 1)])],
    ];
    for (const [name, op] of ops) {
      const err = await op().catch((e: unknown) => e);
      expect([name, err]).toEqual([name, expect.any(ReplicaError)]);
      expect((err as Error).message).toEndWith(": bucket 'no-such-bucket' does not exist");
    }
  });

  test("init() throws ReplicaError for an unknown access key without showing the secret", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket, accessKeyId: UNKNOWN_KEY_ID, secretAccessKey: SECRET });
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toBe(
      `Cannot open replica 's3://${bucket}/app/db': access to bucket '${bucket}' was denied ` +
        "(InvalidAccessKeyId) for access key 'AKIA…PLE' from the replica config",
    );
    expect((err as ReplicaError).hint).toContain("LITEFLEET_ACCESS_KEY_ID");
    const text = visibleText(err);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(UNKNOWN_KEY_ID);
  });

  test("credentials come from LITEFLEET_* before AWS_* in env", async () => {
    const bucket = await freshBucket();
    const fromLitefleet = new S3ReplicaClient(
      { type: "s3", bucket, path: "app", endpoint: s3.endpoint },
      {
        env: {
          LITEFLEET_ACCESS_KEY_ID: UNKNOWN_KEY_ID,
          LITEFLEET_SECRET_ACCESS_KEY: SECRET,
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        },
        maxAttempts: 1,
      },
    );
    await expect(fromLitefleet.init()).rejects.toThrow("for access key 'AKIA…PLE' from LITEFLEET_ACCESS_KEY_ID");
    const fromAws = new S3ReplicaClient(
      { type: "s3", bucket, path: "app", endpoint: s3.endpoint },
      { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }, maxAttempts: 1 },
    );
    await fromAws.init();
  });

  test("credentials come from the AWS shared files of AWS_PROFILE when config and env have none", async () => {
    const bucket = await freshBucket();
    await using dir = await makeTempDir("litefleet-aws-");
    const file = join(dir.path, "credentials");
    await Bun.write(
      file,
      `[other]\naws_access_key_id = ${UNKNOWN_KEY_ID}\naws_secret_access_key = ${SECRET}\n[s3rver]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`,
    );
    const spec = { type: "s3", bucket, path: "app", endpoint: s3.endpoint } as const;
    const env = { AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(dir.path, "none"), HOME: dir.path };
    await new S3ReplicaClient(spec, { env: { ...env, AWS_PROFILE: "s3rver" }, maxAttempts: 1 }).init();
    const denied = await new S3ReplicaClient(spec, { env: { ...env, AWS_PROFILE: "other" }, maxAttempts: 1 })
      .init()
      .catch((e: unknown) => e);
    expect((denied as Error).message).toContain(`for access key 'AKIA…PLE' from ${file} (profile 'other')`);
    expect(visibleText(denied)).not.toContain(SECRET);
    const none = await new S3ReplicaClient(spec, { env: { ...env, AWS_PROFILE: "missing" }, maxAttempts: 1 })
      .init()
      .catch((e: unknown) => e);
    expect(none).toBeInstanceOf(ReplicaError);
    expect((none as Error).message).toBe(`Cannot open replica 's3://${bucket}/app': no S3 credentials were found`);
  });

  test("the constructor rejects half a credential pair with ReplicaError", () => {
    expect(
      () => new S3ReplicaClient({ type: "s3", bucket: "b", path: "" }, { env: { LITEFLEET_ACCESS_KEY_ID: "AKIAX" } }),
    ).toThrow(ReplicaError);
  });

  test.each([
    [403, "SignatureDoesNotMatch"],
    [403, "AccessDenied"],
    [403, "InvalidAccessKeyId"],
  ])("every operation maps HTTP %d %s to ReplicaError without the secret", async (status, code) => {
    using server = s3ErrorServer(status, code);
    const client = new S3ReplicaClient(
      { type: "s3", bucket: "bkt", path: "app", endpoint: `http://127.0.0.1:${server.port}` },
      { env: { AWS_ACCESS_KEY_ID: UNKNOWN_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET }, maxAttempts: 1 },
    );
    const ops: [string, () => Promise<unknown>][] = [
      ["init", () => client.init()],
      [
        "list",
        async () => {
          for await (const _ of client.listLtxFiles(0)) void _;
        },
      ],
      ["read", () => client.readLtxFile(key(0, 1, 1))],
      ["write", () => client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP })],
      ["delete", () => client.deleteLtxFiles([key(0, 1, 1)])],
    ];
    for (const [name, op] of ops) {
      const err = await op().catch((e: unknown) => e);
      expect([name, err]).toEqual([name, expect.any(ReplicaError)]);
      expect((err as Error).message).toContain(
        `access to bucket 'bkt' was denied (${code}) for access key 'AKIA…PLE' from AWS_ACCESS_KEY_ID`,
      );
      expect(visibleText(err)).not.toContain(SECRET);
    }
  });

  test("init() maps a bucket in another region to ReplicaError with a region hint", async () => {
    using server = s3ErrorServer(301, "PermanentRedirect");
    const client = makeClient({ bucket: "bkt", endpoint: `http://127.0.0.1:${server.port}`, region: "eu-west-1" });
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toBe(
      "Cannot open replica 's3://bkt/app/db': bucket 'bkt' is not in region 'eu-west-1' (PermanentRedirect)",
    );
  });

  test("init() throws ReplicaError naming the endpoint when the connection is refused", async () => {
    // A port that was just free: start a server on port 0 and stop it.
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const endpoint = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const client = makeClient({ bucket: "bkt", endpoint });
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toBe(
      `Cannot open replica 's3://bkt/app/db': endpoint '${endpoint}' is unreachable (ECONNREFUSED)`,
    );
    expect((err as ReplicaError).hint).toContain(endpoint);
  });

  test("init() throws ReplicaError after requestTimeoutMs when the endpoint never answers", async () => {
    using server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Promise<Response>(() => {}) });
    const endpoint = `http://127.0.0.1:${server.port}`;
    const client = makeClient({ bucket: "bkt", endpoint }, { requestTimeoutMs: 100 });
    await expect(client.init()).rejects.toThrow(`endpoint '${endpoint}' is unreachable`);
  });

  test("a response body that stalls and a PUT never answered time out, while a slow steady upload does not (issue #11)", async () => {
    let hold = false;
    using server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        if (req.method === "GET") {
          // Headers and a first chunk, then nothing.
          const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(10)) });
          return new Response(body, { headers: { "content-length": "200" } });
        }
        if (hold) return new Promise<Response>(() => {});
        await req.arrayBuffer();
        return new Response("");
      },
    });
    const client = makeClient(
      { bucket: "bkt", endpoint: `http://127.0.0.1:${server.port}` },
      { requestTimeoutMs: 300 },
    );
    const started = performance.now();
    await expect(client.readLtxFile(key(0, 1, 1))).rejects.toThrow();
    hold = true;
    await expect(client.writeLtxFile(key(0, 2, 2), new Uint8Array(100), { timestamp: new Date(0) })).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(10_000);
    // 64 KiB paced at 32 KiB/s takes about 2 s: longer than the idle timeout, never idle that long.
    hold = false;
    const slow = makeClient({ bucket: "bkt", endpoint: `http://127.0.0.1:${server.port}` }, { requestTimeoutMs: 1000 });
    const throttle = new ByteThrottle({ bytesPerSecond: 32 * 1024 });
    await slow.writeLtxFile(key(0, 3, 3), new Uint8Array(64 * 1024), { timestamp: new Date(0), throttle });
  });

  test.skipIf(Bun.which("openssl") === null)("skipVerify accepts a self-signed certificate", async () => {
    await using dir = await makeTempDir("litefleet-tls-");
    const keyPath = join(dir.path, "key.pem");
    const certPath = join(dir.path, "cert.pem");
    const gen = Bun.spawnSync(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        keyPath,
        "-out",
        certPath,
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      { stderr: "pipe" },
    );
    expect(gen.exitCode).toBe(0);
    const listing =
      '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      "<Name>bkt</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";
    using server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: { key: Bun.file(keyPath), cert: Bun.file(certPath) },
      fetch: () => new Response(listing, { headers: { "content-type": "application/xml" } }),
    });
    const endpoint = `https://127.0.0.1:${server.port}`;
    await expect(makeClient({ bucket: "bkt", endpoint }).init()).rejects.toThrow(
      `the TLS certificate of endpoint '${endpoint}' is not trusted`,
    );
    await makeClient({ bucket: "bkt", endpoint, skipVerify: true }).init();
  });

  test("location names the bucket, prefix and endpoint without credentials", () => {
    expect(new S3ReplicaClient({ type: "s3", bucket: "b", path: "x/y" }, { env: {} }).location).toBe("s3://b/x/y");
    expect(new S3ReplicaClient({ type: "s3", bucket: "b", path: "" }, { env: {} }).location).toBe("s3://b");
    const client = new S3ReplicaClient(
      {
        type: "s3",
        bucket: "b",
        path: "x",
        endpoint: "http://user:pass@minio:9000",
        accessKeyId: "AK",
        secretAccessKey: SECRET,
      },
      { env: {} },
    );
    expect(client.location).toBe("s3://b/x (http://minio:9000/)");
  });

  test("the constructor rejects out-of-range options with RangeError", () => {
    const spec = { type: "s3", bucket: "b", path: "" } as const;
    expect(() => new S3ReplicaClient(spec, { env: {}, partSize: 5 * 1024 * 1024 - 1 })).toThrow(RangeError);
    expect(() => new S3ReplicaClient(spec, { env: {}, maxAttempts: 1.5 })).toThrow(RangeError);
    expect(() => new S3ReplicaClient(spec, { env: {}, requestTimeoutMs: -1 })).toThrow(RangeError);
  });
});

/** A proxy in front of the test's s3rver, to watch and break the wire. */
function proxyToS3(onData?: (bytes: number) => void): Promise<TcpProxy> {
  const { hostname, port } = new URL(s3.endpoint);
  return startTcpProxy({ target: { host: hostname, port: Number(port) }, ...(onData === undefined ? {} : { onData }) });
}

/** The most client bytes that arrived within any `windowMs` span. */
function peakBytes(history: readonly ChunkArrival[], windowMs: number): number {
  let peak = 0;
  let sum = 0;
  let first = 0;
  for (const arrival of history) {
    sum += arrival.bytes;
    while ((history[first]?.time ?? arrival.time) < arrival.time - windowMs) sum -= history[first++]?.bytes ?? 0;
    peak = Math.max(peak, sum);
  }
  return peak;
}

/** Deterministic bytes that differ per seed. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >>> 8)) & 0xff);
}

const KiB = 1024;
const MiB = 1024 * 1024;

describe("S3ReplicaClient with a throttle", () => {
  test("writeLtxFile() streams one PutObject with Content-Length and Content-MD5 at the paced rate", async () => {
    const bucket = await freshBucket();
    await using proxy = await proxyToS3();
    const client = makeClient({ bucket, endpoint: proxy.endpoint });
    const body = pattern(768 * KiB, 1);
    const throttle = new ByteThrottle({ bytesPerSecond: 1 * MiB, burstBytes: 64 * KiB });
    const counts = await countRequests(() =>
      client.writeLtxFile(key(0, 1, 1), body, { timestamp: TIMESTAMP, throttle }),
    );
    expect(counts).toEqual({ PutObject: 1 });
    const put = s3.requests.filter((r) => r.kind === "PutObject").at(-1);
    expect(put?.headers["content-length"]).toBe(String(body.byteLength));
    expect(put?.headers["content-md5"]).toBe(createHash("md5").update(body).digest("base64"));
    // 768 KiB at 1 MiB/s from an empty bucket: 0.75 s on the wire, and never
    // more than rate × window + burst at once, give or take a chunk, the
    // headers and 50 ms of timer jitter (unpaced, it would all be one window).
    const times = proxy.history.map((a) => a.time);
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(650);
    expect(peakBytes(proxy.history, 200)).toBeLessThanOrEqual(1 * MiB * (0.2 + 0.05) + 64 * KiB + 16 * KiB + 2 * KiB);
    expect(await client.readLtxFile(key(0, 1, 1))).toEqual(body);
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "app/db/0000/0000000000000001-0000000000000001.ltx" }),
    );
    expect(head.Metadata).toEqual({ "litestream-timestamp": "2024-05-06T07:08:09.123Z" });
  });

  test("writeLtxFile() sends multipart parts one at a time, each paced and with Content-MD5", async () => {
    const bucket = await freshBucket();
    await using proxy = await proxyToS3();
    const client = makeClient({ bucket, endpoint: proxy.endpoint });
    const body = pattern(6 * MiB, 2);
    const throttle = new ByteThrottle({ bytesPerSecond: 8 * MiB, burstBytes: 64 * KiB });
    const start = s3.requests.length;
    const counts = await countRequests(() =>
      client.writeLtxFile(key(9, 1, 2), body, { timestamp: TIMESTAMP, throttle }),
    );
    expect(counts).toEqual({ CreateMultipartUpload: 1, UploadPart: 2, CompleteMultipartUpload: 1 });
    const parts = s3.requests.slice(start).filter((r) => r.kind === "UploadPart");
    expect(parts.map((r) => r.headers["content-md5"])).toEqual([
      createHash("md5")
        .update(body.subarray(0, 5 * MiB))
        .digest("base64"),
      createHash("md5")
        .update(body.subarray(5 * MiB))
        .digest("base64"),
    ]);
    // A 5 MiB part buffered at the paced rate and then sent at line rate
    // would put 5 MiB into one window; paced parts stay near rate × window
    // + burst (2 MiB + 64 KiB), give or take 50 ms of timer jitter.
    expect(peakBytes(proxy.history, 250)).toBeLessThanOrEqual(8 * MiB * (0.25 + 0.05) + 64 * KiB + 16 * KiB + 4 * KiB);
    expect(await client.readLtxFile(key(9, 1, 2))).toEqual(body);
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "app/db/0009/0000000000000001-0000000000000002.ltx" }),
    );
    expect(head.Metadata).toEqual({ "litestream-timestamp": "2024-05-06T07:08:09.123Z" });
  });

  test("writeLtxFile() aborted during a paced multipart upload aborts the upload and stores nothing", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const body = pattern(6 * MiB, 6);
    const controller = new AbortController();
    let taken = 0;
    // Aborts in the second part.
    const throttle = new (class extends ByteThrottle {
      override take(n: number, o?: { signal?: AbortSignal }): Promise<void> {
        taken += n;
        if (taken > 5.5 * MiB) controller.abort();
        return super.take(n, o);
      }
    })({ bytesPerSecond: 32 * MiB });
    let failure: unknown;
    const counts = await countRequests(() =>
      client
        .writeLtxFile(key(9, 1, 3), body, { timestamp: TIMESTAMP, throttle, signal: controller.signal })
        .catch((e: unknown) => {
          failure = e;
        }),
    );
    expect(failure).toMatchObject({ name: "AbortError" });
    expect(counts).toEqual({ CreateMultipartUpload: 1, UploadPart: 2, AbortMultipartUpload: 1 });
    expect(await objectKeys(bucket)).toEqual([]);
  });

  test("writeLtxFile() retries a paced PutObject with the whole body after a connection reset mid-body", async () => {
    const bucket = await freshBucket();
    let proxy: TcpProxy | undefined;
    let cuts = 0;
    await using p = await proxyToS3(() => {
      // Reset the link once, a third of the way into the body.
      if (cuts === 0 && (proxy?.bytesToTarget ?? 0) > 256 * KiB) {
        cuts++;
        proxy?.cut();
        proxy?.resume();
      }
    });
    proxy = p;
    const client = makeClient({ bucket, endpoint: p.endpoint }, { maxAttempts: 3 });
    const body = pattern(768 * KiB, 3);
    const throttle = new ByteThrottle({ bytesPerSecond: 4 * MiB });
    const counts = await countRequests(() =>
      client.writeLtxFile(key(0, 2, 2), body, { timestamp: TIMESTAMP, throttle }),
    );
    expect(cuts).toBe(1);
    expect(counts).toEqual({ PutObject: 2 });
    expect(await client.readLtxFile(key(0, 2, 2))).toEqual(body);
  });

  test("writeLtxFile() aborted mid-body: s3rver keeps the partial body in place of the old object", async () => {
    // Real S3 stores nothing for an interrupted PutObject (Content-Length
    // and Content-MD5 do not match) and keeps the previous version. s3rver
    // writes the body straight into the object file and verifies neither,
    // so the bytes received before the reset replace the object (the old
    // metadata stays). See test/harness/s3-server.ts; the agent re-sends
    // files whose remote size differs from the local copy.
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const k = key(0, 3, 3);
    const old = pattern(1 * MiB, 4);
    await client.writeLtxFile(k, old, { timestamp: TIMESTAMP });
    const body = pattern(1 * MiB, 5);
    const controller = new AbortController();
    let taken = 0;
    const throttle = new (class extends ByteThrottle {
      override take(n: number, o?: { signal?: AbortSignal }): Promise<void> {
        taken += n;
        if (taken > 256 * KiB) controller.abort();
        return super.take(n, o);
      }
    })({ bytesPerSecond: 4 * MiB });
    await expect(
      client.writeLtxFile(k, body, { timestamp: TIMESTAMP, throttle, signal: controller.signal }),
    ).rejects.toMatchObject({ name: "AbortError" });
    // s3rver finishes writing the partial file after the client has given up.
    let stored = await client.readLtxFile(k);
    for (let i = 0; i < 100 && stored.byteLength === old.byteLength; i++) {
      await Bun.sleep(10);
      stored = await client.readLtxFile(k);
    }
    expect(stored.byteLength).toBeGreaterThan(0);
    expect(stored.byteLength).toBeLessThan(body.byteLength);
    expect(stored).toEqual(body.subarray(0, stored.byteLength));
  });
});

describe("S3ReplicaClient.listAllLevels", () => {
  test("OK: one listing returns what the per-level listings return, and skips other keys", async () => {
    const bucket = await freshBucket();
    const client = makeClient({ bucket });
    const body = new Uint8Array([1, 2, 3]);
    for (const k of [key(0, 1, 1), key(0, 2, 3), key(1, 1, 3), key(9, 1, 3)])
      await client.writeLtxFile(k, body, { timestamp: new Date(0) });
    await s3.seedObject(bucket, "app/db/generations/0123456789abcdef/snapshots/00000000.snapshot.lz4", body);
    await s3.seedObject(bucket, "app/db/0000/not-an-ltx-name", body);
    await s3.seedObject(bucket, "app/db/000a/0000000000000001-0000000000000001.ltx", body);
    const perLevel: string[] = [];
    for (let level = 0; level <= 9; level++)
      for await (const f of client.listLtxFiles(level)) perLevel.push(`${f.level}/${f.minTxid}-${f.maxTxid}/${f.size}`);
    const all: string[] = [];
    const counts = await countRequests(async () => {
      for await (const f of client.listAllLevels()) all.push(`${f.level}/${f.minTxid}-${f.maxTxid}/${f.size}`);
    });
    expect(all.sort()).toEqual(perLevel.sort());
    expect(all).toHaveLength(4);
    expect(counts).toEqual({ ListObjectsV2: 1 });
  });
});

describe("S3ReplicaClient with the device's clock far off (no RTC, NTP not yet answered)", () => {
  for (const [name, stepMs] of [
    ["a day ahead", 86_400_000],
    ["an hour behind", -3_600_000],
  ] as const) {
    test(`${name}: requests are signed on the storage's clock after one refusal, and on ours again once it is set`, async () => {
      const bucket = await freshBucket();
      const clock = offsetClock();
      clock.step(stepMs);
      const client = makeClient({ bucket }, { clock, maxAttempts: 3 });
      // The first request is refused (RequestTimeTooSkewed) and retried on the storage's clock.
      await client.writeLtxFile(key(0, 1, 1), new Uint8Array([1, 2, 3]), { timestamp: TIMESTAMP });
      expect(await client.readLtxFile(key(0, 1, 1))).toEqual(new Uint8Array([1, 2, 3]));
      expect((await Array.fromAsync(client.listLtxFiles(0))).map((f) => f.maxTxid)).toEqual([txid(1)]);
      // NTP steps the clock back to the truth: signing follows it.
      clock.step(-stepMs);
      await client.writeLtxFile(key(0, 2, 2), new Uint8Array([4]), { timestamp: TIMESTAMP });
      expect((await Array.fromAsync(client.listLtxFiles(0))).map((f) => f.maxTxid)).toEqual([txid(1), txid(2)]);
    });
  }

  test("with a single attempt the refusal is reported, naming the clock", async () => {
    const bucket = await freshBucket();
    const clock = offsetClock();
    clock.step(86_400_000);
    const client = makeClient({ bucket }, { clock, maxAttempts: 1 });
    await expect(client.writeLtxFile(key(0, 1, 1), new Uint8Array([1]), { timestamp: TIMESTAMP })).rejects.toThrow(
      "RequestTimeTooSkewed",
    );
  });
});
