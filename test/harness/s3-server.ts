/**
 * A real S3 server for tests: s3rver 3.7.1 (Koa over `node:http`) running in
 * this process on a free loopback port, storing objects in a fresh temp
 * directory.
 *
 * s3rver checks that the access key id exists (`S3RVER`) but does not verify
 * SigV4 signatures, so a wrong secret is accepted.
 *
 * Six s3rver defects are patched before it loads (see `patchS3rver`; the
 * sixth, delimiter listings that lose common prefixes, in
 * `s3rver-list-fix.ts`):
 * - Listings follow `fs.readdirSync` order. Node (libuv) sorts directory
 *   entries, Bun does not, so under Bun keys came back unsorted and
 *   `StartAfter` pagination was wrong. S3 lists keys in byte order.
 * - ListObjectsV2 continuation tokens are DES-encrypted; neither Bun
 *   (BoringSSL) nor Node 17+ (OpenSSL 3) has DES, so the second page of a
 *   listing failed with HTTP 500. The harness makes `des` a pass-through
 *   cipher in this process; the tokens stay opaque to clients.
 * - `Range: bytes=0-0` returned the whole object (`options.end || Infinity`).
 * - DeleteObjects deletes keys concurrently and each deletion removes its
 *   emptied parent directories, so two keys in one directory race and the
 *   loser failed with HTTP 500 (ENOENT/ENOTEMPTY). That cleanup error is
 *   ignored; the object files themselves are already gone by then.
 * - PutObject and UploadPart answered once the body was read, before the
 *   file write finished, so an immediate LIST or GET could see a truncated
 *   object (size 0). The patched writes wait for the file stream to finish.
 *
 * Known difference from S3, left in place: an interrupted PutObject leaves
 * a partial object. s3rver streams the body straight into the object file
 * and checks neither `Content-Length` nor `Content-MD5`, so when the client
 * aborts or the connection is reset mid-body (under Bun the request then
 * fails with ECONNRESET "aborted"), the bytes received so far replace the
 * previous object, under its old metadata. S3 stores nothing and keeps the
 * previous version. Streamed (paced) bodies with `Content-Length` otherwise
 * work under Bun and arrive byte for byte. The agent re-sends files whose
 * remote size differs from the local copy; `src/replica/s3-client.test.ts`
 * pins this behaviour ("aborted mid-body").
 *
 * @module
 */

import { S3Client } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, readdirSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { posix } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fixS3rverDelimiterListing } from "./s3rver-list-fix.ts";
import { makeTempDir } from "./temp-dir.ts";

/** The parts of s3rver's API this harness uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly httpServer: Server;
  readonly store: {
    putBucket(name: string): Promise<unknown>;
    putObject(object: unknown): Promise<unknown>;
  };
}

type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const require = createRequire(import.meta.url);
patchS3rver();
const S3rver = require("s3rver") as S3rverConstructor;

/** One request the server received, classified by S3 operation. */
export interface S3Request {
  readonly method: string;
  /** S3 operation name, e.g. `PutObject`, `ListObjectsV2`, `UploadPart`. */
  readonly kind: string;
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A running s3rver. Dispose it (or call `stop()`) to shut it down and delete its data. */
export interface S3Server extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** s3rver's built-in account: `S3RVER`. */
  readonly accessKeyId: string;
  /** s3rver's built-in account: `S3RVER`. */
  readonly secretAccessKey: string;
  /** Every request received so far, in arrival order. */
  readonly requests: readonly S3Request[];
  /** Creates a bucket directly in the store (no S3 request is counted). */
  createBucket(name: string): Promise<void>;
  /**
   * Stores an object directly in the store, without an S3 request (not
   * counted in `requests`), for tests that need a thousand objects fast.
   */
  seedObject(bucket: string, key: string, body: Uint8Array): Promise<void>;
  /** A plain SDK client for this server (path-style, its account), for tests that look behind a replica client. */
  sdkClient(): S3Client;
  /** Stops the server and deletes its directory. Calling it twice does nothing. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 with an OS-assigned port.
 *
 * @example
 * ```ts
 * await using s3 = await startS3Server({ buckets: ["bkt"] });
 * ```
 */
export async function startS3Server(options: { buckets?: string[] } = {}): Promise<S3Server> {
  const dir = await makeTempDir("litefleet-s3rver-");
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir.path,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await dir[Symbol.asyncDispose]();
    throw err;
  }
  const requests: S3Request[] = [];
  server.httpServer.on("request", (req: IncomingMessage) => {
    requests.push(classifyRequest(req));
  });

  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    // The SDK keeps sockets alive; close them so `close()` does not wait on them.
    server.httpServer.closeAllConnections();
    await server.close();
    await dir[Symbol.asyncDispose]();
  }

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    requests,
    async createBucket(name: string) {
      await server.store.putBucket(name);
    },
    async seedObject(bucket: string, key: string, body: Uint8Array) {
      const S3Object = require("s3rver/lib/models/object") as new (
        bucket: string,
        key: string,
        content: Buffer,
        metadata: Record<string, string>,
      ) => unknown;
      await server.store.putObject(new S3Object(bucket, key, Buffer.from(body), {}));
    },
    sdkClient: () =>
      new S3Client({
        endpoint: `http://127.0.0.1:${address.port}`,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      }),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Names the S3 operation of a path-style request. */
function classifyRequest(req: IncomingMessage): S3Request {
  const method = req.method ?? "GET";
  const { kind, bucket, key } = parseS3Request(method, req.url ?? "/");
  return { method, kind, bucket, key, headers: { ...req.headers } };
}

/** The S3 operation (`PutObject`, `ListObjectsV2` …), bucket and key of a path-style request. */
export function parseS3Request(
  method: string,
  requestUrl: string,
): { kind: string; bucket: string | undefined; key: string | undefined } {
  const url = new URL(requestUrl, "http://localhost");
  const [, bucket, ...rest] = url.pathname.split("/");
  const key = rest.length > 0 && rest.join("/") !== "" ? decodeURIComponent(rest.join("/")) : undefined;
  const q = url.searchParams;
  const kind = key === undefined ? bucketKind(method, q) : objectKind(method, q);
  return { kind, bucket: bucket || undefined, key };
}

function bucketKind(method: string, q: URLSearchParams): string {
  if (method === "GET") return q.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
  if (method === "HEAD") return "HeadBucket";
  if (method === "PUT") return "CreateBucket";
  if (method === "POST" && q.has("delete")) return "DeleteObjects";
  if (method === "DELETE") return "DeleteBucket";
  return method;
}

function objectKind(method: string, q: URLSearchParams): string {
  switch (method) {
    case "GET":
      return "GetObject";
    case "HEAD":
      return "HeadObject";
    case "PUT":
      return q.has("uploadId") ? "UploadPart" : "PutObject";
    case "POST":
      if (q.has("uploads")) return "CreateMultipartUpload";
      return q.has("uploadId") ? "CompleteMultipartUpload" : method;
    case "DELETE":
      return q.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    default:
      return method;
  }
}

interface S3rverObject {
  content: Readable | null;
  range?: { start: number; end: number };
}

interface FilesystemStorePrototype {
  putObject(object: { bucket: string; key: string; content: Readable | Buffer; metadata: unknown }): Promise<{
    size: number;
    md5: string;
  }>;
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: number,
    content: Readable,
  ): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  deleteObject(bucket: string, key: string): Promise<void>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3rverObject | null>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}

/** A cipher object that returns its input unchanged. */
const passThroughCipher = {
  update: (data: string | Buffer, encoding?: BufferEncoding) =>
    typeof data === "string" ? Buffer.from(data, encoding) : Buffer.from(data),
  final: () => Buffer.alloc(0),
};

/** Fixes the s3rver defects listed in the module doc; must run before s3rver loads. */
function patchS3rver(): void {
  const crypto = require("node:crypto") as Record<
    "createCipheriv" | "createDecipheriv",
    (...args: unknown[]) => unknown
  >;
  for (const name of ["createCipheriv", "createDecipheriv"] as const) {
    const original = crypto[name];
    if ((original as { s3rverPatched?: boolean }).s3rverPatched === true) continue;
    const patched = (algorithm: unknown, ...rest: unknown[]): unknown =>
      algorithm === "des" ? passThroughCipher : original(algorithm, ...rest);
    crypto[name] = Object.assign(patched, { s3rverPatched: true });
  }

  // `stores/filesystem.js` destructures `walk` when it loads, so replace it first.
  const utils = require("s3rver/lib/utils") as {
    walk: (dir: string, filter?: (dir: string) => boolean) => Iterable<string>;
  };
  utils.walk = function* sortedWalk(dir: string, recurseFilter?: (dir: string) => boolean): Generator<string> {
    const names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const path = posix.join(dir, name);
      if (!statSync(path).isDirectory()) yield path;
      else if (recurseFilter === undefined || recurseFilter(path)) yield* sortedWalk(path, recurseFilter);
    }
  };

  const store = (require("s3rver/lib/stores/filesystem") as { prototype: FilesystemStorePrototype }).prototype;
  const getObject = store.getObject;
  store.getObject = async function (bucket, key, options) {
    if (options?.end !== 0) return getObject.call(this, bucket, key, options);
    const object = await getObject.call(this, bucket, key, { start: options.start ?? 0 });
    if (object === null || object.content === null || (options.start ?? 0) !== 0) return object;
    object.content.destroy();
    object.content = createReadStream(this.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
    object.range = { start: 0, end: 0 };
    return object;
  };

  store.putObject = async function (object) {
    const path = this.getResourcePath(object.bucket, object.key, "object");
    const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const { size, md5 } = await writeHashed(content, path);
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };

  store.putPart = async function (bucket, uploadId, partNumber, content) {
    const path = posix.join(this.getResourcePath(bucket, undefined, "uploads"), uploadId, String(partNumber));
    const { size, md5 } = await writeHashed(content, path);
    await writeFile(`${path}.md5`, md5);
    return { size, md5 };
  };

  const deleteObject = store.deleteObject;
  store.deleteObject = async function (bucket, key) {
    try {
      await deleteObject.call(this, bucket, key);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== "ENOENT" && code !== "ENOTEMPTY") throw err;
    }
  };

  fixS3rverDelimiterListing();
}

/** Writes a stream to `path` and returns its size and hex MD5 once the file is fully written. */
async function writeHashed(content: Readable, path: string): Promise<{ size: number; md5: string }> {
  await mkdir(posix.dirname(path), { recursive: true });
  const hash = createHash("md5");
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(content, measure, createWriteStream(path));
  return { size, md5: hash.digest("hex") };
}
