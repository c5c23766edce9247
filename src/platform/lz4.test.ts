import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { lz4CompressBlock, lz4DecompressBlock } from "./lz4.ts";

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
