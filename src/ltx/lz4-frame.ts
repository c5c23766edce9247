/**
 * Standard LZ4 frames in pure TypeScript: {@linkcode lz4DecompressFrame}
 * for a frame held in memory (an LTX v3 legacy page, written by Litestream
 * v0.5.0–v0.5.15), and {@linkcode Lz4FrameDecoder} for a frame read in
 * chunks (a Litestream v0.3 snapshot or WAL segment: one frame of the whole
 * object, 4 MiB blocks), whose memory is bounded by the frame's block size,
 * never by its content.
 *
 * Blocks are decoded here, not by the wasm block decoder of
 * `platform/lz4.ts`: a frame's blocks carry no decompressed size, which the
 * wasm decoder needs up front. Both independent and linked blocks (which
 * may copy from the previous 64 KiB of output) are supported.
 *
 * @module
 */

/** Magic number that starts every LZ4 frame, little-endian. */
const FRAME_MAGIC = 0x184d2204;

/** How far back a linked block may copy from (the LZ4 window). */
const HISTORY_SIZE = 64 * 1024;

/** What a frame descriptor says. */
interface FrameDescriptor {
  readonly blockMax: number;
  readonly independent: boolean;
  readonly hasBlockChecksum: boolean;
  readonly hasContentChecksum: boolean;
  readonly hasContentSize: boolean;
  readonly hasDictId: boolean;
}

function frameError(state: string): Error {
  return new Error(`Cannot decompress LZ4 frame: ${state}`);
}

/**
 * Parses the fixed first 6 bytes of a frame (magic, FLG, BD).
 * @throws {Error} on a bad magic, version, reserved bit or block size code
 */
function parseDescriptor(view: DataView, at: number): FrameDescriptor {
  const magic = view.getUint32(at, true);
  const flg = view.getUint8(at + 4);
  const bd = view.getUint8(at + 5);
  const blockMaxCode = (bd >> 4) & 0x07;
  const problem =
    magic !== FRAME_MAGIC
      ? `bad magic 0x${magic.toString(16).padStart(8, "0")}`
      : flg >> 6 !== 1
        ? `unsupported version ${flg >> 6}`
        : (flg & 0x02) !== 0 || (bd & 0x8f) !== 0
          ? "reserved descriptor bits are set"
          : blockMaxCode < 4
            ? `invalid block max size code ${blockMaxCode}`
            : undefined;
  if (problem !== undefined) throw frameError(problem);
  return {
    blockMax: 1 << (2 * blockMaxCode + 8),
    independent: (flg & 0x20) !== 0,
    hasBlockChecksum: (flg & 0x10) !== 0,
    hasContentSize: (flg & 0x08) !== 0,
    hasContentChecksum: (flg & 0x04) !== 0,
    hasDictId: (flg & 0x01) !== 0,
  };
}

/** Bytes of the descriptor after its first 6: content size, dictionary ID, header checksum. */
function descriptorTail(d: FrameDescriptor): number {
  return (d.hasContentSize ? 8 : 0) + (d.hasDictId ? 4 : 0) + 1;
}

/** The content size field (at `at`), checked to fit in memory. */
function readContentSize(view: DataView, at: number): number {
  const size = view.getBigUint64(at, true);
  if (size > 0x7fffffffn) throw frameError(`content size ${size} is too large`);
  return Number(size);
}

/**
 * Decompresses one raw LZ4 block into `dst`, which it must fill exactly:
 * the page-sized case of `lz4DecompressBlock` (platform/lz4.ts) without its
 * copies into and out of wasm memory and without allocating (a restore
 * decodes every page straight into its write buffer). The decoder checks
 * every length and offset against `block` and `dst`, so a damaged block
 * throws and never writes outside `dst`.
 *
 * @param block the compressed block, without any size prefix
 * @param dst where the content goes; its length is the exact expected size
 * @throws {Error} when the block is malformed or expands to another size than `dst.length`
 * @example
 * ```ts
 * const page = new Uint8Array(4096);
 * lz4DecompressBlockInto(lz4CompressBlock(original), page);
 * ```
 */
export function lz4DecompressBlockInto(block: Uint8Array, dst: Uint8Array): void {
  const end = decodeBlockInto(block, dst, { start: 0, limit: dst.length, window: 0 });
  if (end !== dst.length) {
    throw new Error(`Cannot decompress LZ4 block: expanded to ${end} bytes, expected ${dst.length}`);
  }
}

/** The result of {@linkcode lz4DecompressFrame}. */
export interface Lz4FrameResult {
  /** The frame's decompressed content. */
  data: Uint8Array;
  /** Bytes of the input the frame occupied, from its magic to its last checksum. */
  bytesRead: number;
}

/**
 * Decompresses the standard LZ4 frame at the start of `frame` and reports
 * how many bytes it occupied; bytes after the frame are ignored.
 *
 * The header checksum, block checksums and content checksum are skipped,
 * not verified: LTX files protect page data with their own CRC-64. Both
 * independent and linked blocks are supported.
 *
 * @param frame bytes starting with the frame magic `04 22 4D 18`
 * @returns the decompressed content and the frame length
 * @throws {Error} when the frame is truncated or malformed
 */
export function lz4DecompressFrame(frame: Uint8Array): Lz4FrameResult {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const need = (pos: number, n: number): void => {
    if (pos + n > frame.length) throw frameError(`truncated at byte ${frame.length}, need ${pos + n}`);
  };

  need(0, 7);
  const d = parseDescriptor(view, 0);
  const { blockMax } = d;
  let pos = 6;
  let contentSize: number | undefined;
  if (d.hasContentSize) {
    need(pos, 8);
    contentSize = readContentSize(view, pos);
    pos += 8;
  }
  if (d.hasDictId) pos += 4;
  pos += 1; // header checksum
  need(0, pos);

  // Corrupt input may claim a huge content size, so grow on demand instead
  // of trusting it for the allocation.
  const maxTotal = contentSize ?? Number.MAX_SAFE_INTEGER;
  let out: Uint8Array = new Uint8Array(Math.min(maxTotal, blockMax));
  let total = 0;
  for (;;) {
    need(pos, 4);
    const word = view.getUint32(pos, true);
    pos += 4;
    if (word === 0) break; // end mark
    const size = word & 0x7fffffff;
    if (size > blockMax) throw frameError(`block of ${size} bytes exceeds the ${blockMax} byte limit`);
    need(pos, size);
    const limit = Math.min(maxTotal, total + blockMax);
    if (out.length < limit) out = grow(out, limit);
    const body = frame.subarray(pos, pos + size);
    if ((word & 0x80000000) !== 0) {
      if (total + size > limit) throw frameError(`blocks exceed the content size ${maxTotal}`);
      out.set(body, total); // stored uncompressed
      total += size;
    } else {
      total = decodeBlockInto(body, out, { start: total, limit, window: d.independent ? total : 0 });
    }
    pos += size + (d.hasBlockChecksum ? 4 : 0);
  }
  if (d.hasContentChecksum) pos += 4;
  need(0, pos);
  if (contentSize !== undefined && contentSize !== total) {
    throw frameError(`content size is ${contentSize} but blocks hold ${total} bytes`);
  }
  return { data: total === out.length ? out : out.slice(0, total), bytesRead: pos };
}

/** Returns a copy of `buf` with room for at least `size` bytes. */
function grow(buf: Uint8Array, size: number): Uint8Array {
  const next = new Uint8Array(Math.max(size, buf.length * 2));
  next.set(buf);
  return next;
}

/** Receives a frame's content as it is decoded, to compute its checksum (XXH32, seed 0). */
export interface Lz4ContentHasher {
  update(content: Uint8Array): unknown;
  /** The XXH32 of everything passed to `update`. */
  digest(): number;
}

/** What {@linkcode Lz4FrameDecoder.end} reports. */
export interface Lz4FrameEnd {
  /** Bytes the frame occupied, from its magic to its last checksum. */
  readonly bytesRead: number;
  /** Decompressed bytes. */
  readonly contentSize: number;
  /**
   * The frame's content checksum and the one computed by the hasher, when
   * the frame has one and a hasher was given.
   */
  readonly contentChecksum?: { readonly expected: number; readonly actual: number };
}

type DecoderState = "magic" | "descriptor" | "block-size" | "block" | "content-checksum" | "done";

/**
 * Decodes one standard LZ4 frame fed in chunks of any size (down to one
 * byte). {@linkcode Lz4FrameDecoder.push} yields the content block by
 * block; {@linkcode Lz4FrameDecoder.end} checks that the frame was
 * complete and reports its content checksum. Bytes after the frame are
 * ignored.
 *
 * Memory: one buffer of the frame's block maximum for a block that spans
 * chunks, one for its output (plus the 64 KiB window for linked blocks).
 * The header checksum and block checksums are skipped; the content
 * checksum is computed when a hasher is given.
 *
 * @example
 * ```ts
 * const dec = new Lz4FrameDecoder({ hasher: xxh.create32(0) });
 * for await (const chunk of stream) for (const content of dec.push(chunk)) sink(content);
 * const { contentChecksum } = dec.end();
 * ```
 */
export class Lz4FrameDecoder {
  readonly #hasher: Lz4ContentHasher | undefined;
  #state: DecoderState = "magic";
  #desc: FrameDescriptor | undefined;
  /** Bytes of a piece that spans chunks, gathered until it is whole. */
  #scratch = new Uint8Array(24);
  #have = 0;
  /** The length of the block being gathered (with its checksum), and whether it is stored. */
  #blockLength = 0;
  #blockStored = false;
  /** Decoded output: the window kept for linked blocks (`#history` bytes), then the current block. */
  #out: Uint8Array | undefined;
  #history = 0;
  #bytesRead = 0;
  #contentSize = 0;
  #declaredSize: number | undefined;
  #expectedChecksum: number | undefined;

  /** @param options.hasher receives the content, to check the frame's content checksum at the end */
  constructor(options: { hasher?: Lz4ContentHasher } = {}) {
    this.#hasher = options.hasher;
  }

  /** Whether the frame's end (its end mark and content checksum) has been read. */
  get done(): boolean {
    return this.#state === "done";
  }

  /**
   * Feeds the next bytes and yields the content of every block they
   * complete, in order. Each yielded array is a view that is only valid
   * until the generator resumes: use or copy it before asking for the next.
   * @throws {Error} when the frame is malformed
   */
  *push(chunk: Uint8Array): Generator<Uint8Array, void, undefined> {
    let pos = 0;
    // A stored empty block needs no bytes, so it completes even at the end of a chunk.
    while (this.#state !== "done" && (pos < chunk.length || this.#want() === 0)) {
      const want = this.#want();
      let piece: Uint8Array;
      if (this.#have === 0 && chunk.length - pos >= want) {
        piece = chunk.subarray(pos, pos + want);
        pos += want;
      } else {
        const n = Math.min(want - this.#have, chunk.length - pos);
        this.#scratch.set(chunk.subarray(pos, pos + n), this.#have);
        this.#have += n;
        pos += n;
        if (this.#have < want) break;
        piece = this.#scratch.subarray(0, want);
        this.#have = 0;
      }
      this.#bytesRead += want;
      const content = this.#step(piece);
      if (content !== undefined && content.length > 0) {
        this.#contentSize += content.length;
        if (this.#declaredSize !== undefined && this.#contentSize > this.#declaredSize) {
          throw frameError(`blocks exceed the content size ${this.#declaredSize}`);
        }
        this.#hasher?.update(content);
        yield content;
        this.#keepHistory(content);
      }
    }
  }

  /**
   * Declares the input finished.
   * @throws {Error} when the frame is incomplete or its content size field disagrees
   */
  end(): Lz4FrameEnd {
    if (this.#state !== "done") {
      throw frameError(`truncated at byte ${this.#bytesRead + this.#have}, need ${this.#bytesRead + this.#want()}`);
    }
    if (this.#declaredSize !== undefined && this.#declaredSize !== this.#contentSize) {
      throw frameError(`content size is ${this.#declaredSize} but blocks hold ${this.#contentSize} bytes`);
    }
    const expected = this.#expectedChecksum;
    return {
      bytesRead: this.#bytesRead,
      contentSize: this.#contentSize,
      ...(expected === undefined || !this.#hasher
        ? {}
        : { contentChecksum: { expected, actual: this.#hasher.digest() >>> 0 } }),
    };
  }

  /** Bytes the current state needs before it can advance. */
  #want(): number {
    switch (this.#state) {
      case "magic":
        return 6;
      case "descriptor":
        return descriptorTail(this.#desc!);
      case "block-size":
      case "content-checksum":
        return 4;
      case "block":
        return this.#blockLength;
      case "done":
        return 0;
    }
  }

  /** Consumes one whole piece of the current state; returns the content it decoded, if any. */
  #step(piece: Uint8Array): Uint8Array | undefined {
    const view = new DataView(piece.buffer, piece.byteOffset, piece.byteLength);
    switch (this.#state) {
      case "magic": {
        this.#desc = parseDescriptor(view, 0);
        this.#state = "descriptor";
        return undefined;
      }
      case "descriptor": {
        const d = this.#desc!;
        if (d.hasContentSize) this.#declaredSize = readContentSize(view, 0);
        // A block spanning chunks is gathered whole (with its checksum).
        this.#scratch = new Uint8Array(d.blockMax + 4);
        this.#state = "block-size";
        return undefined;
      }
      case "block-size": {
        const word = view.getUint32(0, true);
        if (word === 0) {
          this.#state = this.#desc!.hasContentChecksum ? "content-checksum" : "done";
          return undefined;
        }
        const size = word & 0x7fffffff;
        const { blockMax, hasBlockChecksum } = this.#desc!;
        if (size > blockMax) throw frameError(`block of ${size} bytes exceeds the ${blockMax} byte limit`);
        this.#blockLength = size + (hasBlockChecksum ? 4 : 0);
        this.#blockStored = (word & 0x80000000) !== 0;
        this.#state = "block";
        return undefined;
      }
      case "block": {
        this.#state = "block-size";
        const d = this.#desc!;
        const body = piece.subarray(0, piece.length - (d.hasBlockChecksum ? 4 : 0));
        if (this.#blockStored && d.independent) return body;
        const out = (this.#out ??= new Uint8Array((d.independent ? 0 : HISTORY_SIZE) + d.blockMax));
        const start = this.#history;
        if (this.#blockStored) {
          out.set(body, start);
          return out.subarray(start, start + body.length);
        }
        if (body.length === 0) throw new Error("Cannot decompress LZ4 block: block is empty");
        const end = decodeBlockInto(body, out, { start, limit: start + d.blockMax, window: d.independent ? start : 0 });
        return out.subarray(start, end);
      }
      case "content-checksum": {
        this.#expectedChecksum = view.getUint32(0, true);
        this.#state = "done";
        return undefined;
      }
      case "done":
        return undefined;
    }
  }

  /** For linked blocks, keeps the last 64 KiB of output at the start of the buffer for the next block. */
  #keepHistory(content: Uint8Array): void {
    const d = this.#desc!;
    if (d.independent) return;
    const out = this.#out!;
    const end = this.#history + content.length;
    const keep = Math.min(HISTORY_SIZE, end);
    // A stored block of a linked frame was copied into `out` too, so the window is contiguous there.
    out.copyWithin(0, end - keep, end);
    this.#history = keep;
  }
}

/**
 * Decodes one LZ4 block into `dst` from `start`, never writing at or past
 * `limit` and never copying matches from before `window` (the start of the
 * block for independent blocks, 0 for linked ones). Returns the new end.
 */
function decodeBlockInto(
  src: Uint8Array,
  dst: Uint8Array,
  bounds: { start: number; limit: number; window: number },
): number {
  const fail = (state: string): Error => new Error(`Cannot decompress LZ4 block: ${state}`);
  const { limit, window } = bounds;
  let s = 0;
  let d = bounds.start;
  if (src.length === 0) throw fail("block is empty");
  for (;;) {
    const token = src[s++] ?? 0;
    let literals = token >>> 4;
    if (literals === 15) {
      let b = 255;
      while (b === 255) {
        if (s >= src.length) throw fail("literal length runs past the block");
        b = src[s++] ?? 0;
        literals += b;
      }
    }
    if (s + literals > src.length) throw fail("literals run past the block");
    if (d + literals > limit) throw fail("output exceeds the block size");
    if (literals < 32) {
      // Short runs: a loop beats creating a subarray for `set`.
      for (const stop = s + literals; s < stop; ) dst[d++] = src[s++]!;
    } else {
      dst.set(src.subarray(s, s + literals), d);
      s += literals;
      d += literals;
    }
    if (s === src.length) return d; // the last sequence has no match
    if (s + 2 > src.length) throw fail("match offset runs past the block");
    const offset = (src[s] ?? 0) | ((src[s + 1] ?? 0) << 8);
    s += 2;
    if (offset === 0 || d - offset < window) throw fail(`match offset ${offset} is out of range`);
    let length = (token & 0x0f) + 4;
    if (length === 19) {
      let b = 255;
      while (b === 255) {
        if (s >= src.length) throw fail("match length runs past the block");
        b = src[s++] ?? 0;
        length += b;
      }
    }
    if (d + length > limit) throw fail("output exceeds the block size");
    if (offset >= length && length >= 32) {
      dst.copyWithin(d, d - offset, d - offset + length);
      d += length;
    } else {
      // Short or overlapping (a run repeating the last `offset` bytes): byte by byte.
      for (const end = d + length; d < end; d++) dst[d] = dst[d - offset]!;
    }
  }
}
