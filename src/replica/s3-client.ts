/**
 * A replica in an S3 (or S3-compatible) bucket:
 * `<prefix>/<level %04x>/<min>-<max>.ltx`, with the LTX timestamp in the
 * object metadata `litestream-timestamp` (Litestream v0.5 layout).
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { parseLtxFileName } from "../ltx/file-name.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { ReplicaError } from "../errors.ts";
import type { LtxBody, LtxFileInfo, LtxFileKey, ReplicaClient, SignalOptions, WriteLtxFileOptions } from "./client.ts";
import { readAll } from "../platform/byte-source.ts";
import { SNAPSHOT_LEVEL } from "./client.ts";
import { assertLevel, ltxFileNameOf, s3LevelPrefix } from "./layout.ts";
import { resolveS3Credentials } from "./s3-credentials.ts";
import { S3ErrorMapper, s3ErrorName } from "./s3-errors.ts";
import { paceBody, pacedMultipartUpload } from "./s3-paced-upload.ts";
import type { S3ReplicaSpec } from "./spec.ts";

/** Options for `S3ReplicaClient` beyond the replica spec. */
export interface S3ReplicaClientOptions {
  /** Environment to read credentials and `AWS_REGION` from (never `process.env` implicitly). */
  readonly env: Record<string, string | undefined>;
  /**
   * Bodies larger than this are sent as a multipart upload of parts this
   * size (grown for bodies over 10,000 parts). At least 5 MiB, the S3
   * minimum part size.
   * @default 5242880
   */
  readonly partSize?: number;
  /**
   * Attempts per request, including the first (SDK retry strategy).
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * How long a request may go without progress (connecting, sending or
   * receiving) before it is abandoned with a `TimeoutError`, in
   * milliseconds. An idle timeout, not a total one: a large upload paced by
   * a bandwidth cap keeps sending and is not cut off.
   * @default 60000
   */
  readonly requestTimeoutMs?: number;
}

/** A request without progress for this long is abandoned (then retried by the caller's backoff). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** The default multipart part size: 5 MiB, the S3 minimum. */
export const DEFAULT_PART_SIZE = 5 * 1024 * 1024;

/** S3 allows at most 10,000 parts per multipart upload. */
const MAX_PARTS = 10_000;

/** S3 allows at most 1000 keys per DeleteObjects request. */
const DELETE_BATCH_SIZE = 1000;

/** Parallel part uploads per multipart upload. */
const UPLOAD_QUEUE_SIZE = 4;

/**
 * Stores LTX files in an S3 bucket. Small files are one `PutObject` with
 * `Content-MD5`; files larger than `partSize` are multipart uploads. Every
 * SDK failure is mapped the same way (`S3ErrorMapper`): a missing object becomes
 * `NotFoundError`, a missing bucket, bad credentials or an unreachable
 * endpoint become `ReplicaError` with a hint, and aborts pass through.
 *
 * TLS verification can be skipped (`skipVerify`) through the Node HTTPS
 * agent option `rejectUnauthorized: false`.
 *
 * @example
 * ```ts
 * const client = new S3ReplicaClient(
 *   { type: "s3", bucket: "backups", path: "app" },
 *   { env: process.env },
 * );
 * await client.init();
 * ```
 */
export class S3ReplicaClient implements ReplicaClient {
  /** Always `s3`. */
  readonly type = "s3";
  /** `s3://bucket/prefix`, followed by ` (endpoint)` for custom endpoints. */
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #url: string;
  readonly #partSize: number;
  readonly #errors: S3ErrorMapper;
  /** The storage's clock: the `Date` of the last response and when (monotonic) it came. */
  #storageDate: { at: number; mono: number } | undefined;

  /**
   * Creates a client; no request is made until a method is called.
   * @throws {RangeError} when `partSize` is below 5 MiB or `maxAttempts` or `requestTimeoutMs` is not a positive integer
   * @throws {ReplicaError} when only half of a credential pair is set
   */
  constructor(spec: S3ReplicaSpec, options: S3ReplicaClientOptions) {
    const { env, partSize = DEFAULT_PART_SIZE, maxAttempts, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = options;
    if (!Number.isSafeInteger(partSize) || partSize < DEFAULT_PART_SIZE) {
      throw new RangeError(
        `Cannot create S3 replica client: 'partSize' must be an integer of at least ${DEFAULT_PART_SIZE} (5 MiB), got '${partSize}'`,
      );
    }
    if (maxAttempts !== undefined) checkPositiveInteger("maxAttempts", maxAttempts);
    checkPositiveInteger("requestTimeoutMs", requestTimeoutMs);

    this.#bucket = spec.bucket;
    this.#prefix = spec.path.replace(/^\/+|\/+$/g, "");
    this.#url = `s3://${spec.bucket}${this.#prefix === "" ? "" : `/${this.#prefix}`}`;
    const region = spec.region ?? (spec.endpoint === undefined ? env["AWS_REGION"] : undefined) ?? "us-east-1";
    const customEndpoint = spec.endpoint !== undefined;
    const endpoint = spec.endpoint === undefined ? `https://s3.${region}.amazonaws.com` : redactUrl(spec.endpoint);
    this.location = customEndpoint ? `${this.#url} (${endpoint})` : this.#url;
    this.#partSize = partSize;
    const credentials = resolveS3Credentials(spec, { env, replica: this.location });
    this.#errors = new S3ErrorMapper({
      replica: this.location,
      bucket: spec.bucket,
      endpoint,
      customEndpoint,
      region,
      credentials,
    });

    const requestHandler: NonNullable<S3ClientConfig["requestHandler"]> = {
      // The SDK's requestTimeout runs from the start of a request to its
      // response headers, which would cut off a slow paced upload; the
      // socket timeout measures inactivity instead.
      connectionTimeout: requestTimeoutMs,
      socketTimeout: requestTimeoutMs,
      ...(spec.skipVerify === true ? { httpsAgent: { rejectUnauthorized: false } } : {}),
    };
    this.#client = new S3Client({
      region,
      forcePathStyle: spec.forcePathStyle ?? customEndpoint,
      // The SDK's default since 3.729 adds CRC32 checksums (as aws-chunked
      // trailers for streams) that several S3-compatible servers reject or
      // store verbatim; send checksums only where S3 requires them and
      // protect uploads with Content-MD5 instead, as Litestream does.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler,
      ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
      ...(credentials.credentials === undefined ? {} : { credentials: credentials.credentials }),
    });
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const date = Date.parse((out.response as { headers?: Record<string, string> }).headers?.["date"] ?? "");
        if (Number.isFinite(date)) this.#storageDate = { at: date, mono: performance.now() };
        return out;
      },
      { step: "deserialize", name: "litefleetStorageClock" },
    );
  }

  /**
   * The bucket's clock from the last response's `Date` header plus the
   * time since, minus one second: `Date` and LastModified have whole
   * seconds, so this never runs ahead of the storage.
   */
  storageNow(): number | undefined {
    const d = this.#storageDate;
    return d === undefined ? undefined : d.at + (performance.now() - d.mono) - 1000;
  }

  /**
   * Checks that the bucket exists and the credentials can list it (one
   * `ListObjectsV2` with `MaxKeys=1`).
   * @throws {ReplicaError} when the bucket is missing, access is denied or the endpoint is unreachable
   */
  async init(options: SignalOptions = {}): Promise<void> {
    const action = `open replica '${this.#url}'`;
    const command = new ListObjectsV2Command({
      Bucket: this.#bucket,
      MaxKeys: 1,
      ...(this.#prefix === "" ? {} : { Prefix: `${this.#prefix}/` }),
    });
    await this.#errors.call(action, (o) => this.#client.send(command, o), { signal: options.signal });
  }

  /**
   * Lists one level in ascending `minTxid` order (S3 lists keys in byte
   * order and names are fixed-width hex), paginating with `StartAfter` for
   * `seek`. `createdAt` is the object's `LastModified` (storage clock,
   * whole seconds), not the LTX timestamp; see `LtxFileInfo.createdAt`.
   */
  async *listLtxFiles(
    level: number,
    options: SignalOptions & { seek?: Txid } = {},
  ): AsyncIterable<LtxFileInfo> {
    assertLevel(level);
    const { signal, seek } = options;
    const prefix = s3LevelPrefix(this.#prefix, level);
    const action = `list level '${level}' of replica '${this.#url}'`;
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: prefix,
        // Every key `<seek>-…` sorts after the bare 16 hex digits.
        ...(token === undefined
          ? seek === undefined ? {} : { StartAfter: prefix + formatTxid(seek) }
          : { ContinuationToken: token }),
      });
      const out = await this.#errors.call(action, (o) => this.#client.send(command, o), { signal });
      for (const obj of out.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(prefix)) continue;
        const parsed = parseLtxFileName(obj.Key.slice(prefix.length));
        if (parsed === undefined || (seek !== undefined && parsed.minTxid < seek)) continue;
        yield {
          level,
          minTxid: parsed.minTxid,
          maxTxid: parsed.maxTxid,
          size: obj.Size ?? 0,
          createdAt: obj.LastModified ?? new Date(0),
        };
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Every level in one flat listing of the prefix (keys `<level %04x>/<min>-<max>.ltx`). */
  async *listAllLevels(options: SignalOptions = {}): AsyncIterable<LtxFileInfo> {
    const prefix = this.#prefix === "" ? "" : `${this.#prefix}/`;
    const action = `list replica '${this.#url}'`;
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) });
      const out = await this.#errors.call(action, (o) => this.#client.send(command, o), { signal: options.signal });
      for (const obj of out.Contents ?? []) {
        const m = obj.Key === undefined ? null : /^([0-9a-f]{4})\/([^/]+)$/.exec(obj.Key.slice(prefix.length));
        const level = m ? parseInt(m[1]!, 16) : -1;
        const parsed = m && level <= SNAPSHOT_LEVEL ? parseLtxFileName(m[2]!) : undefined;
        if (!parsed) continue;
        yield { level, minTxid: parsed.minTxid, maxTxid: parsed.maxTxid, size: obj.Size ?? 0, createdAt: obj.LastModified ?? new Date(0) };
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /**
   * Reads a whole object, or `size` bytes from `offset` with a `Range`
   * request (fewer at the end of the object, none past it).
   * @throws {NotFoundError} when the object does not exist (`path` is the object key)
   * @throws {RangeError} when `offset` or `size` is not a non-negative integer
   */
  async readLtxFile(
    key: LtxFileKey,
    options: SignalOptions & { offset?: number; size?: number } = {},
  ): Promise<Uint8Array> {
    const { signal, offset = 0, size } = options;
    checkByteCount("offset", offset);
    if (size !== undefined) checkByteCount("size", size);
    const objectKey = this.#key(key);
    const action = `read '${objectKey}' from replica '${this.#url}'`;
    if (size === 0) {
      // An empty range cannot be expressed; still report a missing object.
      const command = new HeadObjectCommand({ Bucket: this.#bucket, Key: objectKey });
      await this.#errors.call(action, (o) => this.#client.send(command, o), { signal, objectKey });
      return new Uint8Array(0);
    }
    const range =
      offset === 0 && size === undefined
        ? {}
        : { Range: `bytes=${offset}-${size === undefined ? "" : offset + size - 1}` };
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey, ...range }),
        signal === undefined ? {} : { abortSignal: signal },
      );
      if (out.Body === undefined) return new Uint8Array(0);
      return await out.Body.transformToByteArray();
    } catch (err) {
      // S3 answers 416 for a range starting past the end (or any range of an empty object).
      if (s3ErrorName(err) === "InvalidRange") return new Uint8Array(0);
      throw this.#errors.toError(err, action, { objectKey });
    }
  }

  /**
   * Streams an object's body.
   * @throws {NotFoundError} when the object does not exist (`path` is the object key)
   */
  async openLtxFile(key: LtxFileKey, options: SignalOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const objectKey = this.#key(key);
    const action = `read '${objectKey}' from replica '${this.#url}'`;
    const out = await this.#errors.call(
      action,
      (o) => this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }), o),
      { signal: options.signal, objectKey },
    );
    const body = out.Body as AsyncIterable<Uint8Array> | undefined;
    return body ?? (async function* () {})();
  }

  /**
   * Writes an object with metadata `litestream-timestamp` (RFC 3339). Bodies
   * up to `partSize` are one `PutObject` with `Content-MD5`; larger ones are
   * multipart uploads, aborted on failure.
   *
   * With a `throttle` the body is sent as a stream of 16 KiB chunks, each
   * after `throttle.take`, with the same `Content-Length` and `Content-MD5`.
   * Multipart uploads then send their parts one at a time, each paced the
   * same way with its own `Content-MD5`, so the cap holds on the wire for
   * every part rather than on average (a part buffered at the paced rate
   * would otherwise leave at line rate). SDK retries still apply: each
   * attempt streams the body again.
   * @throws {ReplicaError} when the bucket is missing, access is denied or the endpoint is unreachable
   */
  async writeLtxFile(key: LtxFileKey, source: LtxBody, options: WriteLtxFileOptions): Promise<LtxFileInfo> {
    const { signal, timestamp, throttle } = options;
    const body = source instanceof Uint8Array ? source : await readAll(source);
    const objectKey = this.#key(key);
    const action = `write '${objectKey}' to replica '${this.#url}'`;
    const Metadata = { "litestream-timestamp": timestamp.toISOString() };
    if (body.byteLength <= this.#partSize) {
      const command = new PutObjectCommand({
        Bucket: this.#bucket,
        Key: objectKey,
        Body: body,
        ContentLength: body.byteLength,
        ContentMD5: createHash("md5").update(body).digest("base64"),
        Metadata,
      });
      if (throttle !== undefined) paceBody(command, body, { throttle, signal });
      await this.#errors.call(action, (o) => this.#client.send(command, o), { signal });
    } else if (throttle === undefined) {
      await this.#multipartUpload(objectKey, body, Metadata, action, signal);
    } else {
      await pacedMultipartUpload(this.#client, body, {
        bucket: this.#bucket,
        key: objectKey,
        metadata: Metadata,
        partSize: this.#multipartPartSize(body),
        action,
        replica: this.location,
        errors: this.#errors,
        throttle,
        signal,
      });
    }
    return {
      level: key.level,
      minTxid: key.minTxid,
      maxTxid: key.maxTxid,
      size: body.byteLength,
      createdAt: timestamp,
    };
  }

  /**
   * Deletes objects with `DeleteObjects`, 1000 keys per request; missing
   * ones are ignored.
   * @throws {ReplicaError} when S3 reports a key it could not delete
   */
  async deleteLtxFiles(keys: readonly LtxFileKey[], options: SignalOptions = {}): Promise<void> {
    const objectKeys = keys.map((key) => this.#key(key));
    for (let i = 0; i < objectKeys.length; i += DELETE_BATCH_SIZE) {
      const batch = objectKeys.slice(i, i + DELETE_BATCH_SIZE);
      const action = `delete ${batch.length} LTX files from replica '${this.#url}'`;
      const command = new DeleteObjectsCommand({
        Bucket: this.#bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      });
      const out = await this.#errors.call(action, (o) => this.#client.send(command, o), { signal: options.signal });
      const failed = out.Errors?.[0];
      if (failed !== undefined) {
        throw new ReplicaError(
          `Cannot delete '${failed.Key}' from replica '${this.#url}': ${failed.Code} ${failed.Message ?? ""}`.trimEnd(),
          { replica: this.location, hint: `Check that the credentials allow s3:DeleteObject on bucket '${this.#bucket}'` },
        );
      }
    }
  }

  /** Deletes every LTX file of every level (0 to 9); other objects under the prefix are left alone. */
  async deleteAll(options: SignalOptions = {}): Promise<void> {
    for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
      const keys: LtxFileKey[] = [];
      for await (const info of this.listLtxFiles(level, options)) keys.push(info);
      await this.deleteLtxFiles(keys, options);
    }
  }

  #key(key: LtxFileKey): string {
    return s3LevelPrefix(this.#prefix, key.level) + ltxFileNameOf(key);
  }

  async #multipartUpload(
    objectKey: string,
    body: Uint8Array,
    metadata: Record<string, string>,
    action: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    signal?.throwIfAborted();
    const abortController = new AbortController();
    const onAbort = (): void => abortController.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.#client,
        params: { Bucket: this.#bucket, Key: objectKey, Body: body, Metadata: metadata },
        partSize: this.#multipartPartSize(body),
        queueSize: UPLOAD_QUEUE_SIZE,
        leavePartsOnError: false,
        abortController,
      });
      await upload.done();
    } catch (err) {
      throw this.#errors.toError(err, action);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** `partSize`, grown so that `body` fits in `MAX_PARTS` parts. */
  #multipartPartSize(body: Uint8Array): number {
    return Math.max(this.#partSize, Math.ceil(body.byteLength / MAX_PARTS));
  }
}

/** Removes user info from an endpoint URL before it goes into messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === "" && u.password === "") return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create S3 replica client: '${name}' must be a positive integer, got '${value}'`);
  }
}

function checkByteCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot read LTX file: '${name}' must be a non-negative integer, got '${value}'`);
  }
}
