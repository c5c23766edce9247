/**
 * Verifies the content checksum (XXH32, seed 0) of a standard LZ4 frame,
 * which `lz4DecompressFrame` skips. Litestream v0.3 frames carry one
 * (FLG 0x64); frames without the flag pass unchecked.
 *
 * @module
 */

import xxhash from "xxhash-wasm";

let hasher: Promise<(data: Uint8Array, seed?: number) => number> | undefined;

/** The XXH32 of `data` (seed 0), from the xxhash-wasm module (instantiated once). */
async function xxh32(data: Uint8Array): Promise<number> {
  hasher ??= xxhash().then((h) => h.h32Raw);
  return (await hasher)(data, 0) >>> 0;
}

/**
 * Checks the frame's content checksum against `content`.
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
  const actual = await xxh32(content);
  return expected === actual ? undefined : { expected, actual };
}
