/**
 * An `ObjectStore` over a local (or mounted) directory: key `a/b/c` is the
 * file `<root>/a/b/c`. Writes are atomic (a unique temp file in the same
 * directory, fsync, rename, fsync of the directory); a write's `mtime`
 * becomes the file's mtime; user metadata goes to a sidecar file
 * `<name>.meta.json` (a JSON object of strings) beside the object, renamed
 * into place before the object so a visible object never lacks the sidecar
 * of its write. Sidecars are never listed as objects; a write without
 * metadata removes the sidecar of an earlier one, `delete` removes it with
 * the object. Another tool that rewrites an object without knowing of the
 * sidecar leaves it beside the new bytes: readers of metadata must bind it
 * to the bytes it describes (the LTX checksum record does, by the file
 * checksum).
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { CorruptFileError, NotFoundError, ReplicaError, systemErrorText } from "../../errors.ts";
import { bytesSource, chunksOf } from "../../platform/byte-source.ts";
import type { LtxBody, SignalOptions } from "../client.ts";
import {
  checkByteCount,
  type GetOptions,
  type ListEntry,
  type ListOptions,
  type ObjectBody,
  type ObjectInfo,
  type ObjectMetadata,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from "../object-store.ts";
import { pacedChunks, type ByteThrottle } from "../throttle.ts";

/** How many `stat` calls a listing runs at once. */
const STAT_CONCURRENCY = 64;

/** Bytes per chunk of an unpaced write or a streamed read. */
const CHUNK_SIZE = 256 * 1024;

/** Bytes written per `throttle.take` when a write is paced. */
const PACED_CHUNK_SIZE = 64 * 1024;

/** Error codes that mean the directory is not usable by this process. */
const ACCESS_CODES = new Set(["EACCES", "EPERM", "EROFS"]);

/** The temp files of `put` (`<name>.<12 hex>.tmp`), never listed. */
const TEMP_NAME = /\.[0-9a-f]{12}\.tmp$/;

/** What a sidecar's name adds to its object's: `<name>.meta.json`, never listed. */
const SIDECAR_SUFFIX = ".meta.json";

/** Options of `FileObjectStore`. */
export interface FileObjectStoreOptions {
  /** A directory under the root that `init` creates too (the LTX layout's `ltx`). */
  readonly initDir?: string;
}

/**
 * Objects as files under a root directory.
 *
 * @example
 * ```ts
 * const store = new FileObjectStore("/backups/app");
 * await store.put("ltx/0/0000000000000001-0000000000000001.ltx", bytes, { mtime: new Date() });
 * ```
 */
export class FileObjectStore implements ObjectStore {
  readonly type = "file";
  /** The root directory. */
  readonly location: string;
  readonly #root: string;
  readonly #initDir: string | undefined;

  /** Creates a store for `root`; no I/O happens until a method is called. */
  constructor(root: string, options: FileObjectStoreOptions = {}) {
    this.#root = root;
    this.location = root;
    this.#initDir = options.initDir;
  }

  /** The file of `key`. */
  pathOf(key: string): string {
    return key === "" ? this.#root : join(this.#root, ...key.split("/"));
  }

  /**
   * Creates the root (and `initDir`) if needed.
   * @throws {ReplicaError} when it cannot be created or is not a directory
   */
  async init(options: SignalOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    try {
      await mkdir(this.#initDir === undefined ? this.#root : this.pathOf(this.#initDir), { recursive: true });
    } catch (err) {
      throw this.#wrap(err, `open replica '${this.location}'`);
    }
  }

  /** Whether the root directory exists. */
  async rootExists(options: SignalOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted();
    try {
      return (await stat(this.#root)).isDirectory();
    } catch (err) {
      if (errorCode(err) === "ENOENT") return false;
      throw this.#wrap(err, `open '${this.location}'`);
    }
  }

  /**
   * Lists files (and, delimited, directories as common prefixes) in key
   * byte order; a missing directory yields nothing. Temp files of
   * unfinished writes are skipped.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    const slash = prefix.lastIndexOf("/");
    const dirKey = prefix.slice(0, slash + 1);
    yield* this.#walk(dirKey, prefix.slice(slash + 1), options);
  }

  async *#walk(dirKey: string, namePrefix: string, options: ListOptions): AsyncGenerator<ListEntry> {
    const { signal, delimiter, startAfter } = options;
    signal?.throwIfAborted();
    const dir = this.pathOf(dirKey.replace(/\/$/, ""));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (errorCode(err) === "ENOENT") return;
      throw this.#wrap(err, `list '${dir}'`);
    }
    const candidates = names.filter(
      (n) => n.startsWith(namePrefix) && !TEMP_NAME.test(n) && !n.endsWith(SIDECAR_SUFFIX),
    );
    const entries: { name: string; dir: boolean; info?: ObjectInfo }[] = [];
    for (let i = 0; i < candidates.length; i += STAT_CONCURRENCY) {
      signal?.throwIfAborted();
      const batch = await Promise.all(
        candidates.slice(i, i + STAT_CONCURRENCY).map(async (name) => {
          const key = dirKey + name;
          try {
            const st = await stat(join(dir, name));
            if (st.isDirectory()) return { name, dir: true };
            if (!st.isFile()) return undefined;
            return { name, dir: false, info: { key, size: st.size, lastModified: new Date(st.mtimeMs) } };
          } catch (err) {
            // Deleted between readdir and stat (retention running concurrently).
            if (errorCode(err) === "ENOENT") return undefined;
            throw this.#wrap(err, `list '${join(dir, name)}'`);
          }
        }),
      );
      for (const e of batch) if (e !== undefined) entries.push(e);
    }
    // A directory's keys all start with `<name>/`: sort it by that.
    const sortKey = (e: { name: string; dir: boolean }): Buffer => Buffer.from(e.dir ? `${e.name}/` : e.name);
    entries.sort((a, b) => Buffer.compare(sortKey(a), sortKey(b)));
    for (const e of entries) {
      const key = dirKey + e.name;
      if (!e.dir) {
        if (startAfter === undefined || Buffer.compare(Buffer.from(key), Buffer.from(startAfter)) > 0) yield e.info!;
      } else if (delimiter !== undefined) {
        const prefix = `${key}/`;
        if (startAfter === undefined || Buffer.compare(Buffer.from(prefix), Buffer.from(startAfter)) > 0)
          yield { prefix };
      } else {
        yield* this.#walk(`${key}/`, "", options);
      }
    }
  }

  /**
   * Streams a file (or a range of it) in chunks of 256 KiB, with the
   * metadata of its sidecar (read after the file is opened).
   * @throws {NotFoundError} when the file does not exist
   * @throws {CorruptFileError} when its sidecar is not a JSON object of strings
   */
  async get(key: string, options: GetOptions = {}): Promise<ObjectBody> {
    const { signal, range } = options;
    if (range !== undefined) {
      checkByteCount("read object", "offset", range.offset);
      if (range.length !== undefined) checkByteCount("read object", "size", range.length);
    }
    const path = this.pathOf(key);
    const fh = await this.#open(path, signal);
    let metadata: ObjectMetadata;
    try {
      metadata = await this.#readSidecar(path);
    } catch (err) {
      await fh.close();
      throw err;
    }
    const wrap = (err: unknown): unknown => this.#wrap(err, `read '${path}'`);
    let position = range?.offset ?? 0;
    let left = range?.length ?? Number.POSITIVE_INFINITY;
    const chunks = (async function* () {
      try {
        while (left > 0) {
          signal?.throwIfAborted();
          const buf = new Uint8Array(Math.min(CHUNK_SIZE, left));
          let n: number;
          try {
            n = (await fh.read(buf, 0, buf.length, position)).bytesRead;
          } catch (err) {
            throw wrap(err);
          }
          if (n === 0) return;
          position += n;
          left -= n;
          yield n === buf.length ? buf : buf.subarray(0, n);
        }
      } finally {
        await fh.close();
      }
    })();
    return { metadata, [Symbol.asyncIterator]: () => chunks };
  }

  /**
   * Reads a file, or a range of it (fewer bytes at the end, none past it).
   * @throws {NotFoundError} when the file does not exist
   */
  async getBytes(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    const { signal, range } = options;
    const offset = range?.offset ?? 0;
    checkByteCount("read object", "offset", offset);
    if (range?.length !== undefined) checkByteCount("read object", "size", range.length);
    const path = this.pathOf(key);
    const fh = await this.#open(path, signal);
    try {
      const total = (await fh.stat()).size;
      const start = Math.min(offset, total);
      const end = range?.length === undefined ? total : Math.min(total, offset + range.length);
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
      throw this.#wrap(err, `read '${path}'`);
    } finally {
      await fh.close();
    }
  }

  /**
   * Size, mtime and sidecar metadata of a file.
   * @throws {NotFoundError} when it does not exist
   * @throws {CorruptFileError} when its sidecar is not a JSON object of strings
   */
  async head(key: string, options: SignalOptions = {}): Promise<ObjectInfo> {
    options.signal?.throwIfAborted();
    const path = this.pathOf(key);
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path);
      if (!st.isFile()) throw Object.assign(new Error(`ENOENT: not a file, stat '${path}'`), { code: "ENOENT" });
    } catch (err) {
      if (errorCode(err) === "ENOENT") throw notFound(path, err);
      throw this.#wrap(err, `read '${path}'`);
    }
    return { key, size: st.size, lastModified: new Date(st.mtimeMs), metadata: await this.#readSidecar(path) };
  }

  /** The metadata in the sidecar of the file at `path` (none without one). */
  async #readSidecar(path: string): Promise<ObjectMetadata> {
    const sidecar = path + SIDECAR_SUFFIX;
    let text: string;
    try {
      text = await readFile(sidecar, "utf8");
    } catch (err) {
      if (errorCode(err) === "ENOENT") return {};
      throw this.#wrap(err, `read '${sidecar}'`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const isRecord =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => typeof v === "string");
    if (!isRecord) {
      throw new CorruptFileError(
        `Cannot read the metadata of '${path}': its sidecar '${sidecar}' is not a JSON object of strings; ` +
          "delete the sidecar to read the object without metadata",
        { path: sidecar },
      );
    }
    return parsed as ObjectMetadata;
  }

  /**
   * Writes a file atomically, replacing any file with the same key, and
   * sets its mtime to `mtime`; `metadata` goes to the sidecar, renamed into
   * place just before the file (without metadata, an earlier sidecar is
   * removed first). With a `throttle` the temp file is written
   * in 64 KiB chunks, each after `throttle.take` (a mounted network share
   * is then paced like an upload).
   * @throws {ReplicaError} when the directory is not writable or the disk is full
   */
  async put(key: string, body: LtxBody, options: PutOptions = {}): Promise<PutResult> {
    const { signal, mtime, throttle, metadata = {} } = options;
    const path = this.pathOf(key);
    const slash = key.lastIndexOf("/");
    const dir = slash < 0 ? this.#root : this.pathOf(key.slice(0, slash));
    // A unique temp name, so concurrent writers of one key never share a temp file.
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
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
      if (mtime !== undefined) await utimes(tmp, mtime, mtime);
      signal?.throwIfAborted();
      await this.#writeSidecar(path, metadata);
      await rename(tmp, path);
      await syncDir(dir);
      return {};
    } catch (err) {
      // Best effort: the write's own error is the one to report, and a
      // leftover temp file is skipped by listings.
      if (created) await rm(tmp, { force: true }).catch(() => undefined);
      throw this.#wrap(err, `write '${path}'`);
    }
  }

  /**
   * Puts `metadata` in the sidecar of `path` (temp file, fsync, rename), or
   * removes the sidecar when there is none.
   */
  async #writeSidecar(path: string, metadata: ObjectMetadata): Promise<void> {
    const sidecar = path + SIDECAR_SUFFIX;
    if (Object.keys(metadata).length === 0) {
      await rm(sidecar, { force: true });
      return;
    }
    const tmp = `${sidecar}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(`${JSON.stringify(metadata)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, sidecar);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Deletes files (and their sidecars); missing ones are ignored. */
  async delete(keys: readonly string[], options: SignalOptions = {}): Promise<void> {
    for (const key of keys) {
      options.signal?.throwIfAborted();
      const path = this.pathOf(key);
      try {
        await rm(path, { force: true });
        await rm(path + SIDECAR_SUFFIX, { force: true });
      } catch (err) {
        throw this.#wrap(err, `delete '${path}'`);
      }
    }
  }

  /** Deletes the directory of `prefix` (`a/b/`) with everything in it, temp files included. */
  async deletePrefix(prefix: string, options: SignalOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const path = this.pathOf(prefix.replace(/\/$/, ""));
    try {
      await rm(path, { recursive: true, force: true });
    } catch (err) {
      throw this.#wrap(err, `delete '${path}'`);
    }
  }

  async #open(path: string, signal: AbortSignal | undefined): Promise<FileHandle> {
    signal?.throwIfAborted();
    try {
      return await open(path, "r");
    } catch (err) {
      if (errorCode(err) === "ENOENT") throw notFound(path, err);
      throw this.#wrap(err, `read '${path}'`);
    }
  }

  /**
   * Maps a file system error to what callers branch on: permission and
   * disk-full problems become `ReplicaError` with a hint; anything else is
   * wrapped with the action that failed. Aborts pass through unchanged.
   */
  #wrap(err: unknown, action: string): unknown {
    if (
      err instanceof Error &&
      (err.name === "AbortError" || err instanceof ReplicaError || err instanceof NotFoundError)
    )
      return err;
    const code = errorCode(err);
    // Node's message starts with the code already ("EACCES: permission denied, …").
    const message = `Cannot ${action}: ${systemErrorText(err)}`;
    const replica = this.location;
    if (code !== undefined && ACCESS_CODES.has(code)) {
      return new ReplicaError(message, {
        replica,
        hint:
          code === "EROFS"
            ? `Remount the file system holding '${this.#root}' read-write, or replicate to a directory on a writable one`
            : `Check that the user running litefleet can write to '${this.#root}'`,
        cause: err,
      });
    }
    if (code === "ENOSPC" || code === "EDQUOT") {
      return new ReplicaError(message, {
        replica,
        hint: `Free space on the file system holding '${this.#root}'`,
        cause: err,
      });
    }
    if (code === "ENOTDIR" || code === "EEXIST") {
      return new ReplicaError(message, {
        replica,
        hint: `Check that '${this.#root}' is a directory and not a file`,
        cause: err,
      });
    }
    return new Error(message, { cause: err });
  }
}

function notFound(path: string, cause: unknown): NotFoundError {
  return new NotFoundError(`Cannot read '${path}': file does not exist`, { path, cause });
}

/** Writes `body` in chunks, each after `throttle.take` when there is a throttle. */
async function writeBody(
  fh: FileHandle,
  body: LtxBody,
  throttle: ByteThrottle | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const source = body instanceof Uint8Array ? bytesSource(body) : body;
  const chunks =
    throttle === undefined
      ? chunksOf(source, CHUNK_SIZE)
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

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}
