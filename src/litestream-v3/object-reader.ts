/**
 * Reads Litestream v0.3 objects (each one LZ4 frame: a snapshot of the
 * whole database, or a WAL segment) in pieces: the object is streamed from
 * its store, decoded block by block (`ltx/lz4-frame.ts`, 4 MiB blocks as
 * v0.3 writes them) and its XXH32 content checksum computed on the way,
 * so memory is bounded by one block, never by the object.
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { Lz4FrameDecoder } from "../ltx/lz4-frame.ts";
import { GarbagePacer } from "../platform/gc.ts";
import { writeAll } from "../sqlite/staged-database.ts";
import type { V3Storage } from "./layout.ts";
import { createXxh32 } from "./lz4-checksum.ts";

/** Bytes of the database header needed for its page size. */
const DB_HEADER_SIZE = 100;

/** The page size in a database image's header, or 0 for an image too short to have one. */
export function snapshotPageSize(image: Uint8Array): number {
  if (image.length < DB_HEADER_SIZE) return 0;
  const raw = (image[16]! << 8) | image[17]!;
  return raw === 1 ? 65536 : raw;
}

/** Formats a 32-bit checksum as 8 hex digits. */
export function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * Streams and decompresses v0.3 objects, verifying each LZ4 frame's
 * content checksum, and counts what it read.
 */
export class V3ObjectReader {
  readonly #storage: V3Storage;
  // Every chunk read is garbage once decoded: collect every 8 MiB moved,
  // so the resident set stays near the block buffers (measured on a 64 MiB
  // snapshot: the default 16 MiB leaves about 8 MiB more resident).
  readonly #pacer = new GarbagePacer(8 * 1024 * 1024);
  /** Objects read. */
  files = 0;
  /** Compressed bytes read. */
  bytes = 0;

  constructor(storage: V3Storage) {
    this.#storage = storage;
  }

  /**
   * Yields the decompressed content of the object at `rel`, block by
   * block. Each chunk is a view valid only until the next is asked for.
   * The content checksum is checked after the last block, so a consumer
   * must treat what it wrote as unverified until the iteration ends.
   * @throws {NotFoundError} when the object does not exist
   * @throws {CorruptFileError} when it does not decompress
   * @throws {ChecksumMismatchError} when its content checksum does not match
   */
  async *open(rel: string): AsyncGenerator<Uint8Array, void, undefined> {
    const decoder = new Lz4FrameDecoder({ hasher: await createXxh32() });
    const corrupt = (err: unknown) =>
      new CorruptFileError(`Cannot decompress '${rel}': ${(err as Error).message}`, { path: rel, cause: err });
    const body = await this.#storage.open(rel);
    this.files++;
    for await (const chunk of body) {
      this.bytes += chunk.length;
      this.#pacer.add(chunk.length);
      // Each block is handed on before the next is decoded: the decoder
      // reuses its output buffer. Only the decoder's errors land in `catch`.
      try {
        for (const content of decoder.push(chunk)) yield content;
      } catch (err) {
        throw corrupt(err);
      }
      if (decoder.done) break;
    }
    let end;
    try {
      end = decoder.end();
    } catch (err) {
      throw corrupt(err);
    }
    const sum = end.contentChecksum;
    if (sum && sum.expected !== sum.actual) {
      throw new ChecksumMismatchError(
        `Cannot decompress '${rel}': LZ4 content checksum ${hex32(sum.actual)} does not match the frame's ${hex32(sum.expected)}`,
        { path: rel, expected: BigInt(sum.expected), actual: BigInt(sum.actual) },
      );
    }
  }

  /**
   * Writes the snapshot at `rel` from the start of the file open at `fd`
   * (truncating it to the snapshot's size), one block at a time.
   * @returns the database size in bytes and its page size (0 for an empty database)
   * @throws as {@linkcode V3ObjectReader.open} does
   */
  async writeSnapshot(fd: number, rel: string): Promise<{ size: number; pageSize: number }> {
    let size = 0;
    const header = new Uint8Array(DB_HEADER_SIZE);
    for await (const content of this.open(rel)) {
      if (size < DB_HEADER_SIZE) header.set(content.subarray(0, DB_HEADER_SIZE - size), size);
      writeAll(fd, content, size);
      size += content.length;
    }
    ftruncateSync(fd, size);
    return { size, pageSize: snapshotPageSize(size < DB_HEADER_SIZE ? header.subarray(0, size) : header) };
  }
}
