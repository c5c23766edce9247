/**
 * A replica in a local (or mounted) directory:
 * `<dir>/ltx/<level decimal>/<min>-<max>.ltx`, file mtime = LTX timestamp.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat, utimes, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { parseLtxFileName } from "../ltx/file-name.ts";
import type { Txid } from "../ltx/txid.ts";
import { NotFoundError, ReplicaError, systemErrorText } from "../errors.ts";
import { bytesSource, chunksOf } from "../platform/byte-source.ts";
import { bodySize, type LtxBody, type LtxFileInfo, type LtxFileKey, type ReplicaClient, type SignalOptions, type WriteLtxFileOptions } from "./client.ts";
import { assertLevel, fileLevelDir, ltxFileNameOf } from "./layout.ts";
import type { FileReplicaSpec } from "./spec.ts";
import { pacedChunks, type ByteThrottle } from "./throttle.ts";

/** How many `stat` calls a listing runs at once. */
const STAT_CONCURRENCY = 64;

/** Bytes per chunk of an unpaced write or a streamed read. */
const READ_CHUNK_SIZE = 256 * 1024;

/** Bytes written per `throttle.take` when a write is paced. */
const PACED_CHUNK_SIZE = 64 * 1024;

/** Error codes that mean the directory is not usable by this process. */
const ACCESS_CODES = new Set(["EACCES", "EPERM", "EROFS"]);

/**
 * Stores LTX files in a directory tree. Writes are atomic (temp file in the
 * same directory, fsync, rename, fsync of the directory); the LTX timestamp
 * is kept as the file's mtime and returned as `createdAt` by listings.
 *
 * @example
 * ```ts
 * const client = new FileReplicaClient({ type: "file", path: "/backups/app" });
 * await client.init();
 * ```
 */
export class FileReplicaClient implements ReplicaClient {
  /** Always `file`. */
  readonly type = "file";
  /** The replica directory. */
  readonly location: string;
  readonly #dir: string;

  /** Creates a client for `spec.path`; no I/O happens until a method is called. */
  constructor(spec: FileReplicaSpec) {
    this.#dir = spec.path;
    this.location = spec.path;
  }

  /**
   * Creates the replica directory if needed.
   * @throws {ReplicaError} when it cannot be created or is not a directory
   */
  async init(options: SignalOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    try {
      await mkdir(join(this.#dir, "ltx"), { recursive: true });
    } catch (err) {
      throw this.#wrap(err, `open replica '${this.location}'`);
    }
  }

  /** Lists one level in ascending `minTxid` order; a missing level yields nothing. */
  async *listLtxFiles(
    level: number,
    options: SignalOptions & { seek?: Txid } = {},
  ): AsyncIterable<LtxFileInfo> {
    assertLevel(level);
    const { signal, seek } = options;
    signal?.throwIfAborted();
    const dir = fileLevelDir(this.#dir, level);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errorCode(err) === "ENOENT") return;
      throw this.#wrap(err, `list LTX files in '${dir}'`);
    }
    const entries = names
      .flatMap((name) => {
        const parsed = parseLtxFileName(name);
        return parsed === undefined ? [] : [{ name, ...parsed }];
      })
      .filter((e) => seek === undefined || e.minTxid >= seek)
      .sort((a, b) => compareBigint(a.minTxid, b.minTxid) || compareBigint(a.maxTxid, b.maxTxid));

    for (let i = 0; i < entries.length; i += STAT_CONCURRENCY) {
      signal?.throwIfAborted();
      const batch = entries.slice(i, i + STAT_CONCURRENCY);
      const infos = await Promise.all(
        batch.map(async (e): Promise<LtxFileInfo | undefined> => {
          const path = join(dir, e.name);
          try {
            const st = await stat(path);
            if (!st.isFile()) return undefined;
            return {
              level,
              minTxid: e.minTxid,
              maxTxid: e.maxTxid,
              size: st.size,
              createdAt: new Date(st.mtimeMs),
            };
          } catch (err) {
            // Deleted between readdir and stat (retention running concurrently).
            if (errorCode(err) === "ENOENT") return undefined;
            throw this.#wrap(err, `list LTX file '${path}'`);
          }
        }),
      );
      for (const info of infos) {
        if (info !== undefined) yield info;
      }
    }
  }

  /**
   * Reads a whole file, or `size` bytes from `offset` (fewer at end of file).
   * @throws {NotFoundError} when the file does not exist
   * @throws {RangeError} when `offset` or `size` is not a non-negative integer
   */
  async readLtxFile(
    key: LtxFileKey,
    options: SignalOptions & { offset?: number; size?: number } = {},
  ): Promise<Uint8Array> {
    const { signal, offset = 0, size } = options;
    assertByteCount("offset", offset);
    if (size !== undefined) assertByteCount("size", size);
    const path = this.#path(key);
    signal?.throwIfAborted();
    let fh;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if (errorCode(err) === "ENOENT") {
        throw new NotFoundError(`Cannot read LTX file '${path}': file does not exist`, {
          path,
          cause: err,
        });
      }
      throw this.#wrap(err, `read LTX file '${path}'`);
    }
    try {
      const total = (await fh.stat()).size;
      const start = Math.min(offset, total);
      const end = size === undefined ? total : Math.min(total, offset + size);
      const buf = new Uint8Array(end - start);
      let done = 0;
      while (done < buf.length) {
        signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    } catch (err) {
      throw this.#wrap(err, `read LTX file '${path}'`);
    } finally {
      await fh.close();
    }
  }

  /**
   * Writes a file atomically, replacing any file with the same key, and sets
   * its mtime to `timestamp`. With a `throttle` the temp file is written in
   * 64 KiB chunks, each after `throttle.take` (a mounted network share is
   * then paced like an upload).
   * @throws {ReplicaError} when the directory is not writable or the disk is full
   */
  async writeLtxFile(key: LtxFileKey, body: LtxBody, options: WriteLtxFileOptions): Promise<LtxFileInfo> {
    const { signal, timestamp, throttle } = options;
    const name = ltxFileNameOf(key);
    const dir = fileLevelDir(this.#dir, key.level);
    const path = join(dir, name);
    // A unique temp name, so concurrent writers of one key never share a temp file.
    const tmp = join(dir, `${name}.${randomBytes(6).toString("hex")}.tmp`);
    signal?.throwIfAborted();
    let created = false;
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, "w");
      created = true;
      try {
        await writeBody(fh, body, throttle, signal);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await utimes(tmp, timestamp, timestamp);
      signal?.throwIfAborted();
      await rename(tmp, path);
      await syncDir(dir);
    } catch (err) {
      // Best effort: the write's own error is the one to report, and a
      // leftover temp file is skipped by listings and removed by deleteAll.
      if (created) await rm(tmp, { force: true }).catch(() => undefined);
      throw this.#wrap(err, `write LTX file '${path}'`);
    }
    return {
      level: key.level,
      minTxid: key.minTxid,
      maxTxid: key.maxTxid,
      size: bodySize(body),
      createdAt: timestamp,
    };
  }

  /**
   * Streams a file in chunks of {@linkcode READ_CHUNK_SIZE} bytes.
   * @throws {NotFoundError} when the file does not exist
   */
  async openLtxFile(key: LtxFileKey, options: SignalOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const path = this.#path(key);
    options.signal?.throwIfAborted();
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if (errorCode(err) === "ENOENT") {
        throw new NotFoundError(`Cannot read LTX file '${path}': file does not exist`, { path, cause: err });
      }
      throw this.#wrap(err, `read LTX file '${path}'`);
    }
    const wrap = (err: unknown): unknown => this.#wrap(err, `read LTX file '${path}'`);
    return (async function* () {
      try {
        for (;;) {
          options.signal?.throwIfAborted();
          const buf = new Uint8Array(READ_CHUNK_SIZE);
          let n: number;
          try {
            n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
          } catch (err) {
            throw wrap(err);
          }
          if (n === 0) return;
          yield n === buf.length ? buf : buf.subarray(0, n);
        }
      } finally {
        await fh.close();
      }
    })();
  }

  /** Deletes files; missing ones are ignored. */
  async deleteLtxFiles(keys: readonly LtxFileKey[], options: SignalOptions = {}): Promise<void> {
    const paths = keys.map((key) => this.#path(key));
    for (const path of paths) {
      options.signal?.throwIfAborted();
      try {
        await rm(path, { force: true });
      } catch (err) {
        throw this.#wrap(err, `delete LTX file '${path}'`);
      }
    }
  }

  /** Deletes the whole `<dir>/ltx` tree (every level); the directory itself stays. */
  async deleteAll(options: SignalOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const ltxDir = join(this.#dir, "ltx");
    try {
      await rm(ltxDir, { recursive: true, force: true });
    } catch (err) {
      throw this.#wrap(err, `delete LTX files in '${ltxDir}'`);
    }
  }

  #path(key: LtxFileKey): string {
    return join(fileLevelDir(this.#dir, key.level), ltxFileNameOf(key));
  }

  /**
   * Maps a file system error to what callers branch on: permission and
   * disk-full problems become `ReplicaError` with a hint; anything else is
   * wrapped with the action that failed. Aborts pass through unchanged.
   */
  #wrap(err: unknown, action: string): unknown {
    if (isAbort(err)) return err;
    const code = errorCode(err);
    // Node's message starts with the code already ("EACCES: permission denied, …").
    const message = `Cannot ${action}: ${systemErrorText(err)}`;
    if (code !== undefined && ACCESS_CODES.has(code)) {
      return new ReplicaError(message, {
        replica: this.location,
        hint:
          code === "EROFS"
            ? `Remount the file system holding '${this.#dir}' read-write, or replicate to a directory on a writable one`
            : `Check that the user running litefleet can write to '${this.#dir}'`,
        cause: err,
      });
    }
    if (code === "ENOSPC" || code === "EDQUOT") {
      return new ReplicaError(message, {
        replica: this.location,
        hint: `Free space on the file system holding '${this.#dir}'`,
        cause: err,
      });
    }
    if (code === "ENOTDIR" || code === "EEXIST") {
      return new ReplicaError(message, {
        replica: this.location,
        hint: `Check that '${this.#dir}' is a directory and not a file`,
        cause: err,
      });
    }
    return new Error(message, { cause: err });
  }
}

/** Writes `body` from the start of `fh` in chunks released by `throttle`. */
/** Writes `body` in chunks, each after `throttle.take` when there is a throttle. */
async function writeBody(
  fh: FileHandle,
  body: LtxBody,
  throttle: ByteThrottle | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const source = body instanceof Uint8Array ? bytesSource(body) : body;
  const chunks = throttle === undefined
    ? chunksOf(source, READ_CHUNK_SIZE)
    : pacedChunks(source, throttle, { chunkSize: PACED_CHUNK_SIZE, ...(signal === undefined ? {} : { signal }) });
  for await (const chunk of chunks) {
    // `write` may write less than asked; finish each chunk before the next take.
    for (let done = 0; done < chunk.byteLength; ) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.byteLength - done);
      done += bytesWritten;
    }
  }
}

/** Flushes a directory entry (the rename) to disk. Windows cannot open directories. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function assertByteCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot read LTX file: '${name}' must be a non-negative integer, got '${value}'`);
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") {
    return err.code;
  }
  return undefined;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
