/**
 * The storage interface every replica backend implements, and the shared
 * vocabulary (level, file key, file info). Logic that works over any backend
 * lives in free functions elsewhere (restore planning, position lookup), never
 * copied into a backend.
 *
 * @module
 */

import type { DatabaseChecksums } from "../ltx/no-checksum.ts";
import type { Txid } from "../ltx/txid.ts";
import type { ByteSource } from "../platform/byte-source.ts";
import type { ByteThrottle } from "./throttle.ts";

/** The level that holds full snapshots (`0000000000000001-<max>.ltx`). */
export const SNAPSHOT_LEVEL = 9;

/** Identifies one LTX file in a replica. */
export interface LtxFileKey {
  /** 0 = one file per upload, 1..8 = compactions, 9 = snapshots. */
  readonly level: number;
  readonly minTxid: Txid;
  readonly maxTxid: Txid;
}

/** What a listing says about one LTX file. */
export interface LtxFileInfo extends LtxFileKey {
  /** Size of the object in bytes. */
  readonly size: number;
  /**
   * The time the listing reports. File replicas: the file's mtime, set to
   * the LTX timestamp when written, but only as exact as the file system
   * and whatever copied the files keep it. S3: the object's `LastModified`,
   * the upload time on the storage's clock, truncated to whole seconds.
   * Good for display and retention; restore by timestamp never decides on
   * it, it reads the LTX header timestamp (issue #11, `planRestore`).
   */
  readonly createdAt: Date;
  /**
   * S3: the object's `ETag` (from the listing, or from the PUT for what
   * `writeLtxFile` returns); it changes when the key is written again
   * with other bytes. File replicas: absent.
   */
  readonly etag?: string;
}

/**
 * A streamed LTX file with the checksum record stored beside it (see
 * `checksum-record.ts`; undefined when the object has none). The record
 * counts only for the bytes it names: `effectiveChecksums` decides.
 */
export interface LtxFileBody extends AsyncIterable<Uint8Array> {
  readonly checksums: DatabaseChecksums | undefined;
}

/** What `statLtxFile` says about one file, without its bytes. */
export interface LtxFileStat {
  readonly size: number;
  /** The checksum record stored beside the file; see `LtxFileBody.checksums`. */
  readonly checksums: DatabaseChecksums | undefined;
}

/** Options accepted by every I/O call. */
export interface SignalOptions {
  readonly signal?: AbortSignal;
}

/**
 * An upload body: bytes in memory, or a `ByteSource` (a local file) that the
 * backend reads in pieces, so an upload's memory is bounded by its part
 * size, not by the file.
 */
export type LtxBody = Uint8Array | ByteSource;

/** The size of a body. */
export function bodySize(body: LtxBody): number {
  return body instanceof Uint8Array ? body.byteLength : body.size;
}

/** Options of `ReplicaClient.writeLtxFile`. */
export interface WriteLtxFileOptions extends SignalOptions {
  /** The LTX header timestamp, stored as file mtime or S3 metadata `litestream-timestamp`. */
  readonly timestamp: Date;
  /**
   * Paces the upload: every body byte passes through the throttle before it
   * is sent (S3: written to the request, file: written to the temp file),
   * so the bandwidth cap is on the wire bytes of the body; request headers,
   * responses and listings are not counted. Share one throttle between
   * every upload of a replica to cap the replica as a whole. Without it the
   * body goes out as fast as the storage takes it.
   */
  readonly throttle?: ByteThrottle;
  /**
   * The checksum record of a body that is already in NoChecksum form (a
   * file copied from another replica, with `statLtxFile`'s record), stored
   * beside it; ignored for a body with checksums of its own (flags 0),
   * whose record comes from the body.
   */
  readonly checksums?: DatabaseChecksums | undefined;
}

/**
 * A place that stores LTX files: a directory, an S3 prefix.
 *
 * Contracts shared by every implementation (checked by
 * `test/conformance/replica-client.ts`):
 * - `writeLtxFile` is atomic (a reader sees the whole file or none) and
 *   idempotent (writing the same key again replaces it).
 * - `listLtxFiles` yields the files of one level in ascending `minTxid`
 *   order, starting at the first file whose `minTxid >= seek`; objects whose
 *   names are not LTX file names are skipped.
 * - `readLtxFile` and `openLtxFile` throw `NotFoundError` when the file does
 *   not exist (`openLtxFile` before it returns).
 * - `deleteLtxFiles` ignores files that are already gone.
 * - Failures to reach the storage or authenticate throw `ReplicaError` with a
 *   hint for the operator.
 */
export interface ReplicaClient {
  /** Backend name: `file`, `s3`. */
  readonly type: string;
  /** A human-readable location for messages, never containing secrets. */
  readonly location: string;
  /** Checks that the storage is reachable and usable (bucket exists, credentials work). */
  init(options?: SignalOptions): Promise<void>;
  /** Lists the files of one level; see the interface contract. */
  listLtxFiles(level: number, options?: SignalOptions & { seek?: Txid }): AsyncIterable<LtxFileInfo>;
  /**
   * Optional fast path: the files of every level in one listing (one
   * request per 1,000 files instead of one per level). Same contract as
   * `listLtxFiles`, for all levels at once, in any level order.
   */
  listAllLevels?(options?: SignalOptions): AsyncIterable<LtxFileInfo>;
  /** Reads a whole file, or `size` bytes from `offset`. */
  readLtxFile(key: LtxFileKey, options?: SignalOptions & { offset?: number; size?: number }): Promise<Uint8Array>;
  /**
   * Streams a whole file: the chunks in order, of any size, never the whole
   * file at once, and the checksum record the same read returned. Memory
   * is bounded by a chunk, whatever the file's size.
   * @throws {CorruptFileError} when the record does not parse
   */
  openLtxFile(key: LtxFileKey, options?: SignalOptions): Promise<LtxFileBody>;
  /**
   * The size and checksum record of a file, without its bytes (S3: a HEAD).
   * @throws {NotFoundError} when the file does not exist
   * @throws {CorruptFileError} when the record does not parse
   */
  statLtxFile(key: LtxFileKey, options?: SignalOptions): Promise<LtxFileStat>;
  /**
   * Writes a file. A file with database checksums (flags 0) is stored as
   * its NoChecksum form, which stock Litestream restores, with the
   * checksums in a record beside it (`checksum-record.ts`); the body is
   * converted on the way out, never in place. `timestamp` is the LTX
   * header timestamp, stored as file mtime or S3 metadata
   * `litestream-timestamp`; `throttle` paces the body (see
   * `WriteLtxFileOptions`). A `ByteSource` body is read in pieces (again
   * on a retry), never whole.
   */
  writeLtxFile(key: LtxFileKey, body: LtxBody, options: WriteLtxFileOptions): Promise<LtxFileInfo>;
  /** Deletes files; missing ones are ignored. */
  deleteLtxFiles(keys: readonly LtxFileKey[], options?: SignalOptions): Promise<void>;
  /** Deletes every LTX file of this replica. */
  deleteAll(options?: SignalOptions): Promise<void>;
  /**
   * Optional: the storage's own clock (Unix ms, a lower bound, after at
   * least one request), on which the `createdAt` of listed files runs
   * when it is not the writer's clock (S3's LastModified). Retention ages
   * files on it, so a step of the device's clock cannot age them.
   * Undefined = `createdAt` is the writer's clock (file replicas).
   */
  storageNow?(): number | undefined;
}
