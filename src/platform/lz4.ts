/**
 * LZ4 block compression backed by the `lz4-wasm-nodejs` WebAssembly module
 * (a build of the Rust `lz4_flex` crate), plus a parser for standard LZ4
 * frames as written by Litestream v0.5.0–v0.5.15 and v0.3.x.
 *
 * The package's own JS loader reads the `.wasm` file from `__dirname` at
 * import time, which fails inside a `bun build --compile` executable. So we
 * import the `.wasm` as a file asset (Bun embeds those into compiled
 * executables) and talk to its wasm-bindgen ABI directly.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import wasmPath from "lz4-wasm-nodejs/lz4_wasm_nodejs_bg.wasm" with { type: "file" };

/** The exports of the lz4_flex wasm module, per its wasm-bindgen glue. */
interface Lz4Exports {
  readonly memory: WebAssembly.Memory;
  /** Writes `[ptr, len]` of a `u32 LE size ++ block` buffer at `retptr`. */
  compress(retptr: number, ptr: number, len: number): void;
  /** Writes `[ptr, len, errorRef, isError]` at `retptr`. */
  decompress(retptr: number, ptr: number, len: number): void;
  __wbindgen_add_to_stack_pointer(delta: number): number;
  __wbindgen_malloc(size: number): number;
  __wbindgen_free(ptr: number, size: number): void;
}

/** Magic number that starts every LZ4 frame, little-endian. */
const FRAME_MAGIC = 0x184d2204;

const wasmModule = new WebAssembly.Module(readFileSync(wasmPath));

/**
 * Values handed to the wasm module by reference (error strings). The module
 * only ever creates one per failing call, which we take back immediately.
 */
const heap = new Map<number, unknown>();
let nextHeapRef = 1;
const utf8 = new TextDecoder();

let wasm = instantiate();

function instantiate(): Lz4Exports {
  const imports = {
    __wbindgen_placeholder__: {
      __wbindgen_string_new(ptr: number, len: number): number {
        const text = utf8.decode(new Uint8Array(wasm.memory.buffer, ptr, len));
        const ref = nextHeapRef++;
        heap.set(ref, text);
        return ref;
      },
    },
  };
  return new WebAssembly.Instance(wasmModule, imports).exports as unknown as Lz4Exports;
}

/** Copies `input` into fresh wasm memory, leaving `prefix` bytes free before it. */
function passBytes(input: Uint8Array, prefix: number): number {
  const ptr = wasm.__wbindgen_malloc(input.length + prefix);
  new Uint8Array(wasm.memory.buffer).set(input, ptr + prefix);
  return ptr;
}

/**
 * Runs one wasm call with a 16-byte return area. A trap (a Rust panic)
 * leaves the module's allocator in an unknown state, so the instance is
 * thrown away and rebuilt before the error is rethrown.
 */
function callWasm<T>(body: (retptr: number) => T): T {
  const retptr = wasm.__wbindgen_add_to_stack_pointer(-16);
  let trapped = false;
  try {
    return body(retptr);
  } catch (err) {
    trapped = err instanceof WebAssembly.RuntimeError;
    throw err;
  } finally {
    if (trapped) {
      wasm = instantiate();
    } else {
      wasm.__wbindgen_add_to_stack_pointer(16);
    }
  }
}

/**
 * Compresses `data` into one raw LZ4 block (no frame, no size prefix).
 *
 * @param data bytes to compress; may be empty
 * @returns a new array holding the LZ4 block
 * @example
 * ```ts
 * const block = lz4CompressBlock(page);
 * const same = lz4DecompressBlock(block, page.length);
 * ```
 */
export function lz4CompressBlock(data: Uint8Array): Uint8Array {
  return callWasm((retptr) => {
    const ptr = passBytes(data, 0);
    wasm.compress(retptr, ptr, data.length);
    const ret = new Int32Array(wasm.memory.buffer, retptr, 2);
    const outPtr = ret[0] ?? 0;
    const outLen = ret[1] ?? 0;
    // The module prepends the uncompressed length as a u32 LE; strip it.
    const block = new Uint8Array(wasm.memory.buffer).slice(outPtr + 4, outPtr + outLen);
    wasm.__wbindgen_free(outPtr, outLen);
    return block;
  });
}

/**
 * Decompresses one raw LZ4 block that must expand to exactly
 * `decompressedSize` bytes.
 *
 * @param block the compressed block, without any size prefix
 * @param decompressedSize the exact expected output length
 * @returns a new array of `decompressedSize` bytes
 * @throws {RangeError} when `decompressedSize` is not an integer from 0 to 2^31-1
 * @throws {Error} when the block is malformed or expands to another size
 */
export function lz4DecompressBlock(block: Uint8Array, decompressedSize: number): Uint8Array {
  if (!Number.isInteger(decompressedSize) || decompressedSize < 0 || decompressedSize > 0x7fffffff) {
    throw new RangeError(
      `Cannot decompress LZ4 block: size ${decompressedSize} is not an integer from 0 to 2147483647`,
    );
  }
  // Each input byte of an LZ4 block yields at most 255 output bytes. Checking
  // this first stops a tiny corrupt block from making the module reserve
  // gigabytes of memory it never gives back.
  if (decompressedSize > block.length * 255 + 19) {
    throw new Error(
      `Cannot decompress LZ4 block: ${block.length} bytes cannot expand to ${decompressedSize}`,
    );
  }
  const out = callWasm((retptr) => {
    // The module expects the u32 LE uncompressed length before the block.
    const ptr = passBytes(block, 4);
    new DataView(wasm.memory.buffer).setUint32(ptr, decompressedSize, true);
    wasm.decompress(retptr, ptr, block.length + 4);
    const ret = new Int32Array(wasm.memory.buffer, retptr, 4);
    const outPtr = ret[0] ?? 0;
    const outLen = ret[1] ?? 0;
    if (ret[3]) {
      const ref = ret[2] ?? 0;
      const reason = heap.get(ref);
      heap.delete(ref);
      throw new Error(`Cannot decompress LZ4 block: ${String(reason)}`);
    }
    const bytes = new Uint8Array(wasm.memory.buffer).slice(outPtr, outPtr + outLen);
    wasm.__wbindgen_free(outPtr, outLen);
    return bytes;
  });
  // lz4_flex already insists on the exact size; this guards against a
  // future build that does not.
  if (out.length !== decompressedSize) {
    throw new Error(
      `Cannot decompress LZ4 block: expanded to ${out.length} bytes, expected ${decompressedSize}`,
    );
  }
  return out;
}

/**
 * Decompresses one raw LZ4 block into `dst`, which it must fill exactly:
 * the page-sized case of {@linkcode lz4DecompressBlock} without its copies
 * into and out of wasm memory and without allocating (a restore decodes
 * every page straight into its write buffer). The decoder checks every
 * length and offset against `block` and `dst`, so a damaged block throws
 * and never writes outside `dst`.
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
    if (pos + n > frame.length) {
      throw new Error(`Cannot decompress LZ4 frame: truncated at byte ${frame.length}, need ${pos + n}`);
    }
  };

  need(0, 7);
  const magic = view.getUint32(0, true);
  const flg = view.getUint8(4);
  const bd = view.getUint8(5);
  const blockMaxCode = (bd >> 4) & 0x07;
  const problem = magic !== FRAME_MAGIC
    ? `bad magic 0x${magic.toString(16).padStart(8, "0")}`
    : flg >> 6 !== 1
    ? `unsupported version ${flg >> 6}`
    : (flg & 0x02) !== 0 || (bd & 0x8f) !== 0
    ? "reserved descriptor bits are set"
    : blockMaxCode < 4
    ? `invalid block max size code ${blockMaxCode}`
    : undefined;
  if (problem !== undefined) throw new Error(`Cannot decompress LZ4 frame: ${problem}`);
  const blockMax = 1 << (2 * blockMaxCode + 8);
  const independent = (flg & 0x20) !== 0;
  const hasBlockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const hasContentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;

  let pos = 6;
  let contentSize: number | undefined;
  if (hasContentSize) {
    need(pos, 8);
    const size = view.getBigUint64(pos, true);
    if (size > 0x7fffffffn) {
      throw new Error(`Cannot decompress LZ4 frame: content size ${size} is too large`);
    }
    contentSize = Number(size);
    pos += 8;
  }
  if (hasDictId) pos += 4;
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
    if (size > blockMax) {
      throw new Error(`Cannot decompress LZ4 frame: block of ${size} bytes exceeds the ${blockMax} byte limit`);
    }
    need(pos, size);
    const limit = Math.min(maxTotal, total + blockMax);
    if (out.length < limit) out = grow(out, limit);
    const body = frame.subarray(pos, pos + size);
    if ((word & 0x80000000) !== 0) {
      if (total + size > limit) {
        throw new Error(`Cannot decompress LZ4 frame: blocks exceed the content size ${maxTotal}`);
      }
      out.set(body, total); // stored uncompressed
      total += size;
    } else {
      total = decodeBlockInto(body, out, { start: total, limit, window: independent ? total : 0 });
    }
    pos += size + (hasBlockChecksum ? 4 : 0);
  }
  if (hasContentChecksum) pos += 4;
  need(0, pos);
  if (contentSize !== undefined && contentSize !== total) {
    throw new Error(`Cannot decompress LZ4 frame: content size is ${contentSize} but blocks hold ${total} bytes`);
  }
  return { data: total === out.length ? out : out.slice(0, total), bytesRead: pos };
}

/** Returns a copy of `buf` with room for at least `size` bytes. */
function grow(buf: Uint8Array, size: number): Uint8Array {
  const next = new Uint8Array(Math.max(size, buf.length * 2));
  next.set(buf);
  return next;
}

/**
 * Decodes one LZ4 block into `dst` from `start`, never writing at or past
 * `limit` and never copying matches from before `window` (the start of the
 * block for independent blocks, 0 for linked ones). Returns the new end.
 *
 * Used for frames, whose blocks have no known decompressed size; the wasm
 * decoder insists on knowing the exact size up front.
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
      for (const stop = s + literals; s < stop;) dst[d++] = src[s++]!;
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
