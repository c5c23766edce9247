import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { ReplicaError } from "../../src/errors.ts";
import { txid } from "../../src/ltx/txid.ts";
import type { LtxFileKey } from "../../src/replica/client.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { startS3Server, type S3Server } from "./s3-server.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

const TIMESTAMP = new Date("2024-05-06T07:08:09.123Z");
const KEY: LtxFileKey = { level: 0, minTxid: txid(1), maxTxid: txid(1) };
/** Generous room for the request and response headers of a few S3 calls. */
const HEADER_SLACK = 8 * 1024;

let s3: S3Server;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3Server();
});

afterAll(async () => {
  await s3.stop();
});

function proxyToS3(): Promise<TcpProxy> {
  const { hostname, port } = new URL(s3.endpoint);
  return startTcpProxy({ target: { host: hostname, port: Number(port) } });
}

async function clientVia(proxy: TcpProxy, options: { requestTimeoutMs?: number } = {}): Promise<S3ReplicaClient> {
  const bucket = `proxy-${++buckets}`;
  await s3.createBucket(bucket);
  return new S3ReplicaClient(
    {
      type: "s3",
      bucket,
      path: "db",
      endpoint: proxy.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    },
    { env: {}, maxAttempts: 1, ...options },
  );
}

function body(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13) & 0xff);
}

describe("startTcpProxy()", () => {
  test("forwards S3 requests both ways and counts the body bytes", async () => {
    await using proxy = await proxyToS3();
    expect(proxy.endpoint).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(proxy.host).toBe("127.0.0.1");
    const client = await clientVia(proxy);
    const data = body(300 * 1024);

    await client.writeLtxFile(KEY, data, { timestamp: TIMESTAMP });
    expect(proxy.bytesToTarget).toBeGreaterThanOrEqual(data.byteLength);
    expect(proxy.bytesToTarget).toBeLessThanOrEqual(data.byteLength + HEADER_SLACK);
    expect(proxy.bytesFromTarget).toBeLessThanOrEqual(HEADER_SLACK);

    const sentBefore = proxy.bytesToTarget;
    const receivedBefore = proxy.bytesFromTarget;
    expect(await client.readLtxFile(KEY)).toEqual(data);
    expect(proxy.bytesFromTarget - receivedBefore).toBeGreaterThanOrEqual(data.byteLength);
    expect(proxy.bytesFromTarget - receivedBefore).toBeLessThanOrEqual(data.byteLength + HEADER_SLACK);
    expect(proxy.bytesToTarget - sentBefore).toBeLessThanOrEqual(HEADER_SLACK);
  });

  test("history records every client chunk, summing to bytesToTarget", async () => {
    await using proxy = await proxyToS3();
    const client = await clientVia(proxy);
    await client.writeLtxFile(KEY, body(100 * 1024), { timestamp: TIMESTAMP });
    expect(proxy.history.length).toBeGreaterThan(0);
    expect(proxy.history.reduce((sum, a) => sum + a.bytes, 0)).toBe(proxy.bytesToTarget);
    const times = proxy.history.map((a) => a.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test("onData is called with each client chunk", async () => {
    const { hostname, port } = new URL(s3.endpoint);
    let seen = 0;
    await using proxy = await startTcpProxy({
      target: { host: hostname, port: Number(port) },
      onData: (bytes) => (seen += bytes),
    });
    const client = await clientVia(proxy);
    await client.writeLtxFile(KEY, body(10 * 1024), { timestamp: TIMESTAMP });
    expect(seen).toBe(proxy.bytesToTarget);
  });

  test("cut() makes S3 calls fail with ReplicaError naming the endpoint, and resume() restores them", async () => {
    await using proxy = await proxyToS3();
    const client = await clientVia(proxy);
    await client.writeLtxFile(KEY, body(1024), { timestamp: TIMESTAMP });

    proxy.cut();
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as ReplicaError).message).toContain(`endpoint '${proxy.endpoint}' is unreachable`);
    await expect(client.readLtxFile(KEY)).rejects.toBeInstanceOf(ReplicaError);
    await expect(client.writeLtxFile(KEY, body(2048), { timestamp: TIMESTAMP })).rejects.toBeInstanceOf(ReplicaError);

    proxy.resume();
    await client.init();
    expect(await client.readLtxFile(KEY)).toEqual(body(1024));
  });

  test("stall() makes requests hang (until the client's timeout), and resume() restores them", async () => {
    await using proxy = await proxyToS3();
    const client = await clientVia(proxy, { requestTimeoutMs: 300 });
    await client.writeLtxFile(KEY, body(1024), { timestamp: TIMESTAMP });
    proxy.stall();
    const before = proxy.bytesFromTarget;
    const started = performance.now();
    await expect(client.readLtxFile(KEY)).rejects.toBeInstanceOf(ReplicaError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(proxy.bytesFromTarget).toBe(before);
    proxy.resume();
    expect(await client.readLtxFile(KEY)).toEqual(body(1024));
  });

  test("cut() resets open connections, and new ones at once", async () => {
    await using proxy = await proxyToS3();
    const events: string[] = [];
    const socket = connect(proxy.port, proxy.host);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const closed = new Promise<void>((resolve) => {
      socket.on("error", (e: NodeJS.ErrnoException) => events.push(e.code ?? e.name));
      socket.once("close", () => resolve());
    });
    // Wait until the proxy has accepted it, so cut() sees it.
    while (proxy.connections === 0) await Bun.sleep(1);
    proxy.cut();
    await closed;
    expect(events).toEqual(["ECONNRESET"]);

    const late = connect(proxy.port, proxy.host);
    const lateEvents: string[] = [];
    await new Promise<void>((resolve) => {
      late.on("error", (e: NodeJS.ErrnoException) => lateEvents.push(e.code ?? e.name));
      late.once("close", () => resolve());
    });
    expect(lateEvents).toEqual(["ECONNRESET"]);
    expect(proxy.connections).toBe(2);
  });

  test("stop() closes the listener; calling it twice does nothing", async () => {
    const proxy = await proxyToS3();
    await proxy.stop();
    await proxy.stop();
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port, proxy.host);
      socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.name));
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});
