/**
 * The one storage layer: every read, write, listing and deletion of a
 * replica's objects goes through an `ObjectStore` (a directory, an S3
 * bucket), whatever format sits on top (the LTX replica client, the
 * Litestream v0.3 reader, fleet discovery, the Parquet sink).
 *
 * Keys are `/`-separated and relative to the store's root (an S3 prefix, a
 * directory). Bodies stream both ways, so memory is bounded by a chunk or
 * an upload part, never by an object.
 *
 * @module
 */

import type { LtxBody, SignalOptions } from "./client.ts";
import type { ByteThrottle } from "./throttle.ts";

/** What a listing or `head` says about one object. */
export interface ObjectInfo {
  /** The key, relative to the store's root. */
  readonly key: string;
  readonly size: number;
  /** S3: `LastModified` (the storage's clock, whole seconds); file: the mtime. */
  readonly lastModified: Date;
  /**
   * S3: the object's `ETag` as listed (quotes kept), which changes whenever
   * the key is written again with other bytes; file: absent.
   */
  readonly etag?: string;
  /**
   * `head` only: the user metadata the object was written with (names in
   * lower case; S3: the `x-amz-meta-*` headers, a directory: the sidecar
   * file). Listings leave it unset.
   */
  readonly metadata?: ObjectMetadata;
}

/** User metadata of an object: names in lower case. */
export type ObjectMetadata = Readonly<Record<string, string>>;

/**
 * A streamed object: its chunks, and the user metadata the same read
 * returned (S3: the GET's headers, a directory: the sidecar), so a reader
 * needs no second request for it.
 */
export interface ObjectBody extends AsyncIterable<Uint8Array> {
  readonly metadata: ObjectMetadata;
}

/** What a `put` reports about the object it wrote. */
export interface PutResult {
  /** S3: the `ETag` of the new object, as later listings report it; file: absent. */
  readonly etag?: string;
}

/** A key prefix rolled up by a delimited listing (S3 `CommonPrefixes`, a directory). */
export interface CommonPrefix {
  /** The prefix, relative to the store's root, ending with the delimiter. */
  readonly prefix: string;
}

/** One entry of a listing: an object, or (delimited listings only) a common prefix. */
export type ListEntry = ObjectInfo | CommonPrefix;

/**
 * Options of every `ObjectStore` call: the caller's signal, and what the
 * caller is doing, for messages ("Cannot <action>: …"; S3 uses it, a
 * directory names the file instead). Default: the operation and the key.
 */
export interface StoreOptions extends SignalOptions {
  readonly action?: string;
}

/** Options of `ObjectStore.list`. */
export interface ListOptions extends StoreOptions {
  /**
   * Roll keys up at this delimiter (only `/` is supported): the entries
   * are the objects directly under the prefix plus one `CommonPrefix` per
   * "folder".
   */
  readonly delimiter?: "/";
  /** Start after this key (relative to the root); every key yielded sorts after it. */
  readonly startAfter?: string;
}

/** A byte range: `length` bytes from `offset` (to the end when `length` is unset). */
export interface ByteRange {
  readonly offset: number;
  readonly length?: number;
}

/** Options of `ObjectStore.get` and `ObjectStore.getBytes`. */
export interface GetOptions extends StoreOptions {
  /**
   * Only these bytes; fewer at the end of the object, none past it. An
   * empty range still reports a missing object.
   */
  readonly range?: ByteRange;
}

/** Options of `ObjectStore.put`. */
export interface PutOptions extends StoreOptions {
  /**
   * User metadata (names in lower case). S3: `x-amz-meta-<name>` headers
   * (Litestream's `litestream-timestamp`), written by the same request as
   * the object; a directory: a sidecar file beside it (see
   * `FileObjectStore`). `get` and `head` return it.
   */
  readonly metadata?: ObjectMetadata;
  /**
   * The object's time. A directory sets the file's mtime to it; S3 ignores
   * it (`LastModified` is the upload time on the storage's clock).
   */
  readonly mtime?: Date;
  /** Every body byte passes through it before it is sent (see `WriteLtxFileOptions.throttle`). */
  readonly throttle?: ByteThrottle;
}

/**
 * Objects under one root. Contracts shared by every implementation:
 * - `put` is atomic (a reader sees the old object or the new one, never a
 *   part) and replaces any object with the same key; a `ByteSource` body is
 *   read in pieces, never whole.
 * - `list` yields entries in ascending byte order of their keys (common
 *   prefixes sorted among them); a prefix with nothing under it yields
 *   nothing.
 * - `get`, `getBytes` and `head` throw `NotFoundError` for a missing object
 *   (`get` before it returns).
 * - `get` and `head` return the metadata of the last `put` of the key (none
 *   when it was written without).
 * - `delete` ignores keys that are already gone.
 * - Failures to reach the storage or authenticate throw `ReplicaError` with
 *   a hint for the operator; aborts pass through unchanged.
 */
export interface ObjectStore {
  /** Backend name: `file`, `s3`. */
  readonly type: string;
  /** A human-readable location for messages, never containing secrets. */
  readonly location: string;
  /**
   * Checks that the storage is usable: the bucket exists and the
   * credentials can list it; a directory is created when missing.
   */
  init(options?: StoreOptions): Promise<void>;
  /** Lists the keys that start with `prefix` (relative to the root); see the contract. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  /** Streams an object (or a range of it) in chunks of any size. */
  get(key: string, options?: GetOptions): Promise<ObjectBody>;
  /** Reads a small object or range into one array. */
  getBytes(key: string, options?: GetOptions): Promise<Uint8Array>;
  /** Size, time and metadata of one object. */
  head(key: string, options?: StoreOptions): Promise<ObjectInfo>;
  /** Writes an object; see the contract. */
  put(key: string, body: LtxBody, options?: PutOptions): Promise<PutResult>;
  /** Deletes objects; missing ones are ignored. */
  delete(keys: readonly string[], options?: StoreOptions): Promise<void>;
  /**
   * Deletes every object whose key starts with `prefix` (a directory: the
   * whole tree, temp files of unfinished writes included).
   */
  deletePrefix(prefix: string, options?: StoreOptions): Promise<void>;
  /**
   * Optional: whether the root itself exists. Only a directory can be
   * missing without being an error (a missing bucket is a `ReplicaError`).
   */
  rootExists?(options?: SignalOptions): Promise<boolean>;
  /** Optional: the storage's own clock (Unix ms, a lower bound); see `ReplicaClient.storageNow`. */
  storageNow?(): number | undefined;
}

/** Whether a listing entry is a common prefix rather than an object. */
export function isCommonPrefix(entry: ListEntry): entry is CommonPrefix {
  return "prefix" in entry;
}

/** Every object under `prefix` (no delimiter), in key order. */
export async function* listObjects(
  store: ObjectStore,
  prefix: string,
  options: StoreOptions = {},
): AsyncGenerator<ObjectInfo> {
  for await (const entry of store.list(prefix, options)) if (!isCommonPrefix(entry)) yield entry;
}

/**
 * Checks a byte count of a read (`offset`, `size`).
 * @throws {RangeError} when it is not a non-negative safe integer
 */
export function checkByteCount(action: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot ${action}: '${name}' must be a non-negative integer, got '${value}'`);
  }
}
