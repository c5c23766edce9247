/**
 * An `ObjectStore` over one S3 bucket and prefix (keys are relative to the
 * prefix): ListObjectsV2 pagination, streamed and ranged GETs, PUTs read
 * from the body in parts (one PutObject up to the part size, a multipart
 * upload above it with two parts in flight, `Content-MD5` on every
 * request), and DeleteObjects in batches of 1000.
 *
 * @module
 */

import { ReplicaError } from "../../errors.ts";
import { bytesSource, type ByteSource } from "../../platform/byte-source.ts";
import { md5Base64 } from "../../platform/hash.ts";
import { bodySize, type LtxBody } from "../client.ts";
import type {
  GetOptions,
  ListEntry,
  ListOptions,
  ObjectBody,
  ObjectInfo,
  ObjectMetadata,
  ObjectStore,
  PutOptions,
  PutResult,
  StoreOptions,
} from "../object-store.ts";
import { checkByteCount } from "../object-store.ts";
import type { S3ReplicaSpec } from "../spec.ts";
import { s3ErrorName } from "./errors.ts";
import { S3Http, type S3HttpOptions } from "./http.ts";
import { elements, escapeXml, text } from "./xml.ts";

/** The default part size: 5 MiB, the S3 minimum. */
export const DEFAULT_PART_SIZE = 5 * 1024 * 1024;

/** S3 allows at most 10,000 parts per multipart upload. */
const MAX_PARTS = 10_000;

/** S3 allows at most 1000 keys per DeleteObjects request. */
const DELETE_BATCH_SIZE = 1000;

/** Parts of one multipart upload in flight at once (memory: this many parts). */
const PARTS_IN_FLIGHT = 2;

/** How long cleaning up a failed multipart upload may take. */
const ABORT_UPLOAD_TIMEOUT_MS = 10_000;

/** Options of `S3ObjectStore` beyond the spec. */
export interface S3ObjectStoreOptions extends S3HttpOptions {
  /**
   * Bodies larger than this are multipart uploads of parts this size
   * (grown for bodies over 10,000 parts); at least 5 MiB. Memory per
   * upload is about two parts.
   * @default 5242880
   */
  readonly partSize?: number;
}

/**
 * Objects in an S3 bucket under the spec's prefix. Failures are mapped by
 * the one `S3ErrorMapper`: a missing object becomes `NotFoundError`, a
 * missing bucket, bad credentials or an unreachable endpoint `ReplicaError`
 * with a hint; aborts pass through.
 *
 * @example
 * ```ts
 * const store = new S3ObjectStore({ type: "s3", bucket: "backups", path: "app" }, { env: process.env });
 * for await (const entry of store.list("0000/")) console.log(entry);
 * ```
 */
export class S3ObjectStore implements ObjectStore {
  readonly type = "s3";
  readonly location: string;
  /** `s3://bucket/prefix`, for messages. */
  readonly url: string;
  readonly bucket: string;
  readonly #http: S3Http;
  readonly #partSize: number;

  /**
   * @throws {RangeError} when `partSize` is below 5 MiB, or `maxAttempts` or `requestTimeoutMs` is not a positive integer
   * @throws {ReplicaError} when only half of a credential pair is set
   */
  constructor(spec: S3ReplicaSpec, options: S3ObjectStoreOptions) {
    const { partSize = DEFAULT_PART_SIZE } = options;
    if (!Number.isSafeInteger(partSize) || partSize < DEFAULT_PART_SIZE) {
      throw new RangeError(
        `Cannot create S3 replica client: 'partSize' must be an integer of at least ${DEFAULT_PART_SIZE} (5 MiB), got '${partSize}'`,
      );
    }
    this.#partSize = partSize;
    this.#http = new S3Http(spec, options);
    this.location = this.#http.location;
    this.url = this.#http.url;
    this.bucket = this.#http.bucket;
  }

  /** The full key of `key` (prefix included), as S3 and messages name it. */
  fullKey(key: string): string {
    return this.#http.prefix + key;
  }

  storageNow(): number | undefined {
    return this.#http.storageNow();
  }

  /**
   * Checks that the bucket exists and the credentials can list it (one
   * ListObjectsV2 with `max-keys=1`).
   * @throws {ReplicaError} when the bucket is missing, access is denied or the endpoint is unreachable
   */
  async init(options: StoreOptions = {}): Promise<void> {
    const action = options.action ?? `open replica '${this.url}'`;
    const query = {
      "list-type": "2",
      "max-keys": "1",
      prefix: this.#http.prefix === "" ? undefined : this.#http.prefix,
    };
    await this.#call(action, { method: "GET", query }, options.signal);
  }

  /** Lists with ListObjectsV2, one request per 1000 keys (the one pagination loop). */
  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    const { delimiter, startAfter, signal } = options;
    const root = this.#http.prefix;
    const action = options.action ?? `list '${root + prefix}' in replica '${this.url}'`;
    let token: string | undefined;
    do {
      const query = {
        "list-type": "2",
        prefix: root + prefix,
        delimiter,
        ...(token === undefined
          ? { "start-after": startAfter === undefined ? undefined : root + startAfter }
          : { "continuation-token": token }),
      };
      const xml = (await this.#call(action, { method: "GET", query }, signal)).text;
      const entries: ListEntry[] = [];
      for (const c of elements(xml, "Contents")) {
        const key = text(c, "Key");
        if (key === undefined || !key.startsWith(root)) continue;
        const modified = Date.parse(text(c, "LastModified") ?? "");
        const etag = text(c, "ETag");
        entries.push({
          key: key.slice(root.length),
          size: Number(text(c, "Size") ?? 0),
          lastModified: new Date(Number.isFinite(modified) ? modified : 0),
          ...(etag === undefined ? {} : { etag }),
        });
      }
      for (const p of elements(xml, "CommonPrefixes")) {
        const name = text(p, "Prefix");
        if (name?.startsWith(root)) entries.push({ prefix: name.slice(root.length) });
      }
      // S3 sends objects and prefixes in two lists; merge them in key order.
      if (delimiter !== undefined)
        entries.sort((a, b) => compareKeys("key" in a ? a.key : a.prefix, "key" in b ? b.key : b.prefix));
      yield* entries;
      token = text(xml, "IsTruncated") === "true" ? text(xml, "NextContinuationToken") : undefined;
    } while (token !== undefined);
  }

  /**
   * Streams an object or a range of it.
   * @throws {NotFoundError} when the object does not exist (`path` is the full key)
   */
  async get(key: string, options: GetOptions = {}): Promise<ObjectBody> {
    const { range, signal } = options;
    const full = this.fullKey(key);
    const action = options.action ?? `read '${full}' from replica '${this.url}'`;
    if (range !== undefined) {
      checkByteCount("read object", "offset", range.offset);
      if (range.length !== undefined) checkByteCount("read object", "size", range.length);
      if (range.length === 0) {
        const { metadata = {} } = await this.head(key, { ...options, action });
        return emptyBody(metadata);
      }
    }
    const headers: Record<string, string> =
      range === undefined || (range.offset === 0 && range.length === undefined)
        ? {}
        : { range: `bytes=${range.offset}-${range.length === undefined ? "" : range.offset + range.length - 1}` };
    let answer: Awaited<ReturnType<S3Http["request"]>>;
    try {
      answer = await this.#http.request({ method: "GET", key: full, headers, signal, stream: true });
    } catch (err) {
      // S3 answers 416 for a range starting past the end (or any range of an empty object).
      if (s3ErrorName(err) === "InvalidRange") {
        const { metadata = {} } = await this.head(key, { ...options, action });
        return emptyBody(metadata);
      }
      throw this.#http.errors.toError(err, action, { objectKey: full });
    }
    const errors = this.#http.errors;
    const body = answer.body;
    return {
      metadata: metadataOf(answer.headers),
      async *[Symbol.asyncIterator]() {
        try {
          yield* body;
        } catch (err) {
          throw errors.toError(err, action, { objectKey: full });
        }
      },
    };
  }

  /**
   * Reads an object or a range of it into one array.
   * @throws {NotFoundError} when the object does not exist
   */
  async getBytes(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    const action = options.action ?? `read '${this.fullKey(key)}' from replica '${this.url}'`;
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of await this.get(key, { ...options, action })) {
      chunks.push(chunk);
      total += chunk.byteLength;
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }

  /**
   * Size, LastModified and user metadata of one object (HeadObject).
   * @throws {NotFoundError} when it does not exist
   */
  async head(key: string, options: StoreOptions = {}): Promise<ObjectInfo> {
    const full = this.fullKey(key);
    const action = options.action ?? `read '${full}' from replica '${this.url}'`;
    const answer = await this.#call(action, { method: "HEAD", key: full }, options.signal, full);
    const modified = Date.parse(answer.headers.get("last-modified") ?? "");
    return {
      key,
      size: Number(answer.headers.get("content-length") ?? 0),
      lastModified: new Date(Number.isFinite(modified) ? modified : 0),
      metadata: metadataOf(answer.headers),
    };
  }

  /**
   * Writes an object with user metadata (`x-amz-meta-*`). A body up to the
   * part size is one PutObject; a larger one a multipart upload, aborted
   * on failure. Each request's body is read from `body` once, hashed for
   * `Content-MD5`, and kept until it is sent (a retry sends it again), so
   * memory is at most two parts. With a throttle the parts go out one at
   * a time, each paced in 16 KiB chunks, so the cap holds on the wire for
   * every part rather than on average.
   * @throws {ReplicaError} when the bucket is missing, access is denied or the endpoint is unreachable
   */
  async put(key: string, body: LtxBody, options: PutOptions = {}): Promise<PutResult> {
    const { metadata = {}, throttle, signal } = options;
    const full = this.fullKey(key);
    const action = options.action ?? `write '${full}' to replica '${this.url}'`;
    const source = body instanceof Uint8Array ? bytesSource(body) : body;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(metadata)) headers[METADATA_PREFIX + name.toLowerCase()] = value;
    const size = bodySize(body);
    if (size <= this.#partSize) {
      const bytes = size === 0 ? new Uint8Array(0) : await source.read(0, size);
      const answer = await this.#call(
        action,
        { method: "PUT", key: full, headers: { ...headers, "content-md5": md5(bytes) }, body: bytes, throttle },
        signal,
      );
      return etagResult(answer.headers.get("etag") ?? undefined);
    }
    return await this.#multipart(full, source, { headers, action, throttle, signal });
  }

  /**
   * Deletes objects with DeleteObjects (`Content-MD5` as S3 requires), 1000
   * keys per request; missing ones are ignored.
   * @throws {ReplicaError} when S3 reports a key it could not delete
   */
  async delete(keys: readonly string[], options: StoreOptions = {}): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH_SIZE) {
      const batch = keys.slice(i, i + DELETE_BATCH_SIZE).map((k) => this.fullKey(k));
      const action = options.action ?? `delete ${batch.length} objects from replica '${this.url}'`;
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>' +
        batch.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join("") +
        "</Delete>";
      const bytes = new TextEncoder().encode(xml);
      const answer = await this.#call(
        action,
        {
          method: "POST",
          query: { delete: "" },
          headers: { "content-md5": md5(bytes), "content-type": "application/xml" },
          body: bytes,
        },
        options.signal,
      );
      const failed = elements(answer.text, "Error")[0];
      if (failed !== undefined) {
        const detail = [text(failed, "Code"), text(failed, "Message")].filter(Boolean).join(" ");
        throw new ReplicaError(`Cannot delete '${text(failed, "Key") ?? "?"}' from replica '${this.url}': ${detail}`, {
          replica: this.location,
          hint: `Check that the credentials allow s3:DeleteObject on bucket '${this.bucket}'`,
        });
      }
    }
  }

  /** Lists every key under `prefix` first (deleting while paginating could shift the listing), then deletes them. */
  async deletePrefix(prefix: string, options: StoreOptions = {}): Promise<void> {
    const keys: string[] = [];
    for await (const entry of this.list(prefix, options)) if ("key" in entry) keys.push(entry.key);
    await this.delete(keys, options);
  }

  async #multipart(
    key: string,
    source: ByteSource,
    options: {
      headers: Record<string, string>;
      action: string;
      throttle: PutOptions["throttle"];
      signal: AbortSignal | undefined;
    },
  ): Promise<PutResult> {
    const { headers, action, throttle, signal } = options;
    const created = await this.#call(action, { method: "POST", key, query: { uploads: "" }, headers }, signal);
    const uploadId = text(created.text, "UploadId");
    if (uploadId === undefined) {
      throw new ReplicaError(`Cannot ${action}: S3 answered CreateMultipartUpload without an upload id`, {
        replica: this.location,
      });
    }
    const partSize = Math.max(this.#partSize, Math.ceil(source.size / MAX_PARTS));
    const count = Math.ceil(source.size / partSize);
    const etags: string[] = new Array<string>(count);
    // Paced parts go one at a time: the throttle, not parallelism, sets the speed.
    const inFlight = throttle === undefined ? PARTS_IN_FLIGHT : 1;
    let next = 0;
    const failure = new AbortController();
    const onAbort = (): void => failure.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const worker = async (): Promise<void> => {
      // One buffer per worker for every part it sends: a fresh part-sized
      // array per part leaves the GC megabytes behind (RSS grows with the file).
      const buffer = new Uint8Array(partSize);
      while (next < count && !failure.signal.aborted) {
        const n = next++;
        const offset = n * partSize;
        const part = await readInto(source, offset, buffer.subarray(0, Math.min(partSize, source.size - offset)));
        const answer = await this.#http.request({
          method: "PUT",
          key,
          query: { partNumber: String(n + 1), uploadId },
          headers: { "content-md5": md5(part) },
          body: part,
          throttle,
          signal: failure.signal,
        });
        etags[n] = answer.headers.get("etag") ?? "";
      }
    };
    try {
      const workers = Array.from({ length: Math.min(inFlight, count) }, () =>
        worker().catch((err: unknown) => {
          failure.abort(err);
          throw err;
        }),
      );
      const results = await Promise.allSettled(workers);
      signal?.throwIfAborted();
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (rejected !== undefined) throw rejected.reason;
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        etags
          .map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`)
          .join("") +
        "</CompleteMultipartUpload>";
      const done = await this.#http.request({
        method: "POST",
        key,
        query: { uploadId },
        headers: { "content-type": "application/xml" },
        body: new TextEncoder().encode(xml),
        signal,
      });
      return etagResult(text(done.text, "ETag"));
    } catch (err) {
      // Best effort, with its own time limit instead of the caller's
      // (possibly aborted) signal: the upload's own error is the one to
      // report, and S3 lifecycle rules clean up uploads left behind.
      await this.#http
        .request({ method: "DELETE", key, query: { uploadId }, signal: AbortSignal.timeout(ABORT_UPLOAD_TIMEOUT_MS) })
        .catch(() => undefined);
      throw this.#http.errors.toError(err, action);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async #call(
    action: string,
    req: Parameters<S3Http["request"]>[0],
    signal: AbortSignal | undefined,
    objectKey?: string,
  ) {
    return await this.#http.errors.call(action, () => this.#http.request({ ...req, signal }), { signal, objectKey });
  }
}

/** Bytes per read when a part is filled from its source. */
const FILL_CHUNK_SIZE = 256 * 1024;

/** Fills `target` with the source's bytes from `offset`, in small reads; returns `target`. */
async function readInto(source: ByteSource, offset: number, target: Uint8Array): Promise<Uint8Array> {
  for (let at = 0; at < target.byteLength; at += FILL_CHUNK_SIZE) {
    target.set(await source.read(offset + at, Math.min(FILL_CHUNK_SIZE, target.byteLength - at)), at);
  }
  return target;
}

/** A `put`'s result for the `ETag` S3 answered (none: nothing to compare later listings with). */
function etagResult(etag: string | undefined): PutResult {
  return etag === undefined || etag === "" ? {} : { etag };
}

function md5(bytes: Uint8Array): string {
  return md5Base64(bytes);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The headers that carry user metadata: `x-amz-meta-<name>`. */
const METADATA_PREFIX = "x-amz-meta-";

/** The user metadata in an answer's headers (names in lower case, as `Headers` gives them). */
function metadataOf(headers: Headers): ObjectMetadata {
  const out: Record<string, string> = {};
  for (const [name, value] of headers)
    if (name.startsWith(METADATA_PREFIX)) out[name.slice(METADATA_PREFIX.length)] = value;
  return out;
}

/** An empty body (a range past the end) with the object's metadata. */
function emptyBody(metadata: ObjectMetadata): ObjectBody {
  return { metadata, async *[Symbol.asyncIterator]() {} };
}
