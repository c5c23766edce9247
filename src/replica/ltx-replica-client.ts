/**
 * The LTX `ReplicaClient` as a layout over an `ObjectStore`: where each
 * level's files live (`LtxLayout`), how listings become `LtxFileInfo`, and
 * the argument checks. The backends (`s3/replica-client.ts`,
 * `file/replica-client.ts`) only pick the store and the layout.
 *
 * @module
 */

import { parseLtxFileName } from "../ltx/file-name.ts";
import { toNoChecksum } from "../ltx/no-checksum.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { bytesSource } from "../platform/byte-source.ts";
import { CHECKSUMS_METADATA, checksumRecordOf, formatChecksumRecord } from "./checksum-record.ts";
import {
  bodySize,
  SNAPSHOT_LEVEL,
  type LtxBody,
  type LtxFileBody,
  type LtxFileInfo,
  type LtxFileKey,
  type LtxFileStat,
  type ReplicaClient,
  type SignalOptions,
  type WriteLtxFileOptions,
} from "./client.ts";
import { assertLevel, ltxFileNameOf } from "./layout.ts";
import { describe } from "./ltx-files.ts";
import { checkByteCount, listObjects, type ObjectStore } from "./object-store.ts";

/** Where a backend keeps each level (keys relative to the store's root). */
export interface LtxLayout {
  /** The key prefix of one level, ending in `/`. */
  levelPrefix(level: number): string;
  /**
   * The level of a level directory name (`0009` → 9), for one listing of
   * every level; unset when a backend lists level by level.
   */
  readonly parseLevel?: (dir: string) => number | undefined;
  /** The prefix holding every level, removed whole by `deleteAll` (unset: delete file by file). */
  readonly root?: string;
}

/** What a backend's messages say about an operation on one level or the replica. */
export interface LtxMessages {
  /** "list level '<level>' of replica '<url>'" and the like; unset: the store's own. */
  listLevel?(level: number): string;
  listAll?(): string;
  deleteFiles?(count: number): string;
}

/**
 * An LTX replica over any object store.
 *
 * @example
 * ```ts
 * const client = new LtxReplicaClient(new FileObjectStore("/backups/app"), { levelPrefix: (l) => `ltx/${l}/` });
 * ```
 */
export class LtxReplicaClient implements ReplicaClient {
  readonly type: string;
  readonly location: string;
  readonly #store: ObjectStore;
  readonly #layout: LtxLayout;
  readonly #messages: LtxMessages;

  /** Creates the client; no I/O happens until a method is called. */
  constructor(store: ObjectStore, layout: LtxLayout, messages: LtxMessages = {}) {
    this.#store = store;
    this.#layout = layout;
    this.#messages = messages;
    this.type = store.type;
    this.location = store.location;
  }

  /** The store underneath (for tools that read other objects of the same replica). */
  get store(): ObjectStore {
    return this.#store;
  }

  storageNow(): number | undefined {
    return this.#store.storageNow?.();
  }

  /**
   * Checks the storage (bucket and credentials; a directory is created).
   * @throws {ReplicaError} when it is not usable
   */
  async init(options: SignalOptions = {}): Promise<void> {
    await this.#store.init(options);
  }

  /** Lists one level in ascending `minTxid` order (names are fixed-width hex, listed in byte order). */
  async *listLtxFiles(level: number, options: SignalOptions & { seek?: Txid } = {}): AsyncIterable<LtxFileInfo> {
    assertLevel(level);
    const { signal, seek } = options;
    const prefix = this.#layout.levelPrefix(level);
    const action = this.#messages.listLevel?.(level);
    const list = this.#store.list(prefix, {
      ...(signal === undefined ? {} : { signal }),
      // Every key `<seek>-…` sorts after the bare 16 hex digits.
      ...(seek === undefined ? {} : { startAfter: prefix + formatTxid(seek) }),
      ...(action === undefined ? {} : { action }),
    });
    for await (const entry of list) {
      if (!("key" in entry)) continue;
      const parsed = parseLtxFileName(entry.key.slice(prefix.length));
      if (parsed === undefined || (seek !== undefined && parsed.minTxid < seek)) continue;
      yield {
        level,
        minTxid: parsed.minTxid,
        maxTxid: parsed.maxTxid,
        size: entry.size,
        createdAt: entry.lastModified,
        ...(entry.etag === undefined ? {} : { etag: entry.etag }),
      };
    }
  }

  /**
   * Every level in one flat listing (keys `<level dir>/<min>-<max>.ltx`),
   * the body of `listAllLevels` for backends that offer it.
   * @throws {TypeError} when the layout has no `parseLevel`
   */
  async *listEveryLevel(options: SignalOptions = {}): AsyncGenerator<LtxFileInfo> {
    const parseLevel = this.#layout.parseLevel;
    if (parseLevel === undefined)
      throw new TypeError(
        `Cannot list every level of replica '${this.location}' at once: its layout lists level by level`,
      );
    const root = this.#layout.root ?? "";
    const action = this.#messages.listAll?.();
    const list = this.#store.list(root, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(action === undefined ? {} : { action }),
    });
    for await (const entry of list) {
      if (!("key" in entry)) continue;
      const m = /^([^/]+)\/([^/]+)$/.exec(entry.key.slice(root.length));
      const level = m === null ? undefined : parseLevel(m[1]!);
      const parsed = level === undefined || level > SNAPSHOT_LEVEL ? undefined : parseLtxFileName(m![2]!);
      if (parsed === undefined) continue;
      yield {
        level: level!,
        minTxid: parsed.minTxid,
        maxTxid: parsed.maxTxid,
        size: entry.size,
        createdAt: entry.lastModified,
      };
    }
  }

  /**
   * Reads a whole file, or `size` bytes from `offset` (fewer at the end of
   * the file, none past it).
   * @throws {NotFoundError} when the file does not exist
   * @throws {RangeError} when `offset` or `size` is not a non-negative integer
   */
  async readLtxFile(
    key: LtxFileKey,
    options: SignalOptions & { offset?: number; size?: number } = {},
  ): Promise<Uint8Array> {
    const { signal, offset = 0, size } = options;
    checkByteCount("read LTX file", "offset", offset);
    if (size !== undefined) checkByteCount("read LTX file", "size", size);
    return await this.#store.getBytes(this.#key(key), {
      ...(signal === undefined ? {} : { signal }),
      ...(offset === 0 && size === undefined
        ? {}
        : { range: { offset, ...(size === undefined ? {} : { length: size }) } }),
    });
  }

  /**
   * Streams a whole file in chunks, with its checksum record (from the
   * same GET on S3).
   * @throws {NotFoundError} when the file does not exist (before it returns)
   * @throws {CorruptFileError} when the record does not parse
   */
  async openLtxFile(key: LtxFileKey, options: SignalOptions = {}): Promise<LtxFileBody> {
    const body = await this.#store.get(this.#key(key), options);
    let checksums;
    try {
      checksums = checksumRecordOf(body.metadata, describe(this, key));
    } catch (err) {
      // Start and stop the body, so the store releases it (a file's descriptor, a response).
      for await (const _ of body) break;
      throw err;
    }
    return { checksums, [Symbol.asyncIterator]: () => body[Symbol.asyncIterator]() };
  }

  /**
   * Size and checksum record of a file (one HEAD on S3).
   * @throws {NotFoundError} when the file does not exist
   * @throws {CorruptFileError} when the record does not parse
   */
  async statLtxFile(key: LtxFileKey, options: SignalOptions = {}): Promise<LtxFileStat> {
    const info = await this.#store.head(this.#key(key), options);
    return { size: info.size, checksums: checksumRecordOf(info.metadata, describe(this, key)) };
  }

  /**
   * Writes a file in its NoChecksum form (see `ReplicaClient.writeLtxFile`),
   * with the LTX timestamp as metadata `litestream-timestamp` (RFC 3339)
   * and as the file mtime, and the checksum record as metadata
   * `litefleet-checksums`.
   * @throws {CorruptFileError} when the body is not a well-formed LTX file
   * @throws {ReplicaError} when the storage refuses the write
   */
  async writeLtxFile(key: LtxFileKey, body: LtxBody, options: WriteLtxFileOptions): Promise<LtxFileInfo> {
    const { signal, timestamp, throttle } = options;
    const stored = await toNoChecksum(body instanceof Uint8Array ? bytesSource(body) : body, describe(this, key));
    const checksums = stored.checksums ?? options.checksums;
    const { etag } = await this.#store.put(this.#key(key), stored.body, {
      metadata: {
        "litestream-timestamp": timestamp.toISOString(),
        ...(checksums === undefined ? {} : { [CHECKSUMS_METADATA]: formatChecksumRecord(checksums) }),
      },
      mtime: timestamp,
      ...(throttle === undefined ? {} : { throttle }),
      ...(signal === undefined ? {} : { signal }),
    });
    return {
      level: key.level,
      minTxid: key.minTxid,
      maxTxid: key.maxTxid,
      size: bodySize(body),
      createdAt: timestamp,
      ...(etag === undefined ? {} : { etag }),
    };
  }

  /** Deletes files; missing ones are ignored. */
  async deleteLtxFiles(keys: readonly LtxFileKey[], options: SignalOptions = {}): Promise<void> {
    const objectKeys = keys.map((key) => this.#key(key));
    if (objectKeys.length === 0) return;
    const action = this.#messages.deleteFiles?.(objectKeys.length);
    await this.#store.delete(objectKeys, { ...options, ...(action === undefined ? {} : { action }) });
  }

  /** Deletes every LTX file of every level (0 to 9); other objects beside the levels are left alone. */
  async deleteAll(options: SignalOptions = {}): Promise<void> {
    if (this.#layout.root !== undefined && this.#layout.root !== "") {
      await this.#store.deletePrefix(this.#layout.root, options);
      return;
    }
    for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
      const keys: string[] = [];
      for await (const info of listObjects(this.#store, this.#layout.levelPrefix(level), options)) {
        if (parseLtxFileName(info.key.slice(this.#layout.levelPrefix(level).length)) !== undefined) keys.push(info.key);
      }
      if (keys.length > 0) await this.#store.delete(keys, options);
    }
  }

  #key(key: LtxFileKey): string {
    return this.#layout.levelPrefix(key.level) + ltxFileNameOf(key);
  }
}
