/**
 * XXH32 (seed 0), the content checksum of the LZ4 frames Litestream v0.3
 * writes (FLG 0x64), from the xxhash-wasm module (instantiated once):
 * streaming for objects read in pieces (`object-reader.ts`), and a check of
 * a whole frame in memory. Frames without the flag pass unchecked.
 *
 * @module
 */

import xxhash from "xxhash-wasm";
import type { Lz4ContentHasher } from "../ltx/lz4-frame.ts";

let api: ReturnType<typeof xxhash> | undefined;

/**
 * Largest piece handed to the wasm hasher at once: it copies its input
 * into its own memory, which grows to the largest input and never shrinks,
 * so whole 4 MiB blocks would cost 4 MiB more for the rest of the process.
 */
const HASH_PIECE = 64 * 1024;

/** A streaming XXH32 (seed 0), fed with `update` and read with `digest`. */
export async function createXxh32(): Promise<Lz4ContentHasher> {
  api ??= xxhash();
  const state = (await api).create32(0);
  return {
    update(content: Uint8Array) {
      for (let at = 0; at < content.length; at += HASH_PIECE) state.update(content.subarray(at, at + HASH_PIECE));
    },
    digest: () => state.digest(),
  };
}

/**
 * Checks a whole frame's content checksum against `content`.
 * @param frame the compressed frame, starting at its magic
 * @param frameLength bytes the frame occupied (`bytesRead`)
 * @param content the decompressed content
 * @returns `undefined` when it matches or the frame has no content checksum, else the expected and actual values
 */
export async function lz4ContentChecksumMismatch(
  frame: Uint8Array,
  frameLength: number,
  content: Uint8Array,
): Promise<{ expected: number; actual: number } | undefined> {
  const flg = frame[4] ?? 0;
  if ((flg & 0x04) === 0 || frameLength < 11) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frameLength);
  const expected = view.getUint32(frameLength - 4, true);
  api ??= xxhash();
  const actual = (await api).h32Raw(content, 0) >>> 0;
  return expected === actual ? undefined : { expected, actual };
}
