import { describe, expect, test } from "bun:test";
import {
  decodeWalHeader,
  frameMatches,
  readWalSegment,
  walChecksum,
  WAL_HEADER_SIZE,
  type WalChecksum,
} from "./wal-reader.ts";

/** Builds a WAL image by hand so both byte orders and corruptions can be tested. */
function buildWal(options: {
  bigEndian: boolean;
  pageSize: number;
  salts?: [number, number];
  frames: Array<{ pgno: number; commit: number; fill: number }>;
}): { bytes: Uint8Array; checksums: WalChecksum[] } {
  const { bigEndian, pageSize } = options;
  const [salt1, salt2] = options.salts ?? [0x11111111, 0x22222222];
  const frameSize = 24 + pageSize;
  const bytes = new Uint8Array(32 + frameSize * options.frames.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, bigEndian ? 0x377f0683 : 0x377f0682);
  view.setUint32(4, 3007000);
  view.setUint32(8, pageSize);
  view.setUint32(12, 7);
  view.setUint32(16, salt1);
  view.setUint32(20, salt2);
  let sum = walChecksum(bigEndian, bytes.subarray(0, 24), [0, 0]);
  view.setUint32(24, sum[0]);
  view.setUint32(28, sum[1]);
  const checksums: WalChecksum[] = [];
  options.frames.forEach((f, i) => {
    const base = 32 + i * frameSize;
    view.setUint32(base, f.pgno);
    view.setUint32(base + 4, f.commit);
    view.setUint32(base + 8, salt1);
    view.setUint32(base + 12, salt2);
    bytes.fill(f.fill, base + 24, base + frameSize);
    sum = walChecksum(bigEndian, bytes.subarray(base, base + 8), sum);
    sum = walChecksum(bigEndian, bytes.subarray(base + 24, base + frameSize), sum);
    view.setUint32(base + 16, sum[0]);
    view.setUint32(base + 20, sum[1]);
    checksums.push(sum);
  });
  return { bytes, checksums };
}

function reader(bytes: Uint8Array) {
  return (offset: number, length: number) => bytes.subarray(offset, Math.min(bytes.length, offset + length));
}

describe("readWalSegment", () => {
  for (const bigEndian of [false, true]) {
    test(`reads committed frames only (${bigEndian ? "big" : "little"}-endian checksums)`, () => {
      const { bytes, checksums } = buildWal({
        bigEndian,
        pageSize: 512,
        frames: [
          { pgno: 1, commit: 0, fill: 1 },
          { pgno: 2, commit: 2, fill: 2 },
          { pgno: 1, commit: 3, fill: 3 },
          { pgno: 3, commit: 0, fill: 4 }, // uncommitted tail
        ],
      });
      const hdr = decodeWalHeader(bytes);
      expect(hdr?.bigEndian).toBe(bigEndian);
      if (!hdr) throw new Error("no header");
      const seg = readWalSegment(reader(bytes), hdr, { offset: WAL_HEADER_SIZE, seed: hdr.checksum });
      const frameSize = 536;
      expect(seg.commit).toBe(3);
      expect(seg.transactions).toBe(2);
      expect(seg.endOffset).toBe(32 + 3 * frameSize);
      expect([...seg.pages.entries()].sort()).toEqual([
        [1, 32 + 2 * frameSize],
        [2, 32 + frameSize],
      ]);
      expect(seg.checksum).toEqual(checksums[2] as WalChecksum);
    });
  }

  test("stops at a salt mismatch and at a checksum mismatch", () => {
    const { bytes } = buildWal({
      bigEndian: false,
      pageSize: 512,
      frames: [
        { pgno: 1, commit: 1, fill: 1 },
        { pgno: 2, commit: 2, fill: 2 },
      ],
    });
    const hdr = decodeWalHeader(bytes);
    if (!hdr) throw new Error("no header");
    const saltBroken = bytes.slice();
    new DataView(saltBroken.buffer).setUint32(32 + 536 + 8, 0xdeadbeef);
    expect(readWalSegment(reader(saltBroken), hdr, { offset: 32, seed: hdr.checksum }).commit).toBe(1);
    const dataBroken = bytes.slice();
    dataBroken[32 + 536 + 100] = (dataBroken[32 + 536 + 100] ?? 0) ^ 0xff;
    expect(readWalSegment(reader(dataBroken), hdr, { offset: 32, seed: hdr.checksum }).commit).toBe(1);
  });

  test("drops pages above a shrinking commit", () => {
    const { bytes } = buildWal({
      bigEndian: false,
      pageSize: 512,
      frames: [
        { pgno: 5, commit: 5, fill: 1 },
        { pgno: 1, commit: 2, fill: 2 },
      ],
    });
    const hdr = decodeWalHeader(bytes);
    if (!hdr) throw new Error("no header");
    const seg = readWalSegment(reader(bytes), hdr, { offset: 32, seed: hdr.checksum });
    expect([...seg.pages.keys()]).toEqual([1]);
    expect(seg.commit).toBe(2);
  });

  test("resumes from a saved offset and honours until", () => {
    const frames = Array.from({ length: 200 }, (_, i) => ({ pgno: (i % 7) + 1, commit: 7, fill: i & 0xff }));
    const { bytes, checksums } = buildWal({ bigEndian: false, pageSize: 512, frames });
    const hdr = decodeWalHeader(bytes);
    if (!hdr) throw new Error("no header");
    const at = 32 + 100 * 536;
    const first = readWalSegment(reader(bytes), hdr, { offset: 32, seed: hdr.checksum, until: at });
    expect(first.endOffset).toBe(at);
    expect(first.checksum).toEqual(checksums[99] as WalChecksum);
    expect(frameMatches(reader(bytes), hdr, { endOffset: at, checksum: first.checksum })).toBe(true);
    expect(frameMatches(reader(bytes), hdr, { endOffset: at, checksum: [1, 2] })).toBe(false);
    const rest = readWalSegment(reader(bytes), hdr, { offset: at, seed: first.checksum });
    expect(rest.endOffset).toBe(bytes.length);
    expect(rest.transactions).toBe(100);
  });
});

describe("decodeWalHeader", () => {
  test("rejects a bad magic, a short header and a bad checksum", () => {
    const { bytes } = buildWal({ bigEndian: false, pageSize: 4096, frames: [] });
    expect(decodeWalHeader(bytes)?.pageSize).toBe(4096);
    expect(decodeWalHeader(bytes.subarray(0, 31))).toBeUndefined();
    const bad = bytes.slice();
    bad[0] = 0;
    expect(decodeWalHeader(bad)).toBeUndefined();
    const badSum = bytes.slice();
    badSum[27] = (badSum[27] ?? 0) ^ 1;
    expect(decodeWalHeader(badSum)).toBeUndefined();
  });
});
