/**
 * Reads LTX v3 files through a random-access reader: bytes in memory
 * ({@linkcode decodeLtxFile}) or a local file read at offsets
 * ({@linkcode openLtxFileAt}), so memory is the page index (12 bytes a page,
 * {@linkcode PageIndex}) and one frame, never the file. The header, trailer and page index are read and
 * cross-checked up front; each frame is read and decompressed when needed,
 * and the file checksum is verified when {@linkcode LtxFile.pages} runs to
 * the end. Both page encodings are read: current (page flag 0x0001, u32 size +
 * LZ4 block) and legacy (page flag 0x0000, one LZ4 frame per page).
 *
 * Any malformed input throws {@linkcode CorruptFileError} naming the path
 * and byte offset; no raw `RangeError` from slicing escapes.
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { lz4DecompressBlockInto, lz4DecompressFrame } from "./lz4-frame.ts";
import { bytesReader, openFileReader, type RandomAccessReader } from "../platform/random-access.ts";
import { CHECKSUM_FLAG, Crc64, lockPageNumber, pageChecksum } from "./checksum.ts";
import {
  decodeHeader,
  HEADER_SIZE,
  hasNoChecksum,
  hex64,
  isSnapshot,
  PAGE_FLAG_SIZE,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  validateTrailer,
} from "./header.ts";
import type { LtxHeader, LtxTrailer } from "./header.ts";
import { PageIndex } from "./page-index.ts";

/** Options for {@linkcode decodeLtxFile} and {@linkcode verifyLtxFile}. */
export interface DecodeLtxOptions {
  /** Names the file in errors. */
  path: string;
  /**
   * Marks corruption errors as auto-recoverable (the file is a local copy
   * that can be rebuilt).
   * @default {false}
   */
  autoRecoverable?: boolean;
}

/** Bytes from the end of a file to its page index size field (u64 BE), which the trailer follows. */
export const INDEX_SIZE_FROM_END = TRAILER_SIZE + 8;
/** The smallest possible file: header, end marker, empty index, index size, trailer. */
export const MIN_FILE_SIZE = HEADER_SIZE + PAGE_HEADER_SIZE + 1 + INDEX_SIZE_FROM_END;

/**
 * A decoded LTX file. Create one with {@linkcode decodeLtxFile} (bytes in
 * memory) or {@linkcode openLtxFileAt} (a local file, which must be closed).
 */
export class LtxFile implements Disposable {
  /** The file header. */
  readonly header: LtxHeader;
  /** The file trailer, as stored (verified only by {@linkcode LtxFile.pages}). */
  readonly trailer: LtxTrailer;
  /** The page index, ascending by page number (which is also file order). */
  readonly pageIndex: PageIndex;
  #reader: RandomAccessReader;
  #headerBytes: Uint8Array;
  #options: DecodeLtxOptions;
  #endMarkerOffset: number;

  /** Use {@linkcode decodeLtxFile} or {@linkcode openLtxFileAt}, which check the parts they pass in. */
  constructor(
    reader: RandomAccessReader,
    parts: {
      headerBytes: Uint8Array;
      header: LtxHeader;
      trailer: LtxTrailer;
      pageIndex: PageIndex;
      endMarkerOffset: number;
      options: DecodeLtxOptions;
    },
  ) {
    this.#reader = reader;
    this.#headerBytes = parts.headerBytes;
    this.header = parts.header;
    this.trailer = parts.trailer;
    this.pageIndex = parts.pageIndex;
    this.#endMarkerOffset = parts.endMarkerOffset;
    this.#options = parts.options;
  }

  /** The path given when decoding, used in errors. */
  get path(): string {
    return this.#options.path;
  }

  /** A new array of the page numbers in the file, ascending (one number per page: for tests and tools). */
  get pageNumbers(): number[] {
    return this.pageIndex.pageNumbers();
  }

  /** The file size in bytes. */
  get size(): number {
    return this.#reader.size;
  }

  /** Releases the file's descriptor (nothing for bytes in memory); calling it again does nothing. */
  close(): void {
    this.#reader.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Decompresses one page, found through the page index. This does not
   * verify the file checksum; use {@linkcode LtxFile.pages} for that.
   *
   * @returns a new array of `header.pageSize` bytes
   * @throws {RangeError} when the file does not contain page `pgno`
   * @throws {CorruptFileError} when the frame is malformed
   */
  page(pgno: number): Uint8Array {
    const i = this.pageIndex.find(pgno);
    if (i < 0) {
      throw new RangeError(`Cannot read LTX page ${pgno}: file '${this.path}' does not contain it`);
    }
    return this.#decodeFrame(i).data;
  }

  /**
   * Yields every page in file order. After the last page it checks the file
   * checksum (and, for snapshots that track checksums, the post-apply
   * checksum against the pages), so callers must consume it to the end.
   *
   * @throws {CorruptFileError} when a frame is malformed
   * @throws {ChecksumMismatchError} when the file or post-apply checksum does not match
   */
  *pages(): Generator<{ pgno: number; data: Uint8Array }, void, undefined> {
    const crc = new Crc64().update(this.#headerBytes);
    const trackDatabase = isSnapshot(this.header) && !hasNoChecksum(this.header);
    // Go's decoder folds `flag | (cs ^ page)` from `flag`; the result is
    // the flag on the XOR of all page checksums, even with no pages.
    let pageXor = 0n;
    const index = this.pageIndex;
    for (let i = 0; i < index.length; i++) {
      const pgno = index.pgno(i);
      const { data, prefix } = this.#decodeFrame(i);
      // Hashed: page header, size prefix (current encoding only) and the
      // uncompressed page, never the compressed bytes.
      crc.update(prefix);
      crc.update(data);
      if (trackDatabase) pageXor ^= pageChecksum(pgno, data);
      yield { pgno, data };
    }
    const size = this.#reader.size;
    crc.update(this.#read(this.#endMarkerOffset, size - 8 - this.#endMarkerOffset));
    const actual = CHECKSUM_FLAG | crc.digest();
    if (actual !== this.trailer.fileChecksum) {
      throw new ChecksumMismatchError(
        `Cannot verify LTX file '${this.path}': file checksum is ${hex64(actual)}, trailer says ${hex64(
          this.trailer.fileChecksum,
        )}`,
        { path: this.path, expected: this.trailer.fileChecksum, actual },
      );
    }
    const databaseChecksum = CHECKSUM_FLAG | pageXor;
    if (trackDatabase && databaseChecksum !== this.trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(
        `Cannot verify LTX snapshot '${this.path}': pages have database checksum ${hex64(
          databaseChecksum,
        )}, trailer says ${hex64(this.trailer.postApplyChecksum)}`,
        { path: this.path, expected: this.trailer.postApplyChecksum, actual: databaseChecksum },
      );
    }
  }

  #corrupt(offset: number, state: string, cause?: unknown): CorruptFileError {
    return corruptError(this.#options, offset, state, cause);
  }

  /** Reads bytes the layout checks placed inside the file; a file that shrank since is corrupt. */
  #read(offset: number, length: number): Uint8Array {
    try {
      return this.#reader.read(offset, length);
    } catch (err) {
      throw this.#corrupt(offset, `cannot read ${length} bytes: ${errorText(err)}`, err);
    }
  }

  /** Decodes the frame of page index entry `i`; `prefix` is its leading bytes that are hashed. */
  #decodeFrame(i: number): { data: Uint8Array; prefix: Uint8Array } {
    const index = this.pageIndex;
    const pgno = index.pgno(i);
    const offset = index.offset(i);
    const size = index.size(i);
    const { pageSize } = this.header;
    // The decoder checked that every frame lies inside the page block and
    // is longer than a page header. Offsets below are local to the frame.
    const frame = this.#read(offset, size);
    const view = new DataView(frame.buffer, frame.byteOffset, size);
    const framePgno = view.getUint32(0);
    const flags = view.getUint16(4);
    if (framePgno !== pgno) {
      throw this.#corrupt(offset, `frame holds page ${framePgno} but the index says page ${pgno}`);
    }
    if (flags === PAGE_FLAG_SIZE) {
      if (size < PAGE_HEADER_SIZE + 4) throw this.#corrupt(offset, "frame is too short for a size prefix");
      const blockSize = view.getUint32(PAGE_HEADER_SIZE);
      if (blockSize !== size - PAGE_HEADER_SIZE - 4) {
        throw this.#corrupt(
          offset + PAGE_HEADER_SIZE,
          `page ${pgno} block size ${blockSize} disagrees with index frame size ${size}`,
        );
      }
      const blockStart = PAGE_HEADER_SIZE + 4;
      try {
        // The same decoder as the stream decoder's, so both accept exactly the same blocks.
        const data = new Uint8Array(pageSize);
        lz4DecompressBlockInto(frame.subarray(blockStart), data);
        return { data, prefix: frame.subarray(0, blockStart) };
      } catch (err) {
        throw this.#corrupt(offset + blockStart, `page ${pgno} does not decompress: ${errorText(err)}`, err);
      }
    }
    if (flags === 0) {
      const frameStart = offset + PAGE_HEADER_SIZE;
      let result;
      try {
        result = lz4DecompressFrame(frame.subarray(PAGE_HEADER_SIZE));
      } catch (err) {
        throw this.#corrupt(frameStart, `page ${pgno} does not decompress: ${errorText(err)}`, err);
      }
      if (result.bytesRead !== size - PAGE_HEADER_SIZE) {
        throw this.#corrupt(
          frameStart,
          `page ${pgno} LZ4 frame is ${result.bytesRead} bytes, index says ${size - PAGE_HEADER_SIZE}`,
        );
      }
      if (result.data.length !== pageSize) {
        throw this.#corrupt(
          frameStart,
          `page ${pgno} decompresses to ${result.data.length} bytes, expected ${pageSize}`,
        );
      }
      return { data: result.data, prefix: frame.subarray(0, PAGE_HEADER_SIZE) };
    }
    throw this.#corrupt(offset + 4, `page ${pgno} has unknown flags 0x${flags.toString(16).padStart(4, "0")}`);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function corruptError(options: DecodeLtxOptions, offset: number, state: string, cause?: unknown): CorruptFileError {
  return new CorruptFileError(`Cannot decode LTX file '${options.path}': ${state} (offset ${offset})`, {
    path: options.path,
    offset,
    autoRecoverable: options.autoRecoverable ?? false,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Reads an unsigned LEB128 varint (Go `binary.Uvarint`) at `bounds.pos`,
 * which it advances; the varint must end before `bounds.end`.
 */
function readUvarint(
  bytes: Uint8Array,
  bounds: { pos: number; end: number; fail: (offset: number, state: string) => Error },
): number {
  let value = 0;
  let scale = 1;
  // Seven bytes hold 49 bits, far beyond any page number, offset or size
  // that fits in memory; longer varints are corrupt.
  for (let n = 0; n < 7; n++) {
    if (bounds.pos >= bounds.end) throw bounds.fail(bounds.pos, "page index is truncated");
    const b = bytes[bounds.pos++] ?? 0;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 0x80;
  }
  throw bounds.fail(bounds.pos, "page index varint is too long");
}

/**
 * Parses `bytes` as an LTX file: validates the header and trailer and
 * checks the page index against the file layout (frames contiguous from
 * byte 100, ascending page numbers, none above the commit or at the lock
 * page, snapshots complete). Keeps a reference to `bytes`, which must not
 * change afterwards.
 *
 * @example
 * ```ts
 * const file = decodeLtxFile(bytes, { path: "0000000000000001-0000000000000001.ltx" });
 * for (const { pgno, data } of file.pages()) db.write(pgno, data);
 * ```
 * @throws {CorruptFileError} when the file is malformed or truncated
 */
export function decodeLtxFile(bytes: Uint8Array, options: DecodeLtxOptions): LtxFile {
  return decodeLtxReader(bytesReader(bytes), options);
}

/**
 * Opens the local LTX file at `path` and checks it as
 * {@linkcode decodeLtxFile} does, reading only its header, page index and
 * trailer; pages are read from the file when asked for. Close the result
 * (`using file = openLtxFileAt(…)`). `options.path` (default `path`) names
 * the file in errors.
 *
 * @throws {CorruptFileError} when the file is malformed or truncated
 * @throws the file system's error when it cannot be opened
 */
export function openLtxFileAt(path: string, options: Partial<DecodeLtxOptions> = {}): LtxFile {
  const reader = openFileReader(path);
  try {
    return decodeLtxReader(reader, { ...options, path: options.path ?? path });
  } catch (err) {
    reader.close();
    throw err;
  }
}

/**
 * Decodes an LTX file read through `reader` (see {@linkcode decodeLtxFile});
 * the result reads its pages through `reader`, and closing it closes
 * `reader`.
 *
 * @throws {CorruptFileError} when the file is malformed or truncated
 */
export function decodeLtxReader(reader: RandomAccessReader, options: DecodeLtxOptions): LtxFile {
  const fail = (offset: number, state: string, cause?: unknown): CorruptFileError =>
    corruptError(options, offset, state, cause);
  const len = reader.size;
  const read = (offset: number, length: number): Uint8Array => {
    try {
      return reader.read(offset, length);
    } catch (err) {
      throw fail(offset, `cannot read ${length} bytes: ${errorText(err)}`, err);
    }
  };
  // A copy: the checksum pass needs it after other reads reused the view.
  const headerBytes = new Uint8Array(read(0, Math.min(len, HEADER_SIZE)));
  const header = decodeHeader(headerBytes, options);
  if (len < MIN_FILE_SIZE) throw fail(len, `file has ${len} bytes, an LTX file has at least ${MIN_FILE_SIZE}`);
  const tailBytes = read(len - INDEX_SIZE_FROM_END, INDEX_SIZE_FROM_END);
  const tail = new DataView(tailBytes.buffer, tailBytes.byteOffset, INDEX_SIZE_FROM_END);
  const trailer: LtxTrailer = { postApplyChecksum: tail.getBigUint64(8), fileChecksum: tail.getBigUint64(16) };
  try {
    validateTrailer(header, trailer);
  } catch (err) {
    throw fail(len - TRAILER_SIZE, errorText(err), err);
  }

  const indexSize = checkPageIndexSize(tail.getBigUint64(0), len, options);
  const indexEnd = len - INDEX_SIZE_FROM_END;
  const indexStart = indexEnd - indexSize;
  const endMarkerOffset = indexStart - PAGE_HEADER_SIZE;
  const block = read(endMarkerOffset, PAGE_HEADER_SIZE + indexSize);
  checkEndMarker(block.subarray(0, PAGE_HEADER_SIZE), endMarkerOffset, options);
  const pageIndex = decodePageIndex(block.subarray(PAGE_HEADER_SIZE), { ...options, header, fileSize: len });
  return new LtxFile(reader, { headerBytes, header, trailer, pageIndex, endMarkerOffset, options });
}

/**
 * Checks the page index size recorded {@linkcode INDEX_SIZE_FROM_END} bytes
 * before the end of a file of `fileSize` bytes: at least the terminator,
 * and small enough to leave room for the header and the end marker.
 *
 * @returns the size as a number
 * @throws {CorruptFileError} when it does not fit the file
 */
export function checkPageIndexSize(indexSize: bigint, fileSize: number, options: DecodeLtxOptions): number {
  const maxIndexSize = fileSize - INDEX_SIZE_FROM_END - HEADER_SIZE - PAGE_HEADER_SIZE;
  if (indexSize < 1n || indexSize > BigInt(maxIndexSize)) {
    throw corruptError(options, fileSize - INDEX_SIZE_FROM_END, `page index size ${indexSize} does not fit the file`);
  }
  return Number(indexSize);
}

/**
 * Checks the page block end marker (the {@linkcode PAGE_HEADER_SIZE} zero
 * bytes just before the page index) found at byte `offset`.
 *
 * @throws {CorruptFileError} when a byte is not zero
 */
export function checkEndMarker(marker: Uint8Array, offset: number, options: DecodeLtxOptions): void {
  if (marker.length !== PAGE_HEADER_SIZE || marker.some((b) => b !== 0)) {
    throw corruptError(options, offset, "page block end marker is not zero");
  }
}

/**
 * Parses a page index read on its own: `index` is the whole index of a
 * file of `fileSize` bytes (it ends {@linkcode INDEX_SIZE_FROM_END} bytes
 * before the end of the file), whose header is `header`. Checks it against
 * the header and the file layout without the page frames: ascending page
 * numbers, none above the commit or at the lock page, frames contiguous from
 * byte 100 and ending exactly at the end marker, snapshots complete.
 *
 * @returns the entries, ascending by page number
 * @throws {CorruptFileError} naming the first problem and its file offset
 */
export function decodePageIndex(
  index: Uint8Array,
  options: DecodeLtxOptions & { header: LtxHeader; fileSize: number },
): PageIndex {
  // Two passes over the varints (checked, then copied) so the arrays are
  // allocated once, at their exact size.
  const n = walkPageIndex(index, options, () => {});
  const pgnos = new Uint32Array(n);
  const offsets = new Float64Array(n + 1);
  let i = 0;
  offsets[0] = HEADER_SIZE;
  walkPageIndex(index, options, (pgno, offset, size) => {
    pgnos[i] = pgno;
    offsets[i] = offset;
    offsets[++i] = offset + size;
  });
  return new PageIndex(pgnos, offsets);
}

/**
 * Checks a page index as {@linkcode decodePageIndex} does, handing each
 * entry to `visit` (in order, each checked before it is visited) instead of
 * keeping them, for a caller that only compares them with what it saw.
 *
 * @returns the number of entries
 * @throws {CorruptFileError} naming the first problem and its file offset
 */
export function walkPageIndex(
  index: Uint8Array,
  options: DecodeLtxOptions & { header: LtxHeader; fileSize: number },
  visit: (pgno: number, offset: number, size: number) => void,
): number {
  const { header, fileSize } = options;
  const indexStart = fileSize - INDEX_SIZE_FROM_END - index.length;
  const endMarkerOffset = indexStart - PAGE_HEADER_SIZE;
  const fail = (offset: number, state: string, cause?: unknown): CorruptFileError =>
    corruptError(options, offset, state, cause);
  const { commit, pageSize } = header;
  const lockPgno = lockPageNumber(pageSize);
  const snapshot = isSnapshot(header);
  // Positions are local to `index`; errors report file offsets.
  const cursor = { pos: 0, end: index.length, fail: (at: number, state: string) => fail(indexStart + at, state) };
  let nextOffset = HEADER_SIZE;
  let prevPgno = 0;
  let count = 0;
  for (;;) {
    const at = indexStart + cursor.pos;
    const pgno = readUvarint(index, cursor);
    if (pgno === 0) break;
    const offset = readUvarint(index, cursor);
    const size = readUvarint(index, cursor);
    const problem =
      pgno <= prevPgno
        ? `page ${pgno} follows page ${prevPgno}`
        : pgno > commit
          ? `page ${pgno} exceeds commit ${commit}`
          : pgno === lockPgno
            ? `page ${pgno} is the lock page`
            : snapshot && pgno !== (prevPgno + 1 === lockPgno ? prevPgno + 2 : prevPgno + 1)
              ? `snapshot skips from page ${prevPgno} to ${pgno}`
              : offset !== nextOffset
                ? `page ${pgno} frame offset ${offset} should be ${nextOffset}`
                : size <= PAGE_HEADER_SIZE || size > endMarkerOffset - offset
                  ? `page ${pgno} frame size ${size} does not fit the page block`
                  : undefined;
    if (problem !== undefined) throw fail(at, `page index is invalid: ${problem}`);
    visit(pgno, offset, size);
    count++;
    nextOffset = offset + size;
    prevPgno = pgno;
  }
  if (cursor.pos !== index.length) throw fail(indexStart + cursor.pos, "page index has bytes after its terminator");
  if (nextOffset !== endMarkerOffset) {
    throw fail(nextOffset, `page frames end at ${nextOffset} but the end marker is at ${endMarkerOffset}`);
  }
  if (snapshot) {
    const last = commit === lockPgno ? commit - 1 : commit;
    if (prevPgno !== last) throw fail(indexStart, `snapshot has pages up to ${prevPgno} but commit is ${commit}`);
  }
  return count;
}

/**
 * Decodes `bytes` and reads every page, so that the file checksum (and a
 * snapshot's post-apply checksum) is verified.
 *
 * @throws {CorruptFileError} when the file is malformed or truncated
 * @throws {ChecksumMismatchError} when a checksum does not match
 */
export function verifyLtxFile(bytes: Uint8Array, options: DecodeLtxOptions): LtxFile {
  const file = decodeLtxFile(bytes, options);
  for (const _ of file.pages()) {
    // Reading is the point: the checksums are checked at the end.
  }
  return file;
}
