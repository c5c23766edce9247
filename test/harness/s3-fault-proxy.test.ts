/**
 * The chaos benchmark's S3 fault proxy (issue #11): every fault kind as a
 * real client sees it, against a real s3rver behind the proxy.
 */
import { describe, expect, test } from "bun:test";
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { startS3Server } from "./s3-server.ts";
import { startS3FaultProxy, type Fault } from "./s3-fault-proxy.ts";

const BUCKET = "bkt";

function client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
}

async function stored(s3: S3Client, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return false;
    throw err;
  }
}

async function rejection(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error("expected the request to fail");
}

/** s3rver, a proxy in front of it whose next matching request gets `fault`, and clients of both. */
async function setup() {
  const s3 = await startS3Server({ buckets: [BUCKET] });
  let next: { op: string; fault: Fault } | undefined;
  const proxy = await startS3FaultProxy({
    target: s3.endpoint,
    decide: (r) => {
      if (next === undefined || next.op !== r.op) return undefined;
      const f = next.fault;
      next = undefined;
      return f;
    },
  });
  return {
    s3,
    proxy,
    direct: client(s3.endpoint),
    viaProxy: client(proxy.endpoint),
    arm: (op: string, fault: Fault) => void (next = { op, fault }),
    async [Symbol.asyncDispose]() {
      await proxy.stop();
      await s3.stop();
    },
  };
}

const body = new Uint8Array(64 * 1024).map((_, i) => i % 251);

describe("startS3FaultProxy()", () => {
  test("forwards untouched requests byte for byte", async () => {
    await using t = await setup();
    await t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "a", Body: body }));
    const got = await t.viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: "a" }));
    expect(await got.Body?.transformToByteArray()).toEqual(body);
    expect(t.proxy.log.map((r) => [r.op, r.fault])).toEqual([
      ["PutObject", undefined],
      ["GetObject", undefined],
    ]);
  });

  test.each([
    ["error-500", "InternalError", 500],
    ["error-503", "ServiceUnavailable", 503],
    ["slow-down", "SlowDown", 503],
  ] as const)("%s answers %s (%d) with the S3 XML error body and stores nothing", async (kind, name, status) => {
    await using t = await setup();
    t.arm("PutObject", { kind });
    expect(
      await rejection(t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }))),
    ).toMatchObject({ name, status });
    expect(await stored(t.direct, "k")).toBe(false);
    expect(t.proxy.counts[kind]).toBe(1);
  });

  test("stored-500 stores the PUT but answers 500", async () => {
    await using t = await setup();
    t.arm("PutObject", { kind: "stored-500" });
    expect(
      await rejection(t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }))),
    ).toMatchObject({ name: "InternalError", status: 500 });
    const got = await t.direct.send(new GetObjectCommand({ Bucket: BUCKET, Key: "k" }));
    expect(await got.Body?.transformToByteArray()).toEqual(body);
  });

  test("reset of a PUT mid-body fails the request and forwards nothing", async () => {
    await using t = await setup();
    t.arm("PutObject", { kind: "reset" });
    const e = await rejection(t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body })));
    expect(e.status).toBeUndefined();
    expect(await stored(t.direct, "k")).toBe(false);
  });

  test("reset of a GET mid-body fails reading the body", async () => {
    await using t = await setup();
    await t.direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }));
    t.arm("GetObject", { kind: "reset" });
    await rejection(
      (async () => {
        const got = await t.viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: "k" }));
        const bytes = await got.Body?.transformToByteArray();
        if (bytes?.byteLength !== body.byteLength) throw new Error(`short body: ${bytes?.byteLength}`);
      })(),
    );
  });

  test("truncate sends the full Content-Length but half the body", async () => {
    await using t = await setup();
    await t.direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }));
    t.arm("GetObject", { kind: "truncate" });
    let received = 0;
    let failed = false;
    try {
      const res = await fetch(`${t.proxy.endpoint}/${BUCKET}/k`);
      expect(res.headers.get("content-length")).toBe(String(body.byteLength));
      received = (await res.arrayBuffer()).byteLength;
    } catch {
      failed = true;
    }
    // Either the client notices the early close, or it sees fewer bytes than promised.
    expect(failed || received < body.byteLength).toBe(true);
  });

  test("stall sends nothing for stallMs, then forwards", async () => {
    await using t = await setup();
    t.arm("PutObject", { kind: "stall", stallMs: 400 });
    const started = performance.now();
    await t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(380);
    expect(await stored(t.direct, "k")).toBe(true);
  });

  test("an outage resets every request until it ends", async () => {
    await using t = await setup();
    t.proxy.startOutage();
    expect(t.proxy.inOutage).toBe(true);
    const e = await rejection(t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body })));
    expect(e.status).toBeUndefined();
    expect(t.proxy.counts.outage).toBeGreaterThanOrEqual(1);
    t.proxy.endOutage();
    await t.viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: body }));
    expect(await stored(t.direct, "k")).toBe(true);
  });
});
