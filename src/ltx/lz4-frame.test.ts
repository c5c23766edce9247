import { describe, expect, test } from "bun:test";
import xxhash from "xxhash-wasm";
import { encodeLz4Frame } from "../../test/harness/lz4-frame-build.ts";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { lz4CompressBlock, lz4DecompressBlock } from "../platform/lz4.ts";
import { lz4DecompressBlockInto, lz4DecompressFrame, Lz4FrameDecoder, type Lz4FrameEnd } from "./lz4-frame.ts";

const encoder = new TextEncoder();
const xxh = await xxhash();

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function u32le(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

/** A frame header: magic, FLG, BD (64 KiB blocks) and a (dummy) header checksum. */
function frameHeader(flg: number, extra: number[] = []): number[] {
  return [0x04, 0x22, 0x4d, 0x18, flg, 0x40, ...extra, 0xa7];
}

function randomBytes(rand: () => number, length: number, alphabet = 256): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * alphabet);
  return out;
}

/** Feeds `frame` to a decoder in `chunks` (their lengths); returns the content and what `end` reported. */
function decodeIn(frame: Uint8Array, lengths: readonly number[]): { data: Uint8Array; end: Lz4FrameEnd } {
  const dec = new Lz4FrameDecoder({ hasher: xxh.create32(0) });
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const n of [...lengths, frame.length]) {
    const chunk = frame.subarray(at, Math.min(frame.length, at + n));
    at += chunk.length;
    for (const content of dec.push(chunk)) parts.push(content.slice());
    if (at >= frame.length) break;
  }
  return { data: concat(...parts), end: dec.end() };
}

/** Every way of splitting `frame` into two chunks, plus one byte at a time. */
function splits(frame: Uint8Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i <= frame.length; i++) out.push([i]);
  out.push(Array.from({ length: frame.length }, () => 1));
  return out;
}

describe("lz4DecompressFrame()", () => {
  const data = encoder.encode("hello, frame! ".repeat(50));

  test("reads a frame with one stored block and reports its length", () => {
    const frame = concat(frameHeader(0x64), u32le(0x80000000 | data.length), data, u32le(0), [1, 2, 3, 4]);
    const trailing = concat(frame, [9, 9, 9, 9, 9, 9]);
    expect(lz4DecompressFrame(trailing)).toEqual({ data, bytesRead: frame.length });
  });

  test("reads a frame with a compressed block, as pierrec/lz4 writes them", () => {
    const block = lz4CompressBlock(data);
    const frame = concat(frameHeader(0x64), u32le(block.length), block, u32le(0), [0, 0, 0, 0]);
    expect(lz4DecompressFrame(frame)).toEqual({ data, bytesRead: frame.length });
  });

  test("skips content size, dictionary ID and block checksums", () => {
    const block = lz4CompressBlock(data);
    // FLG 0x79: version 1, independent, block checksums, content size, dict ID.
    const frame = concat(
      frameHeader(0x79, [...u32le(data.length), 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd]),
      u32le(block.length),
      block,
      [5, 5, 5, 5],
      u32le(0),
    );
    expect(lz4DecompressFrame(frame)).toEqual({ data, bytesRead: frame.length });
  });

  test("joins several blocks, stored and compressed", () => {
    const a = data.subarray(0, 300);
    const b = data.subarray(300);
    const blockB = lz4CompressBlock(b);
    const frame = concat(frameHeader(0x60), u32le(0x80000000 | a.length), a, u32le(blockB.length), blockB, u32le(0));
    expect(lz4DecompressFrame(frame)).toEqual({ data, bytesRead: frame.length });
  });

  test("lets linked blocks copy from earlier blocks, independent ones not", () => {
    const first = encoder.encode("abcdefgh");
    // Token 0x04: no literals, match of 8 at offset 8; then token 0x10: literal "z".
    const second = [0x04, 0x08, 0x00, 0x10, 0x7a];
    const body = concat(u32le(0x80000000 | 8), first, u32le(second.length), second, u32le(0));
    const linked = concat(frameHeader(0x40), body);
    expect(new TextDecoder().decode(lz4DecompressFrame(linked).data)).toBe("abcdefghabcdefghz");
    expect(() => lz4DecompressFrame(concat(frameHeader(0x60), body))).toThrow(/offset 8 is out of range/);
  });

  test("throws on a bad magic, bad descriptor, wrong content size or any truncation", () => {
    const frame = concat(frameHeader(0x64), u32le(0x80000000 | data.length), data, u32le(0), [1, 2, 3, 4]);
    expect(() => lz4DecompressFrame(concat([0x05], frame.subarray(1)))).toThrow(/bad magic/);
    expect(() => lz4DecompressFrame(concat(frame.subarray(0, 4), [0xa4], frame.subarray(5)))).toThrow(
      /unsupported version/,
    );
    const sized = concat(frameHeader(0x68, [...u32le(5), 0, 0, 0, 0]), u32le(0x80000000 | 3), [1, 2, 3], u32le(0));
    expect(() => lz4DecompressFrame(sized)).toThrow(/content size is 5/);
    for (let n = 0; n < frame.length; n++) {
      expect(() => lz4DecompressFrame(frame.subarray(0, n))).toThrow(/^Cannot decompress LZ4 frame/);
    }
  });
});

describe("Lz4FrameDecoder", () => {
  const rand = mulberry32(randomSeed());
  // Three 64 KiB blocks and a short one: compressible text, then noise LZ4 stores.
  const content = concat(
    encoder.encode("page of a database ".repeat(11000)).subarray(0, 3 * 65536),
    randomBytes(rand, 5000),
  );

  test("decodes a multi-block frame and checks its content checksum", () => {
    const frame = encodeLz4Frame(content, { blockMaxCode: 4 });
    const { data, end } = decodeIn(frame, []);
    expect(data).toEqual(content);
    expect(end.bytesRead).toBe(frame.length);
    expect(end.contentSize).toBe(content.length);
    expect(end.contentChecksum).toEqual({ expected: xxh.h32Raw(content, 0), actual: xxh.h32Raw(content, 0) });
    expect(lz4DecompressFrame(frame).data).toEqual(content);
  });

  test("yields each block as it completes, never the whole content", () => {
    const frame = encodeLz4Frame(content, { blockMaxCode: 4 });
    const dec = new Lz4FrameDecoder();
    const sizes: number[] = [];
    for (let at = 0; at < frame.length; at += 4096) {
      for (const c of dec.push(frame.subarray(at, at + 4096))) sizes.push(c.length);
    }
    dec.end();
    expect(sizes).toEqual([65536, 65536, 65536, 5000]);
  });

  test("OK at every chunk boundary of a small frame (stored and compressed blocks, content checksum)", () => {
    const small = concat(encoder.encode("abcabcabcabc".repeat(40)), randomBytes(rand, 300));
    const frame = concat(
      frameHeader(0x64),
      u32le(0x80000000 | 200),
      small.subarray(0, 200),
      (() => {
        const b = lz4CompressBlock(small.subarray(200));
        return concat(u32le(b.length), b);
      })(),
      u32le(0),
      u32le(xxh.h32Raw(small, 0)),
    );
    for (const lengths of splits(frame)) {
      const { data, end } = decodeIn(frame, lengths);
      expect(data).toEqual(small);
      expect(end.contentChecksum!.actual).toBe(end.contentChecksum!.expected);
      expect(end.bytesRead).toBe(frame.length);
    }
  });

  test("OK at every chunk boundary with content size, dictionary ID and block checksums", () => {
    const small = encoder.encode("hello, frame! ".repeat(20));
    const block = lz4CompressBlock(small);
    const frame = concat(
      frameHeader(0x79, [...u32le(small.length), 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd]),
      u32le(block.length),
      block,
      [5, 5, 5, 5],
      u32le(0),
    );
    for (const lengths of splits(frame)) {
      const { data, end } = decodeIn(frame, lengths);
      expect(data).toEqual(small);
      expect(end.contentChecksum).toBeUndefined();
    }
  });

  test("linked blocks copy across chunk and block boundaries, from the last 64 KiB only", () => {
    const a = randomBytes(rand, 65536);
    const b = randomBytes(rand, 65536);
    // Token 0x0f + 255 + 0: a match of 19 + 255 = 274 bytes at offset 65535 (from byte 1 of `b`); then literal "z".
    const third = [0x0f, 0xff, 0xff, 0xff, 0x00, 0x10, 0x7a];
    const frame = concat(
      frameHeader(0x44),
      u32le(0x80000000 | a.length),
      a,
      u32le(0x80000000 | b.length),
      b,
      u32le(third.length),
      third,
      u32le(0),
      u32le(0),
    );
    const want = concat(a, b, b.subarray(1, 275), encoder.encode("z"));
    for (const lengths of [[], [1], [70000], [65536 + 11 + 4 + 3], Array.from({ length: 40 }, () => 4099)]) {
      const { data, end } = decodeIn(frame, lengths);
      expect(data).toEqual(want);
      expect(end.contentChecksum!.expected).toBe(0);
      expect(end.contentChecksum!.actual).toBe(xxh.h32Raw(want, 0));
    }
    // Offset 65535 from the end of `a` alone would reach before the window of an independent frame.
    const independent = concat(frameHeader(0x64), frame.subarray(7));
    expect(() => decodeIn(independent, [])).toThrow(/out of range/);
  });

  test("ErrChecksum: a corrupted content checksum is reported, not thrown", () => {
    const frame = encodeLz4Frame(content, { blockMaxCode: 4 });
    frame[frame.length - 1]! ^= 0xff;
    const { data, end } = decodeIn(frame, [1000]);
    expect(data).toEqual(content);
    expect(end.contentChecksum!.actual).not.toBe(end.contentChecksum!.expected);
  });

  test("ErrTruncated at every length, ErrBlockSize, ErrContentSize", () => {
    const frame = encodeLz4Frame(content.subarray(0, 2000), { blockMaxCode: 4 });
    for (let n = 0; n < frame.length; n++) {
      expect(() => decodeIn(frame.subarray(0, n), [])).toThrow(/^Cannot decompress LZ4 frame: truncated/);
    }
    const huge = concat(frameHeader(0x60), u32le(65537), new Uint8Array(10));
    expect(() => decodeIn(huge, [])).toThrow(/exceeds the 65536 byte limit/);
    const sized = concat(frameHeader(0x68, [...u32le(5), 0, 0, 0, 0]), u32le(0x80000000 | 3), [1, 2, 3], u32le(0));
    expect(() => decodeIn(sized, [2])).toThrow(/content size is 5/);
    expect(() => decodeIn(concat([0x05], frame.subarray(1)), [])).toThrow(/bad magic/);
  });

  test("ignores bytes after the frame", () => {
    const frame = encodeLz4Frame(content.subarray(0, 999));
    const { data, end } = decodeIn(concat(frame, [1, 2, 3]), [frame.length - 2]);
    expect(data).toEqual(content.subarray(0, 999));
    expect(end.bytesRead).toBe(frame.length);
  });
});

describe("lz4DecompressBlockInto()", () => {
  test("gives what lz4DecompressBlock() gives, into a reused array", () => {
    const rand = mulberry32(randomSeed());
    const dst = new Uint8Array(4096);
    for (let i = 0; i < 60; i++) {
      const page = randomBytes(rand, 4096, 1 + Math.floor(rand() * (i % 3 === 0 ? 256 : 6)));
      const block = lz4CompressBlock(page);
      dst.fill(0xaa);
      lz4DecompressBlockInto(block, dst);
      expect(new Uint8Array(lz4DecompressBlock(block, 4096))).toEqual(dst);
    }
  });

  test("throws when the block fills less or more than the array, or uses match offset 0", () => {
    const block = lz4CompressBlock(new Uint8Array(4096));
    expect(() => lz4DecompressBlockInto(block, new Uint8Array(4095))).toThrow("output exceeds the block size");
    expect(() => lz4DecompressBlockInto(block, new Uint8Array(4097))).toThrow("expanded to 4096 bytes, expected 4097");
    // One literal zero, then a match at offset 0 (invalid in LZ4, whatever the output would be).
    expect(() => lz4DecompressBlockInto(Uint8Array.of(0x1f, 0, 0, 0, 0xff, 0xff, 0xff), new Uint8Array(64))).toThrow(
      "match offset 0",
    );
  });

  test("throws only plain Errors on damaged blocks and never writes outside the array", () => {
    const rand = mulberry32(randomSeed());
    const page = randomBytes(rand, 4096, 4);
    const block = lz4CompressBlock(page);
    const outer = new Uint8Array(3 * 4096);
    for (let i = 0; i < 500; i++) {
      const damaged = block.slice(0, Math.max(1, block.length - (i % 5 === 0 ? Math.floor(rand() * 20) : 0)));
      const at = Math.floor(rand() * damaged.length);
      damaged[at] = damaged[at]! ^ (1 << Math.floor(rand() * 8));
      outer.fill(7);
      try {
        lz4DecompressBlockInto(damaged, outer.subarray(4096, 8192));
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toStartWith("Cannot decompress LZ4 block");
      }
      expect(outer.subarray(0, 4096).every((b) => b === 7)).toBe(true);
      expect(outer.subarray(8192).every((b) => b === 7)).toBe(true);
    }
  });
});
