import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { lz4CompressBlock, lz4DecompressBlock, lz4DecompressBlockInto, lz4DecompressFrame } from "./lz4.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);
const encoder = new TextEncoder();

function randomBytes(rand: () => number, length: number, alphabet = 256): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * alphabet);
  return out;
}

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

describe("lz4CompressBlock()", () => {
  test("round-trips through lz4DecompressBlock for many shapes of input", () => {
    const rand = mulberry32(randomSeed());
    const inputs = [
      new Uint8Array(0),
      new Uint8Array(1),
      new Uint8Array(4096),
      encoder.encode("abc".repeat(1000)),
      randomBytes(rand, 65536),
    ];
    for (let i = 0; i < 40; i++) {
      inputs.push(randomBytes(rand, Math.floor(rand() * 70000), 1 + Math.floor(rand() * 8)));
    }
    for (const input of inputs) {
      const block = lz4CompressBlock(input);
      expect(lz4DecompressBlock(block, input.length)).toEqual(input);
    }
  });

  test("shrinks repetitive data and returns a raw block without a size prefix", () => {
    const block = lz4CompressBlock(new Uint8Array(4096));
    expect(block.length).toBeLessThan(64);
    // A raw block starts with a token; the zero page starts with one zero literal.
    expect(block[0]! >> 4).toBeGreaterThan(0);
  });
});

describe("lz4DecompressBlock()", () => {
  test("reads a block written by pierrec/lz4 (golden snapshot.ltx page 1)", async () => {
    const ltx = await Bun.file(new URL("snapshot.ltx", FIXTURES)).bytes();
    const db = await Bun.file(new URL("db1.db", FIXTURES)).bytes();
    // Page 1's frame is at offset 100 with size 252: 6-byte header, 4-byte size, block.
    const block = ltx.subarray(110, 352);
    expect(lz4DecompressBlock(block, 4096)).toEqual(db.subarray(0, 4096));
  });

  test("reads a hand-built literal-only block", () => {
    const data = randomBytes(mulberry32(7), 300);
    // Token 0xF0: 15+ literals, no match; 300 = 15 + 255 + 30.
    const block = concat([0xf0, 255, 30], data);
    expect(lz4DecompressBlock(block, 300)).toEqual(data);
  });

  test("throws when the block expands to a different size", () => {
    const block = lz4CompressBlock(new Uint8Array(4096));
    expect(() => lz4DecompressBlock(block, 4095)).toThrow(/^Cannot decompress LZ4 block/);
    expect(() => lz4DecompressBlock(block, 4097)).toThrow(/^Cannot decompress LZ4 block/);
  });

  test("refuses sizes a block of its length cannot reach, before allocating", () => {
    expect(() => lz4DecompressBlock(new Uint8Array(4), 0x7fffffff)).toThrow(
      "Cannot decompress LZ4 block: 4 bytes cannot expand to 2147483647",
    );
    // The most compressible input still fits the bound: runs of zeros come
    // within a few bytes of the 255:1 limit.
    for (const size of [65536, 4 << 20]) {
      const zeros = new Uint8Array(size);
      expect(lz4DecompressBlock(lz4CompressBlock(zeros), size)).toEqual(zeros);
    }
  });

  test("throws RangeError for an impossible size", () => {
    expect(() => lz4DecompressBlock(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => lz4DecompressBlock(new Uint8Array(1), 1.5)).toThrow(RangeError);
  });

  test("throws only plain Errors on damaged blocks and keeps working afterwards", () => {
    const rand = mulberry32(randomSeed());
    const page = randomBytes(rand, 4096, 4);
    const block = lz4CompressBlock(page);
    for (let i = 0; i < 2000; i++) {
      const bad = block.slice(0, rand() < 0.3 ? Math.floor(rand() * block.length) : block.length);
      for (let k = 0; k < 3 && bad.length > 0; k++) {
        const at = Math.floor(rand() * bad.length);
        bad[at] = bad[at]! ^ (1 << Math.floor(rand() * 8));
      }
      try {
        const out = lz4DecompressBlock(bad, 4096);
        expect(out.length).toBe(4096);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(WebAssembly.RuntimeError);
        expect((err as Error).message).toStartWith("Cannot decompress LZ4 block");
      }
    }
    expect(lz4DecompressBlock(block, 4096)).toEqual(page);
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
    expect(() => lz4DecompressBlockInto(Uint8Array.of(0x1f, 0, 0, 0, 0xff, 0xff, 0xff), new Uint8Array(64))).toThrow("match offset 0");
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

describe("lz4 in a compiled executable", () => {
  test("embeds the wasm module and round-trips", async () => {
    await using dir = await makeTempDir("litefleet-lz4-");
    const entry = join(dir.path, "entry.ts");
    const binary = join(dir.path, "lz4-check");
    await Bun.write(
      entry,
      [
        `import { lz4CompressBlock, lz4DecompressBlock } from ${JSON.stringify(new URL("./lz4.ts", import.meta.url).pathname)};`,
        `const data = new TextEncoder().encode("compiled ".repeat(100));`,
        `const back = lz4DecompressBlock(lz4CompressBlock(data), data.length);`,
        `const ok = back.length === data.length && back.every((b, i) => b === data[i]);`,
        `const embedded = Bun.embeddedFiles.map((f) => (f as Blob & { name: string }).name);`,
        `console.log(JSON.stringify({ ok, embedded }));`,
      ].join("\n"),
    );
    const bun = process.execPath;
    const build = Bun.spawnSync([bun, "build", "--compile", entry, "--outfile", binary], { stderr: "pipe" });
    expect(build.stderr.toString()).not.toContain("error");
    expect(build.exitCode).toBe(0);
    const run = Bun.spawnSync([binary], { cwd: dir.path, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    const result = JSON.parse(run.stdout.toString()) as { ok: boolean; embedded: string[] };
    expect(result.ok).toBe(true);
    expect(result.embedded.some((name) => name.endsWith(".wasm"))).toBe(true);
  }, 60_000);
});
