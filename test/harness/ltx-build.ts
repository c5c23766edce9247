/**
 * Builds LTX files by hand from the format description, with a choice of
 * page encoding per frame (current LZ4 block, or a legacy LZ4 frame, stored
 * or compressed), for decoder tests.
 *
 * @module
 */

import { CHECKSUM_FLAG, Crc64 } from "../../src/ltx/checksum.ts";
import { encodeHeader, type LtxHeader } from "../../src/ltx/header.ts";
import { lz4CompressBlock } from "../../src/platform/lz4.ts";

/** Compressed blocks by page image, so the lock-page files compress one page once. */
const blocks = new WeakMap<Uint8Array, Uint8Array>();
function compress(data: Uint8Array): Uint8Array {
  let block = blocks.get(data);
  if (block === undefined) {
    block = lz4CompressBlock(data);
    blocks.set(data, block);
  }
  return block;
}

export type FrameSpec = { pgno: number; data: Uint8Array; encoding: "block" | "stored-frame" | "lz4-frame" };

/**
 * Builds an LTX file by hand from the format description, with a choice of
 * page encoding per frame. `fileChecksum` skips hashing (for huge files).
 */
export function buildLtx(
  h: LtxHeader,
  frames: FrameSpec[],
  options: { postApply: bigint; fileChecksum?: bigint },
): Uint8Array {
  const parts: Uint8Array[] = [encodeHeader(h)];
  const crc = options.fileChecksum === undefined ? new Crc64().update(parts[0]!) : undefined;
  const index: number[] = [];
  let offset = 100;
  for (const { pgno, data, encoding } of frames) {
    const pageHeader = new Uint8Array(6);
    new DataView(pageHeader.buffer).setUint32(0, pgno);
    let body: Uint8Array;
    if (encoding === "block") {
      pageHeader[5] = 0x01;
      const block = compress(data);
      body = new Uint8Array(4 + block.length);
      new DataView(body.buffer).setUint32(0, block.length);
      body.set(block, 4);
      crc?.update(pageHeader).update(body.subarray(0, 4)).update(data);
    } else {
      // A legacy LZ4 frame as pierrec/lz4 writes it: FLG 0x64, BD 0x40, one
      // block, end mark, content checksum (left zero: it is not verified).
      const stored = encoding === "stored-frame";
      const block = stored ? data : compress(data);
      body = new Uint8Array(7 + 4 + block.length + 8);
      body.set([0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7]);
      new DataView(body.buffer).setUint32(7, (stored ? 0x80000000 : 0) | block.length, true);
      body.set(block, 11);
      crc?.update(pageHeader).update(data);
    }
    parts.push(pageHeader, body);
    index.push(pgno, offset, 6 + body.length);
    offset += 6 + body.length;
  }
  const tail: number[] = [0, 0, 0, 0, 0, 0];
  for (const v of [...index, 0]) {
    let x = v;
    while (x >= 0x80) {
      tail.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    tail.push(x);
  }
  const end = new Uint8Array(tail.length + 24);
  end.set(tail);
  const view = new DataView(end.buffer);
  view.setBigUint64(tail.length, BigInt(tail.length - 6));
  view.setBigUint64(tail.length + 8, options.postApply);
  crc?.update(end.subarray(0, end.length - 8));
  view.setBigUint64(tail.length + 16, options.fileChecksum ?? CHECKSUM_FLAG | crc!.digest());
  parts.push(end);
  return Buffer.concat(parts);
}
