/**
 * Bodies that are read in pieces and may be read more than once (a retried
 * request, one multipart part at a time), so an upload never needs the
 * whole body in memory: a local file read at offsets, or bytes already in
 * memory.
 *
 * @module
 */

import { open, type FileHandle } from "node:fs/promises";

/** A body of known size read at offsets. */
export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes starting at `offset`; `offset + length` must not
   * exceed `size`. The result may be a view the caller must not keep past
   * the next read.
   * @throws {RangeError} when the range is outside the body or the body got shorter
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A `ByteSource` over a file, holding its descriptor until `close`. */
export interface FileSource extends ByteSource, AsyncDisposable {
  readonly path: string;
  close(): Promise<void>;
}

function checkRange(source: { size: number }, offset: number, length: number, what: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > source.size
  ) {
    throw new RangeError(`Cannot read ${length} bytes at ${offset} of ${what}: it has ${source.size} bytes`);
  }
}

/** A `ByteSource` over bytes in memory (reads are views, no copies). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  const source: ByteSource = {
    size: bytes.byteLength,
    read(offset, length) {
      checkRange(source, offset, length, "an in-memory body");
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
  return source;
}

/**
 * Opens `path` as a `ByteSource` of its size at opening. The file must not
 * change while it is read (local LTX files never do once written).
 * @throws the file system's error when the file cannot be opened
 */
export async function openFileSource(path: string): Promise<FileSource> {
  const fh: FileHandle = await open(path, "r");
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  let closed = false;
  const source: FileSource = {
    path,
    size,
    async read(offset, length) {
      checkRange(source, offset, length, `'${path}'`);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new RangeError(`Cannot read '${path}': it ended at ${offset + done} of ${size} bytes`);
        done += bytesRead;
      }
      return buf;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
    [Symbol.asyncDispose]() {
      return source.close();
    },
  };
  return source;
}

/**
 * Yields `source` in chunks of at most `chunkSize` bytes, from `start` to
 * `end` (default: the whole body).
 */
export async function* chunksOf(
  source: ByteSource,
  chunkSize: number,
  start = 0,
  end = source.size,
): AsyncGenerator<Uint8Array> {
  for (let at = start; at < end; at += chunkSize) yield await source.read(at, Math.min(chunkSize, end - at));
}

/** Bytes that replace a stretch of a body in {@linkcode overlaySource}. */
export interface BytePatch {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/**
 * `source` with the bytes of each patch in place of its own (same size):
 * reads that touch a patch get a fresh copy with the patch applied, the
 * others `source`'s own result.
 * @throws {RangeError} when a patch lies outside the body
 */
export function overlaySource(source: ByteSource, patches: readonly BytePatch[]): ByteSource {
  for (const p of patches) checkRange(source, p.offset, p.bytes.byteLength, "a patched body");
  const patched: ByteSource = {
    size: source.size,
    async read(offset, length) {
      checkRange(patched, offset, length, "a patched body");
      const hits = patches.filter((p) => p.offset < offset + length && p.offset + p.bytes.byteLength > offset);
      const own = await source.read(offset, length);
      if (hits.length === 0) return own;
      const out = own.slice();
      for (const p of hits) {
        const from = Math.max(p.offset, offset);
        const to = Math.min(p.offset + p.bytes.byteLength, offset + length);
        out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - offset);
      }
      return out;
    },
  };
  return patched;
}
