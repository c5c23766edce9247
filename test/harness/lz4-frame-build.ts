/**
 * Writes standard LZ4 frames as Litestream v0.3 does (pierrec/lz4 defaults:
 * FLG 0x64 — independent blocks, an XXH32 content checksum, no block
 * checksums, no content size; BD 0x70 — 4 MiB blocks), for tests that need
 * v0.3 objects the Litestream binary did not write: large snapshots,
 * multi-block frames, damaged checksums.
 *
 * @module
 */

import { closeSync, openSync, readSync, writeSync } from "node:fs";
import xxhash from "xxhash-wasm";
import { lz4CompressBlock } from "../../src/platform/lz4.ts";

const xxh = await xxhash();

/** Block maximum codes of the BD byte: 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB. */
export type BlockMaxCode = 4 | 5 | 6 | 7;

function u32le(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return b;
}

/** The frame header: magic, FLG, BD and its header checksum (the second byte of XXH32 over FLG and BD). */
export function lz4FrameHeader(options: { blockMaxCode?: BlockMaxCode; contentChecksum?: boolean } = {}): Uint8Array {
  const flg = 0x60 | (options.contentChecksum === false ? 0 : 0x04);
  const bd = (options.blockMaxCode ?? 7) << 4;
  const hc = (xxh.h32Raw(Uint8Array.of(flg, bd), 0) >>> 8) & 0xff;
  return Uint8Array.of(0x04, 0x22, 0x4d, 0x18, flg, bd, hc);
}

/** One block of a frame: compressed, or stored when compression does not shrink it. */
export function lz4FrameBlock(content: Uint8Array): Uint8Array {
  const block = lz4CompressBlock(content);
  const stored = block.length >= content.length;
  const body = stored ? content : block;
  const out = new Uint8Array(4 + body.length);
  out.set(u32le((stored ? 0x80000000 : 0) | body.length));
  out.set(body, 4);
  return out;
}

/** A whole frame of `content` in memory. */
export function encodeLz4Frame(content: Uint8Array, options: { blockMaxCode?: BlockMaxCode } = {}): Uint8Array {
  const blockMax = 1 << (2 * (options.blockMaxCode ?? 7) + 8);
  const parts = [lz4FrameHeader(options)];
  for (let at = 0; at < content.length; at += blockMax) parts.push(lz4FrameBlock(content.subarray(at, at + blockMax)));
  parts.push(u32le(0), u32le(xxh.h32Raw(content, 0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Compresses the file at `src` into one frame at `dst`, 4 MiB blocks, reading one block at a time. */
export function writeLz4FrameFile(src: string, dst: string): void {
  const blockMax = 4 * 1024 * 1024;
  const inFd = openSync(src, "r");
  const outFd = openSync(dst, "w");
  try {
    const hash = xxh.create32(0);
    writeSync(outFd, lz4FrameHeader());
    const buf = new Uint8Array(blockMax);
    for (let at = 0; ; ) {
      let n = 0;
      while (n < blockMax) {
        const got = readSync(inFd, buf, n, blockMax - n, at + n);
        if (got === 0) break;
        n += got;
      }
      if (n === 0) break;
      const content = buf.subarray(0, n);
      hash.update(content);
      writeSync(outFd, lz4FrameBlock(content));
      at += n;
    }
    writeSync(outFd, u32le(0));
    writeSync(outFd, u32le(hash.digest()));
  } finally {
    closeSync(inFd);
    closeSync(outFd);
  }
}
