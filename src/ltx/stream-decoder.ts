/**
 * Decodes an LTX v3 file from a stream of chunks (a download) in one pass,
 * with memory for one page frame and one chunk plus the frames seen (8
 * bytes a page, and the index bytes once the frames end): the
 * header first, then each page as its frame arrives (frames are contiguous
 * from byte 100), then the end marker, page index and trailer, which are
 * cross-checked against the frames seen. The file checksum (and a
 * snapshot's post-apply checksum) is verified after the last page, exactly
 * as {@linkcode LtxFile.pages} does, so a consumer that writes pages as
 * they come must treat its output as unverified until the pages end.
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { lz4DecompressBlockInto, lz4DecompressFrame } from "./lz4-frame.ts";
import { CHECKSUM_FLAG, Crc64, lockPageNumber, PageDigest } from "./checksum.ts";
import { checkPageIndexSize, INDEX_SIZE_FROM_END, walkPageIndex, type DecodeLtxOptions } from "./decoder.ts";
import { PageIndexBuilder, type PageIndex } from "./page-index.ts";
import {
  decodeHeader,
  HEADER_SIZE,
  hasNoChecksum,
  hex64,
  isSnapshot,
  PAGE_FLAG_SIZE,
  PAGE_HEADER_SIZE,
  validateTrailer,
} from "./header.ts";
import type { LtxHeader, LtxTrailer } from "./header.ts";

/** Options of {@linkcode LtxStream.pages}. */
export interface LtxPagesOptions {
  /**
   * Where to decode page `pgno`: an array of exactly the page size that the
   * caller owns (a slot in its write buffer, so pages land there without a
   * copy or an allocation). Called once per page, after the frame's page
   * number is checked. Default: a new array per page.
   */
  readonly into?: (pgno: number) => Uint8Array;
}

/** One decoded page. */
export interface LtxStreamPage {
  readonly pgno: number;
  /** The page image: the array `into` gave, or one of its own. */
  readonly data: Uint8Array;
  /**
   * The page's bytes run through the CRC once ({@linkcode PageDigest}),
   * for the consumer's page checksum; valid until the next page.
   */
  readonly digest: PageDigest;
}

/** The most bytes a page index entry (three uvarints of at most 7 bytes) takes. */
const MAX_INDEX_ENTRY = 21;

/** Reads exact byte counts from a chunk stream, tracking the file offset. */
class ChunkReader {
  #iter: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #ended = false;
  /** File offset of the next byte. */
  offset = 0;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#iter = chunks[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#ended) return false;
      const next = await this.#iter.next();
      if (next.done === true) {
        this.#ended = true;
        return false;
      }
      this.#chunk = next.value;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * Reads `n` bytes; fewer only when the stream ends. The result may be a
   * view into the current chunk, valid until the next read.
   */
  async read(n: number): Promise<Uint8Array> {
    if (!(await this.#fill()) && n > 0) return new Uint8Array(0);
    if (this.#chunk.length - this.#pos >= n) {
      const view = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.offset += n;
      return view;
    }
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n && (await this.#fill())) {
      const take = Math.min(n - done, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), done);
      this.#pos += take;
      done += take;
    }
    this.offset += done;
    return done === n ? out : out.subarray(0, done);
  }

  /**
   * Reads everything left, up to `limit` bytes; `undefined` when more is
   * left. Memory is what is left (collected chunk by chunk, then joined),
   * not `limit`, which can be far larger.
   */
  async readRest(limit: number): Promise<Uint8Array | undefined> {
    const parts: Uint8Array[] = [];
    let total = 0;
    while (await this.#fill()) {
      const part = this.#chunk.subarray(this.#pos);
      this.#pos = this.#chunk.length;
      this.offset += part.length;
      total += part.length;
      if (total > limit) return undefined;
      parts.push(part);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Stops the stream early (releases a download). */
  async cancel(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#iter.return?.();
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * An LTX file being decoded from a stream. Create one with
 * {@linkcode decodeLtxStream}, which reads the header; then consume
 * {@linkcode LtxStream.pages} to the end, after which `trailer` and
 * `pageIndex` are known and every checksum is verified.
 */
export class LtxStream {
  /** The file header. */
  readonly header: LtxHeader;
  #reader: ChunkReader;
  #headerBytes: Uint8Array;
  #options: DecodeLtxOptions;
  #trailer: LtxTrailer | undefined;
  /** The frames seen, once the pages ran to the end (checked against the page index). */
  #frames: PageIndexBuilder | undefined;
  #size = 0;
  #started = false;

  /** Use {@linkcode decodeLtxStream}. */
  constructor(reader: ChunkReader, headerBytes: Uint8Array, header: LtxHeader, options: DecodeLtxOptions) {
    this.#reader = reader;
    this.#headerBytes = headerBytes;
    this.header = header;
    this.#options = options;
  }

  /** The path given when decoding, used in errors. */
  get path(): string {
    return this.#options.path;
  }

  /** The trailer, once {@linkcode LtxStream.pages} has run to the end. */
  get trailer(): LtxTrailer {
    if (this.#trailer === undefined)
      throw new Error(`Cannot read the trailer of '${this.path}': its pages were not read to the end`);
    return this.#trailer;
  }

  /** The page index, once {@linkcode LtxStream.pages} has run to the end (built on each call: for tests and tools). */
  get pageIndex(): PageIndex {
    if (this.#frames === undefined)
      throw new Error(`Cannot read the page index of '${this.path}': its pages were not read to the end`);
    return this.#frames.finish();
  }

  /** The file size in bytes, once {@linkcode LtxStream.pages} has run to the end. */
  get size(): number {
    return this.#size;
  }

  /** Stops reading the stream (after an error elsewhere, to release a download). */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }

  #fail(offset: number, state: string, cause?: unknown): CorruptFileError {
    const options = this.#options;
    return new CorruptFileError(`Cannot decode LTX file '${options.path}': ${state} (offset ${offset})`, {
      path: options.path,
      offset,
      autoRecoverable: options.autoRecoverable ?? false,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /** Reads exactly `n` bytes of page `pgno`'s frame. */
  async #need(n: number, pgno: number): Promise<Uint8Array> {
    const bytes = await this.#reader.read(n);
    if (bytes.length !== n) throw this.#fail(this.#reader.offset, `file ends inside the frame of page ${pgno}`);
    return bytes;
  }

  /**
   * Yields every page in file order, then reads the end marker, page index
   * and trailer, checks them against the frames seen, and verifies the file
   * checksum (and, for snapshots that track checksums, the post-apply
   * checksum). Can run once.
   *
   * @throws {CorruptFileError} when a frame, the index or the trailer is malformed or the stream ends early
   * Each page's bytes are run through the CRC once: the file checksum, the
   * snapshot's database checksum and the consumer's page checksum (through
   * `digest`) all come from that pass.
   *
   * @throws {CorruptFileError} when a frame, the index or the trailer is malformed or the stream ends early
   * @throws {ChecksumMismatchError} when the file or post-apply checksum does not match
   */
  async *pages(options: LtxPagesOptions = {}): AsyncGenerator<LtxStreamPage, void, undefined> {
    if (this.#started) throw new Error(`Cannot read the pages of '${this.path}' twice: it is a stream`);
    this.#started = true;
    const { header } = this;
    const { pageSize, commit } = header;
    const reader = this.#reader;
    const crc = new Crc64().update(this.#headerBytes);
    const trackDatabase = isSnapshot(header) && !hasNoChecksum(header);
    const lockPgno = lockPageNumber(pageSize);
    const digest = new PageDigest(pageSize);
    const into = options.into ?? ((): Uint8Array => new Uint8Array(pageSize));
    const seen = new PageIndexBuilder(HEADER_SIZE);
    const pageXor = new Uint32Array(2);
    let prevPgno = 0;
    let endMarkerOffset: number;
    for (;;) {
      const at = reader.offset;
      // A view into the reader's chunk, used (hashed) before the next read.
      const pageHeader = await this.#reader.read(PAGE_HEADER_SIZE);
      if (pageHeader.length !== PAGE_HEADER_SIZE) throw this.#fail(reader.offset, "file ends inside the page block");
      const pgno = uint32At(pageHeader, 0);
      const flags = (pageHeader[4]! << 8) | pageHeader[5]!;
      if (pgno === 0) {
        if (flags !== 0) throw this.#fail(at, "page block end marker is not zero");
        endMarkerOffset = at;
        break;
      }
      const problem =
        pgno <= prevPgno
          ? `page ${pgno} follows page ${prevPgno}`
          : pgno > commit
            ? `page ${pgno} exceeds commit ${commit}`
            : pgno === lockPgno
              ? `page ${pgno} is the lock page`
              : isSnapshot(header) && pgno !== (prevPgno + 1 === lockPgno ? prevPgno + 2 : prevPgno + 1)
                ? `snapshot skips from page ${prevPgno} to ${pgno}`
                : undefined;
      if (problem !== undefined) throw this.#fail(at, `page frame is invalid: ${problem}`);
      const data = into(pgno);
      if (data.length !== pageSize) {
        throw new RangeError(`Cannot decode page ${pgno} into ${data.length} bytes: the page size is ${pageSize}`);
      }
      crc.update(pageHeader);
      if (flags === PAGE_FLAG_SIZE) {
        const prefix = await this.#need(4, pgno);
        const blockSize = uint32At(prefix, 0);
        crc.update(prefix);
        // The LZ4 bound of a page: anything larger cannot be one (and must not be buffered).
        if (blockSize === 0 || blockSize > lz4Bound(pageSize)) {
          throw this.#fail(
            at + PAGE_HEADER_SIZE,
            `page ${pgno} block size ${blockSize} does not fit page size ${pageSize}`,
          );
        }
        const block = await this.#need(blockSize, pgno);
        try {
          lz4DecompressBlockInto(block, data);
        } catch (err) {
          throw this.#fail(at + PAGE_HEADER_SIZE + 4, `page ${pgno} does not decompress: ${errorText(err)}`, err);
        }
      } else if (flags === 0) {
        const frame = await this.#legacyFrame(pgno);
        let result;
        try {
          result = lz4DecompressFrame(frame);
        } catch (err) {
          throw this.#fail(at + PAGE_HEADER_SIZE, `page ${pgno} does not decompress: ${errorText(err)}`, err);
        }
        if (result.bytesRead !== frame.length || result.data.length !== pageSize) {
          throw this.#fail(
            at + PAGE_HEADER_SIZE,
            `page ${pgno} decompresses to ${result.data.length} bytes, expected ${pageSize}`,
          );
        }
        data.set(result.data);
      } else {
        throw this.#fail(at + 4, `page ${pgno} has unknown flags 0x${flags.toString(16).padStart(4, "0")}`);
      }
      digest.load(data);
      crc.updateDigest(digest);
      if (trackDatabase) digest.xorPageChecksum(pgno, pageXor);
      seen.add(pgno, reader.offset - at);
      prevPgno = pgno;
      yield { pgno, data, digest };
    }

    // What follows the marker is the index and the trailer, at most one
    // index entry per frame seen: read whole, but never more than that.
    const tailAt = reader.offset;
    const tail = await reader.readRest(seen.length * MAX_INDEX_ENTRY + 1 + INDEX_SIZE_FROM_END);
    if (tail === undefined) throw this.#fail(tailAt, `page index is longer than ${seen.length} pages need`);
    const fileSize = reader.offset;
    if (tail.length < 1 + INDEX_SIZE_FROM_END) {
      throw this.#fail(
        fileSize,
        `file ends ${tail.length} bytes after the end marker, at least ${1 + INDEX_SIZE_FROM_END} must follow it`,
      );
    }
    const tailView = new DataView(
      tail.buffer,
      tail.byteOffset + tail.length - INDEX_SIZE_FROM_END,
      INDEX_SIZE_FROM_END,
    );
    const trailer: LtxTrailer = {
      postApplyChecksum: tailView.getBigUint64(8),
      fileChecksum: tailView.getBigUint64(16),
    };
    try {
      validateTrailer(header, trailer);
    } catch (err) {
      throw this.#fail(fileSize - 16, errorText(err), err);
    }
    const indexSize = checkPageIndexSize(tailView.getBigUint64(0), fileSize, this.#options);
    if (indexSize !== tail.length - INDEX_SIZE_FROM_END) {
      throw this.#fail(
        fileSize - INDEX_SIZE_FROM_END,
        `page index size ${indexSize} disagrees with the end marker at ${endMarkerOffset}`,
      );
    }
    // Compared entry by entry as the index is parsed, without a copy of
    // either; the parser's own errors come first, then the count, then the
    // first entry that differs.
    const indexStart = endMarkerOffset + PAGE_HEADER_SIZE;
    let i = 0;
    let frameOffset = HEADER_SIZE;
    let differs: string | undefined;
    const listed = walkPageIndex(
      tail.subarray(0, indexSize),
      { ...this.#options, header, fileSize },
      (pgno, offset, size) => {
        const k = i++;
        if (differs !== undefined || k >= seen.length) return;
        const framePgno = seen.pgno(k);
        const frameSize = seen.size(k);
        if (framePgno !== pgno || frameOffset !== offset || frameSize !== size) {
          differs = `page index entry ${pgno}:${offset}+${size} disagrees with the frame ${framePgno}:${frameOffset}+${frameSize}`;
        }
        frameOffset += frameSize;
      },
    );
    if (listed !== seen.length) {
      throw this.#fail(indexStart, `page index lists ${listed} pages but the file holds ${seen.length} frames`);
    }
    if (differs !== undefined) throw this.#fail(indexStart, differs);
    crc.update(new Uint8Array(PAGE_HEADER_SIZE));
    crc.update(tail.subarray(0, tail.length - 8));
    const actual = CHECKSUM_FLAG | crc.digest();
    if (actual !== trailer.fileChecksum) {
      throw new ChecksumMismatchError(
        `Cannot verify LTX file '${this.path}': file checksum is ${hex64(actual)}, trailer says ${hex64(trailer.fileChecksum)}`,
        { path: this.path, expected: trailer.fileChecksum, actual },
      );
    }
    const databaseChecksum = CHECKSUM_FLAG | (BigInt(pageXor[1]!) << 32n) | BigInt(pageXor[0]!);
    if (trackDatabase && databaseChecksum !== trailer.postApplyChecksum) {
      throw new ChecksumMismatchError(
        `Cannot verify LTX snapshot '${this.path}': pages have database checksum ${hex64(databaseChecksum)}, trailer says ${hex64(
          trailer.postApplyChecksum,
        )}`,
        { path: this.path, expected: trailer.postApplyChecksum, actual: databaseChecksum },
      );
    }
    this.#trailer = trailer;
    this.#frames = seen;
    this.#size = fileSize;
  }

  /**
   * Reads one legacy page frame (a standard LZ4 frame) by walking its
   * structure: descriptor, then blocks up to the end mark, then the
   * optional content checksum. A page's frame is never much larger than the
   * page, so anything larger is corrupt and is not buffered.
   */
  async #legacyFrame(pgno: number): Promise<Uint8Array> {
    const limit = 2 * lz4Bound(this.header.pageSize) + 64;
    const parts: Uint8Array[] = [];
    let total = 0;
    const take = async (n: number): Promise<Uint8Array> => {
      if (total + n > limit)
        throw this.#fail(this.#reader.offset, `page ${pgno} LZ4 frame is longer than a page can need`);
      const bytes = new Uint8Array(await this.#need(n, pgno));
      parts.push(bytes);
      total += n;
      return bytes;
    };
    const head = await take(7); // magic, FLG, BD, and the checksum or the first descriptor byte after BD
    const flg = head[4] ?? 0;
    await take(((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0));
    for (;;) {
      const word = await take(4);
      const size = new DataView(word.buffer).getUint32(0, true) & 0x7fffffff;
      if (size === 0 && word.every((b) => b === 0)) break;
      await take(size + ((flg & 0x10) !== 0 ? 4 : 0));
    }
    if ((flg & 0x04) !== 0) await take(4);
    const frame = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      frame.set(p, at);
      at += p.length;
    }
    return frame;
  }
}

/** The big-endian u32 at `at` of `bytes` (which must hold it). */
function uint32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** The LZ4 worst case for `n` input bytes. */
function lz4Bound(n: number): number {
  return n + Math.ceil(n / 255) + 16;
}

/**
 * Starts decoding an LTX file from `chunks` (of any sizes): reads and
 * validates the 100-byte header, and returns the stream positioned at the
 * first page frame.
 *
 * @example
 * ```ts
 * const file = await decodeLtxStream(await client.openLtxFile(key), { path: "0000000000000002-0000000000000002.ltx" });
 * for await (const { pgno, data } of file.pages()) write(pgno, data);
 * file.trailer; // verified
 * ```
 * @throws {CorruptFileError} when the header is malformed or the stream ends inside it
 */
export async function decodeLtxStream(
  chunks: AsyncIterable<Uint8Array>,
  options: DecodeLtxOptions,
): Promise<LtxStream> {
  const reader = new ChunkReader(chunks);
  const headerBytes = new Uint8Array(await reader.read(HEADER_SIZE));
  let header: LtxHeader;
  try {
    header = decodeHeader(headerBytes, options);
  } catch (err) {
    await reader.cancel();
    throw err;
  }
  return new LtxStream(reader, headerBytes, header, options);
}
