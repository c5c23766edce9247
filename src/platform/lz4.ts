/**
 * LZ4 block compression backed by the `lz4-wasm-nodejs` WebAssembly module
 * (a build of the Rust `lz4_flex` crate). Standard LZ4 *frames* (Litestream
 * v0.5.0–v0.5.15 pages, v0.3.x objects) are parsed in pure TypeScript by
 * `src/ltx/lz4-frame.ts`.
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

// Compiled and instantiated on the first call, not at import: compiling
// the module alone costs ~6.6 MiB of RSS in a compiled probe (runtime code
// pages of the wasm compiler), which a run that never compresses or
// decompresses (`status`, a restart with nothing to upload) need not pay
// (issue #13).
let wasmModule: WebAssembly.Module | undefined;

/**
 * Values handed to the wasm module by reference (error strings). The module
 * only ever creates one per failing call, which we take back immediately.
 */
const heap = new Map<number, unknown>();
let nextHeapRef = 1;
const utf8 = new TextDecoder();

/** The live instance; set by {@linkcode callWasm} before any use. */
let wasm!: Lz4Exports;
let instantiated = false;

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
  wasmModule ??= new WebAssembly.Module(readFileSync(wasmPath));
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
  if (!instantiated) {
    wasm = instantiate();
    instantiated = true;
  }
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
    throw new Error(`Cannot decompress LZ4 block: ${block.length} bytes cannot expand to ${decompressedSize}`);
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
    throw new Error(`Cannot decompress LZ4 block: expanded to ${out.length} bytes, expected ${decompressedSize}`);
  }
  return out;
}
