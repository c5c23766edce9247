/**
 * Crash-safe local writes: a temp file in the same directory, fsync, rename,
 * fsync of the directory. A reader (or a restarted agent) sees the old file
 * or the new one, never a torn one.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  futimesSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
  type Dirent,
} from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Suffix of in-progress files; anything ending in it is garbage after a crash. */
export const TEMP_SUFFIX = ".tmp";

/**
 * Atomically writes `chunks` to `path`.
 * @throws {Error} from the file system; the temp file is removed on failure
 */
export async function atomicWrite(
  path: string,
  chunks: Uint8Array | readonly Uint8Array[],
  options: { mtime?: Date } = {},
): Promise<void> {
  const tmp = `${path}${TEMP_SUFFIX}`;
  const fh = await open(tmp, "w", 0o644);
  try {
    for (const chunk of chunks instanceof Uint8Array ? [chunks] : chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, done, chunk.length - done);
        done += bytesWritten;
      }
    }
    await fh.sync();
    if (options.mtime) await fh.utimes(options.mtime, options.mtime);
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** Flushes a directory entry change (rename, unlink) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` with `data` through a temp file and a rename, without any
 * fsync: a reader (or an agent restarted after a crash of the process) sees
 * the old content or the new, never a mix. After a power loss the file may
 * hold an older version, or be empty or missing, so use it only for files
 * a start can do without: ones it rebuilds or checks against something
 * durable (the agent's position and replica state files).
 * @throws {Error} from the file system; the temp file is removed on failure
 */
export function replaceFile(path: string, data: Uint8Array): void {
  const tmp = `${path}${TEMP_SUFFIX}`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * Largest content {@linkcode overwriteSmallFile} writes in place: one page
 * of the page cache. Linux copies a write into the page cache page by page
 * and may stop between pages for a fatal signal, never within one.
 */
export const IN_PLACE_MAX_BYTES = 4096;

/**
 * Rewrites a small state file in place, with one positional write at
 * offset 0 and no rename and no fsync: `data`, then `fill` bytes up to a
 * multiple of 512 (one disk sector holds a file of up to 512 bytes) and
 * at least to the file's current size, so no truncation is needed and no
 * old byte survives past the new content. The caller's format must read
 * trailing `fill` bytes as nothing (JSON: spaces).
 *
 * Why not temp file + rename ({@linkcode replaceFile}): on ext4 (the SD
 * cards and disks devices run), a rename over an existing file makes the
 * kernel allocate and start writing back the new file at once
 * (`auto_da_alloc`), which made the agent's per-capture state writes its
 * largest CPU cost (issue #13). An in-place overwrite of an allocated
 * block only dirties one page.
 *
 * What a reader sees: one write of at most {@linkcode IN_PLACE_MAX_BYTES}
 * at offset 0 is never torn by a crash of the process (the old content or
 * the new). After a power loss the file may hold the old content, the new,
 * or (on a device that tears sectors) a mix: use it only for files a start
 * checks against something durable and can do without, as for
 * {@linkcode replaceFile}. Content larger than
 * {@linkcode IN_PLACE_MAX_BYTES} goes through {@linkcode replaceFile}.
 * @throws {Error} from the file system
 */
export function overwriteSmallFile(path: string, data: Uint8Array, fill: number): void {
  if (data.length > IN_PLACE_MAX_BYTES) {
    replaceFile(path, data);
    return;
  }
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    const current = fstatSync(fd).size;
    const length = Math.max(Math.ceil(data.length / 512) * 512, current);
    const buf = new Uint8Array(length).fill(fill);
    buf.set(data);
    let done = 0;
    while (done < length) done += writeSync(fd, buf, done, length - done, done);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes every file ending in {@linkcode TEMP_SUFFIX} under `dir`, at any
 * depth: what writes cut off by a crash left behind. Run once, when the
 * directory is opened, never on a write path. A missing `dir` is fine.
 */
export function sweepTempFiles(dir: string): number {
  let removed = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) removed += sweepTempFiles(path);
    else if (e.name.endsWith(TEMP_SUFFIX)) {
      rmSync(path, { force: true });
      removed++;
    }
  }
  return removed;
}

/** Bytes `createAtomicFile` gathers before it writes them out. */
const WRITE_BUFFER_SIZE = 64 * 1024;

/** A file being written in place of `path`; see `createAtomicFile`. */
export interface AtomicFile {
  /** Appends bytes (synchronous, so encoders can stream into it). */
  write(chunk: Uint8Array): void;
  /** Bytes written so far. */
  readonly size: number;
  /** fsyncs, renames over `path` and fsyncs the directory. */
  commit(options?: { mtime?: Date }): void;
  /** Closes and removes the temp file (idempotent; a no-op after commit). */
  abort(): void;
}

/**
 * Starts a streamed atomic write: chunks go to `<path>.tmp`, which replaces
 * `path` only on `commit()`. Memory stays bounded by one chunk and a 64 KiB
 * write buffer.
 */
export function createAtomicFile(path: string): AtomicFile {
  const tmp = `${path}${TEMP_SUFFIX}`;
  const fd = openSync(tmp, "w", 0o644);
  let size = 0;
  let open = true;
  // Encoders hand over many small chunks (a header, one frame per page, the
  // index, the trailer): they are gathered into one write of up to
  // WRITE_BUFFER_SIZE instead of one system call each (issue #13).
  let buffer: Uint8Array | undefined;
  let buffered = 0;
  const writeAll = (bytes: Uint8Array): void => {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
  };
  const flush = (): void => {
    if (buffer === undefined || buffered === 0) return;
    writeAll(buffer.subarray(0, buffered));
    buffered = 0;
  };
  return {
    write(chunk) {
      if (chunk.length >= WRITE_BUFFER_SIZE) {
        flush();
        writeAll(chunk);
      } else {
        if (buffered + chunk.length > WRITE_BUFFER_SIZE) flush();
        buffer ??= new Uint8Array(WRITE_BUFFER_SIZE);
        buffer.set(chunk, buffered);
        buffered += chunk.length;
      }
      size += chunk.length;
    },
    get size() {
      return size;
    },
    commit(options = {}) {
      flush();
      fsyncSync(fd);
      if (options.mtime) futimesSync(fd, options.mtime, options.mtime);
      closeSync(fd);
      open = false;
      renameSync(tmp, path);
      const dfd = openSync(dirname(path), "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    },
    abort() {
      if (!open) return;
      open = false;
      closeSync(fd);
      rmSync(tmp, { force: true });
    },
  };
}
