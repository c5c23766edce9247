/**
 * Writes LTX v3 files: header, LZ4-block page frames (page flag
 * {@linkcode PAGE_FLAG_SIZE}), end marker, page index and trailer.
 *
 * @module
 */

import { lz4CompressBlock } from "../platform/lz4.ts";
import { CHECKSUM_FLAG, Crc64, lockPageNumber } from "./checksum.ts";
import {
  encodeHeader,
  hasNoChecksum,
  hex64,
  isSnapshot,
  PAGE_FLAG_SIZE,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  validateTrailer,
} from "./header.ts";
import type { LtxHeader, LtxTrailer } from "./header.ts";

/** Receives the encoded file piece by piece, in order. */
export type LtxSink = (chunk: Uint8Array) => void;

/** Options of {@linkcode LtxEncoder}. */
export interface LtxEncoderOptions {
  /**
   * Hand each page frame to the sink in one buffer the encoder reuses for
   * the next frame, so the sink must consume it (write it out) before it
   * returns; a long pass then allocates no frame per page.
   * @default {false: every chunk is a fresh array the sink may keep}
   */
  reuseFrames?: boolean;
}

/** What {@linkcode LtxEncoder.finish} returns: the trailer and the file size. */
export interface LtxEncodeResult extends LtxTrailer {
  /** Total bytes written to the sink. */
  size: number;
}

/** Bytes per chunk of {@linkcode IndexBytes}. */
const INDEX_CHUNK_BYTES = 64 * 1024;

/**
 * The page index as it will be written: unsigned LEB128 varints (Go
 * `binary.AppendUvarint`) appended to fixed 64 KiB chunks, so a file's
 * index costs about 8 bytes a page (page number, offset and size) instead
 * of three JS numbers, and growing never copies.
 */
class IndexBytes {
  #done: Uint8Array[] = [];
  #chunk = new Uint8Array(INDEX_CHUNK_BYTES);
  #at = 0;
  #length = 0;

  /** Bytes pushed so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends `value` as a varint. */
  push(value: number): void {
    // A varint of a number below 2^53 takes at most 8 bytes.
    if (this.#at + 8 > INDEX_CHUNK_BYTES) {
      this.#done.push(this.#chunk.subarray(0, this.#at));
      this.#chunk = new Uint8Array(INDEX_CHUNK_BYTES);
      this.#at = 0;
    }
    const bytes = this.#chunk;
    const start = this.#at;
    let at = start;
    let v = value;
    while (v >= 0x80) {
      bytes[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    bytes[at++] = v;
    this.#at = at;
    this.#length += at - start;
  }

  /** The chunks in order (views; the last is cut to what it holds). */
  chunks(): Uint8Array[] {
    return [...this.#done, this.#chunk.subarray(0, this.#at)];
  }
}

/**
 * Streams one LTX file to a sink. A state machine: the constructor writes
 * the header, {@linkcode LtxEncoder.encodePage} writes page frames, and
 * {@linkcode LtxEncoder.finish} writes the end marker, page index and
 * trailer. Any call after `finish` — including a second `finish` — throws.
 * If the sink throws, the encoder is unusable afterwards.
 *
 * Every chunk handed to the sink is a fresh array the encoder never touches
 * again, so the sink may keep it (unless `options.reuseFrames`).
 *
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * const enc = new LtxEncoder(header, (chunk) => chunks.push(chunk));
 * enc.encodePage(1, page1);
 * const { fileChecksum, size } = enc.finish(postApplyChecksum);
 * ```
 */
export class LtxEncoder {
  #header: LtxHeader;
  #sink: LtxSink;
  #state: "page" | "finished" | "failed" = "failed";
  #crc = new Crc64();
  #size = 0;
  #lockPgno: number;
  #prevPgno = 0;
  #index = new IndexBytes();
  /** The frame buffer reused for every page with `reuseFrames`. */
  #frame: Uint8Array | undefined;

  /**
   * Validates `header` and writes it to `sink`.
   *
   * @throws {RangeError} when the header is invalid (see `validateHeader`)
   */
  constructor(header: LtxHeader, sink: LtxSink, options: LtxEncoderOptions = {}) {
    const bytes = encodeHeader(header);
    this.#header = { ...header };
    this.#sink = sink;
    if (options.reuseFrames === true) this.#frame = new Uint8Array(PAGE_HEADER_SIZE + 4 + lz4Bound(header.pageSize));
    this.#lockPgno = lockPageNumber(header.pageSize);
    this.#write(bytes, bytes.length);
    this.#state = "page";
  }

  /** A copy of the header this encoder writes. */
  get header(): LtxHeader {
    return { ...this.#header };
  }

  /** Bytes written to the sink so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Compresses and writes one page. Pages must come in strictly ascending
   * page number order, never include the lock page and never exceed the
   * header's commit; a snapshot must hold exactly pages 1, 2, 3, … in turn
   * (skipping the lock page).
   *
   * @param pgno the 1-based page number
   * @param data the page image, exactly `header.pageSize` bytes
   * @throws {Error} when the encoder is finished or failed
   * @throws {RangeError} when the page breaks one of the rules above
   */
  encodePage(pgno: number, data: Uint8Array): void {
    this.#checkState("encode LTX page");
    const { commit, pageSize } = this.#header;
    const fail = (state: string): RangeError => new RangeError(`Cannot encode LTX page ${pgno}: ${state}`);
    if (!Number.isInteger(pgno) || pgno < 1) throw fail("page number must be a positive integer");
    if (pgno > commit) throw fail(`page number exceeds commit ${commit}`);
    if (data.length !== pageSize) throw fail(`data has ${data.length} bytes, expected ${pageSize}`);
    if (pgno === this.#lockPgno) throw fail("the lock page is never stored");
    if (isSnapshot(this.#header)) {
      const expected = this.#nextSnapshotPgno();
      if (pgno !== expected) throw fail(`snapshot pages must be sequential, expected page ${expected}`);
    } else if (pgno <= this.#prevPgno) {
      throw fail(`page numbers must ascend, previous page was ${this.#prevPgno}`);
    }

    const block = lz4CompressBlock(data);
    const frameSize = PAGE_HEADER_SIZE + 4 + block.length;
    const frame =
      this.#frame !== undefined && this.#frame.length >= frameSize
        ? this.#frame.subarray(0, frameSize)
        : new Uint8Array(frameSize);
    const view = new DataView(frame.buffer, frame.byteOffset, frameSize);
    view.setUint32(0, pgno);
    view.setUint16(4, PAGE_FLAG_SIZE);
    view.setUint32(PAGE_HEADER_SIZE, block.length);
    frame.set(block, PAGE_HEADER_SIZE + 4);

    const offset = this.#size;
    // The file checksum covers the page header, the size and the
    // *uncompressed* page, never the compressed bytes.
    this.#write(frame, PAGE_HEADER_SIZE + 4);
    this.#crc.update(data);
    this.#index.push(pgno);
    this.#index.push(offset);
    this.#index.push(frameSize);
    this.#prevPgno = pgno;
  }

  /**
   * Writes the end marker, page index and trailer.
   *
   * @param postApplyChecksum the database checksum after applying the file;
   *   0n when the header has NoChecksum, `CHECKSUM_FLAG` for a commit of 0
   * @returns the trailer and the total file size
   * @throws {Error} when the encoder is finished or failed
   * @throws {RangeError} when the checksum is invalid or a snapshot is missing pages
   */
  finish(postApplyChecksum: bigint): LtxEncodeResult {
    this.#checkState("finish LTX file");
    const h = this.#header;
    const fail = (state: string): RangeError => new RangeError(`Cannot finish LTX file: ${state}`);
    // Check before writing anything so that a bad argument leaves the
    // encoder usable.
    validateTrailer(h, { postApplyChecksum, fileChecksum: CHECKSUM_FLAG });
    if (!hasNoChecksum(h) && h.commit === 0 && postApplyChecksum !== CHECKSUM_FLAG) {
      throw fail(
        `post-apply checksum ${hex64(postApplyChecksum)} must be ${hex64(CHECKSUM_FLAG)} for an empty database`,
      );
    }
    if (isSnapshot(h) && this.#nextSnapshotPgno() <= h.commit) {
      throw fail(`snapshot has pages up to ${this.#prevPgno} but commit is ${h.commit}`);
    }

    // End marker (an all-zero page header), the index, its size and the
    // trailer: the index goes to the sink in the chunks it was built in
    // (the encoder is done with them), the rest in small chunks around it.
    this.#index.push(0);
    const index = this.#index.chunks();
    const marker = new Uint8Array(PAGE_HEADER_SIZE);
    const end = new Uint8Array(8 + TRAILER_SIZE);
    const view = new DataView(end.buffer);
    view.setBigUint64(0, BigInt(this.#index.length));
    view.setBigUint64(8, postApplyChecksum);
    this.#crc.update(marker);
    for (const chunk of index) this.#crc.update(chunk);
    this.#crc.update(end.subarray(0, 16));
    const fileChecksum = CHECKSUM_FLAG | this.#crc.digest();
    view.setBigUint64(16, fileChecksum);
    this.#state = "failed";
    for (const chunk of [marker, ...index, end]) {
      this.#sink(chunk);
      this.#size += chunk.length;
    }
    this.#state = "finished";
    return { postApplyChecksum, fileChecksum, size: this.#size };
  }

  /** The page number a snapshot must write next. */
  #nextSnapshotPgno(): number {
    const next = this.#prevPgno + 1;
    return next === this.#lockPgno ? next + 1 : next;
  }

  #checkState(action: string): void {
    if (this.#state !== "page") throw new Error(`Cannot ${action}: encoder is ${this.#state}`);
  }

  /** Sends `chunk` to the sink, adding its first `hashed` bytes to the file checksum. */
  #write(chunk: Uint8Array, hashed: number): void {
    const state = this.#state;
    this.#state = "failed";
    this.#crc.update(chunk.subarray(0, hashed));
    this.#sink(chunk);
    this.#size += chunk.length;
    this.#state = state;
  }
}

/** The LZ4 worst case for `n` input bytes (what a page's block can take). */
function lz4Bound(n: number): number {
  return n + Math.ceil(n / 255) + 16;
}

/**
 * Encodes a whole LTX file in memory.
 *
 * @param header the file header
 * @param pages the pages, in the order {@linkcode LtxEncoder.encodePage} requires
 * @param postApplyChecksum see {@linkcode LtxEncoder.finish}
 * @returns the complete file
 * @throws {RangeError} as the encoder does
 */
export function encodeLtxFile(
  header: LtxHeader,
  pages: Iterable<{ pgno: number; data: Uint8Array }>,
  postApplyChecksum: bigint,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new LtxEncoder(header, (chunk) => chunks.push(chunk));
  for (const { pgno, data } of pages) enc.encodePage(pgno, data);
  const { size } = enc.finish(postApplyChecksum);
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
