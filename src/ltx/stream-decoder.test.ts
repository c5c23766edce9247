/**
 * decodeLtxStream() reads what decodeLtxFile() reads, whatever the chunk
 * boundaries, and rejects every damaged file decodeLtxFile()'s corruption
 * tests reject, with the same error classes, the path and an offset.
 */
import { describe, expect, test } from "bun:test";
import { buildLtx } from "../../test/harness/ltx-build.ts";
import { attemptInMemory, expectDomainError, GOLDEN_LTX_DIR, GOLDEN_LTX_NAMES } from "../../test/harness/ltx-damage.ts";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { pageChecksum } from "./checksum.ts";
import { decodeLtxFile } from "./decoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "./header.ts";
import { decodeLtxStream } from "./stream-decoder.ts";
import { txid } from "./txid.ts";

function fixture(name: string): Promise<Uint8Array> {
  return Bun.file(new URL(name, GOLDEN_LTX_DIR)).bytes();
}

/** `bytes` cut at the given offsets, as an async stream. */
async function* chunked(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield bytes.subarray(at, cut);
    at = cut;
  }
}

function randomCuts(length: number, rand: () => number, maxChunk: number): number[] {
  const cuts: number[] = [];
  for (let at = Math.floor(rand() * maxChunk); at < length; at += 1 + Math.floor(rand() * maxChunk)) cuts.push(at);
  return cuts;
}

async function streamPages(bytes: Uint8Array, cuts: readonly number[], path: string) {
  const file = await decodeLtxStream(chunked(bytes, cuts), { path });
  const pages: { pgno: number; data: Uint8Array }[] = [];
  for await (const { pgno, data, digest } of file.pages()) {
    // The digest is the page's one CRC pass: it must give the page checksum.
    if (digest.pageChecksum(pgno) !== pageChecksum(pgno, data)) throw new Error(`digest of page ${pgno} is wrong`);
    pages.push({ pgno, data });
  }
  return { file, pages };
}

/** Streams `bytes` (random chunks) and returns the pages, or the error thrown. */
async function attempt(bytes: Uint8Array, path: string, rand: () => number): Promise<Uint8Array[] | Error> {
  try {
    return (await streamPages(bytes, randomCuts(bytes.length, rand, 700), path)).pages.map((p) => p.data);
  } catch (err) {
    return err as Error;
  }
}

describe("decodeLtxStream() on golden files", () => {
  for (const name of GOLDEN_LTX_NAMES) {
    test(`${name}: whole, 1-byte and random chunks give decodeLtxFile()'s header, pages, index and trailer`, async () => {
      const bytes = await fixture(name);
      const expected = decodeLtxFile(bytes, { path: name });
      const expectedPages = [...expected.pages()];
      const rand = mulberry32(randomSeed() ^ bytes.length);
      const splits = [[], Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)];
      for (let i = 0; i < 20; i++) splits.push(randomCuts(bytes.length, rand, 1 + Math.floor(rand() * 5000)));
      for (const cuts of splits) {
        const { file, pages } = await streamPages(bytes, cuts, name);
        expect(file.header).toEqual(expected.header);
        expect(pages).toEqual(expectedPages);
        expect(file.trailer).toEqual(expected.trailer);
        expect(file.pageIndex.toArray()).toEqual(expected.pageIndex.toArray());
        expect(file.size).toBe(bytes.length);
      }
    });
  }

  test("shrink.ltx: a chunk boundary at every offset (and empty chunks) decodes the same", async () => {
    const bytes = await fixture("shrink.ltx");
    const expected = [...decodeLtxFile(bytes, { path: "s" }).pages()];
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { pages, file } = await streamPages(bytes, [cut, cut], "s");
      expect(pages).toEqual(expected);
      expect(file.size).toBe(bytes.length);
    }
  });

  test("reads legacy LZ4-frame pages (stored, compressed, mixed with blocks)", async () => {
    const rand = mulberry32(randomSeed());
    const data = [1, 2, 3].map(() => Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 3)));
    const h = newLtxHeader({
      flags: HEADER_FLAG_NO_CHECKSUM,
      pageSize: 4096,
      commit: 3,
      minTxid: txid(1),
      maxTxid: txid(1),
      timestamp: 0,
    });
    for (const encodings of [
      ["stored-frame", "stored-frame", "stored-frame"],
      ["lz4-frame", "stored-frame", "block"],
    ] as const) {
      const bytes = buildLtx(
        h,
        data.map((d, i) => ({ pgno: i + 1, data: d, encoding: encodings[i]! })),
        { postApply: 0n },
      );
      for (const cuts of [[], randomCuts(bytes.length, rand, 100)]) {
        const { pages } = await streamPages(bytes, cuts, "legacy.ltx");
        expect(pages.map((p) => p.data)).toEqual(data);
      }
    }
  });

  test("trailer and index are unknown until the pages are read", async () => {
    const file = await decodeLtxStream(chunked(await fixture("shrink.ltx"), []), { path: "s" });
    expect(file.header.commit).toBe(9);
    expect(() => file.trailer).toThrow(/not read to the end/);
    await file.cancel();
  });
});

describe("decodeLtxStream() on damaged golden files", () => {
  for (const name of GOLDEN_LTX_NAMES) {
    test(`${name}: every truncation fails cleanly`, async () => {
      const bytes = await fixture(name);
      const rand = mulberry32(randomSeed());
      const lengths = new Set<number>();
      for (let n = 0; n < 160; n++) lengths.add(n);
      for (let n = bytes.length - 200; n < bytes.length; n++) lengths.add(n);
      for (let i = 0; i < 150; i++) lengths.add(Math.floor(rand() * bytes.length));
      for (const n of lengths) expectDomainError(await attempt(bytes.subarray(0, n), name, rand), name);
    });

    test(`${name}: a bit flip fails exactly when decodeLtxFile() fails, else gives the same pages`, async () => {
      const original = await fixture(name);
      const file = decodeLtxFile(original, { path: name });
      const rand = mulberry32(randomSeed() ^ original.length);
      const positions: number[] = [];
      for (let pos = 0; pos < 100; pos++) positions.push(pos);
      const tailStart = file.pageIndex.toArray().reduce((end, e) => Math.max(end, e.offset + e.size), 100);
      for (let pos = tailStart; pos < original.length; pos++) positions.push(pos);
      for (const e of file.pageIndex) positions.push(e.offset, e.offset + 3, e.offset + 5, e.offset + 9);
      for (let i = 0; i < 1000; i++) positions.push(Math.floor(rand() * original.length));
      for (const pos of positions) {
        const bytes = original.slice();
        bytes[pos] = bytes[pos]! ^ (1 << Math.floor(rand() * 8));
        const inMemory = attemptInMemory(bytes, name);
        const streamed = await attempt(bytes, name, rand);
        if (inMemory instanceof Error) {
          expectDomainError(streamed, name);
        } else {
          expect({ pos, streamed }).toEqual({ pos, streamed: inMemory });
        }
      }
    });
  }
});

describe("decodeLtxStream() error details", () => {
  async function damaged(edit: (view: DataView, bytes: Uint8Array) => void): Promise<Uint8Array> {
    const bytes = (await fixture("shrink.ltx")).slice();
    edit(new DataView(bytes.buffer), bytes);
    return bytes;
  }
  // The cases of decoder-corruption.test.ts; a stream meets page frames
  // before the index, so a damaged frame is named by the frame check.
  const cases: [
    string,
    (view: DataView, bytes: Uint8Array) => void,
    RegExp,
    number,
    typeof CorruptFileError | typeof ChecksumMismatchError,
  ][] = [
    ["a bad magic", (v) => v.setUint8(3, 0x32), /does not start with 'LTX1'/, 0, CorruptFileError],
    ["an invalid header", (v) => v.setUint32(8, 4000), /page size 4000 is not a power of two/, 0, CorruptFileError],
    [
      "a zero file checksum",
      (v, b) => v.setBigUint64(b.length - 8, 0n),
      /file checksum is required/,
      3123,
      CorruptFileError,
    ],
    [
      "an oversized index",
      (v, b) => v.setBigUint64(b.length - 24, 1n << 40n),
      /page index size 1099511627776/,
      3115,
      CorruptFileError,
    ],
    ["a nonzero end marker", (v) => v.setUint8(3090, 1), /frame of page|page frame is invalid/, 3090, CorruptFileError],
    [
      "a wrong frame offset",
      (v) => v.setUint8(3097, 101),
      /page 1 frame offset 101 should be 100/,
      3096,
      CorruptFileError,
    ],
    ["a page above the commit", (v) => v.setUint32(12, 3), /page 4 exceeds commit 3/, 1347, CorruptFileError],
    ["a frame for another page", (v) => v.setUint32(352, 7), /page 3 follows page 7/, 429, CorruptFileError],
    ["unknown page flags", (v) => v.setUint16(356, 3), /page 2 has unknown flags 0x0003/, 356, CorruptFileError],
    ["a wrong block size", (v) => v.setUint32(358, 60), /page 2 does not decompress|frame/, -1, CorruptFileError],
    [
      "a wrong post-apply checksum",
      (v, b) => v.setBigUint64(b.length - 16, 1n | (1n << 63n)),
      /file checksum/,
      -1,
      ChecksumMismatchError,
    ],
  ];
  for (const [name, edit, message, offset, kind] of cases) {
    test(`reports ${name} with the path and offset`, async () => {
      const bytes = await damaged(edit);
      let error: unknown;
      try {
        const file = await decodeLtxStream(chunked(bytes, [50, 400, 401, 2000]), {
          path: "dir/shrink.ltx",
          autoRecoverable: true,
        });
        for await (const _ of file.pages()) {
          // read to the end
        }
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(kind);
      const e = error as CorruptFileError;
      expect(e.message).toMatch(message);
      expect(e.message).toContain("'dir/shrink.ltx'");
      expect(e.path).toBe("dir/shrink.ltx");
      if (kind === CorruptFileError) {
        expect(e.autoRecoverable).toBe(true);
        if (offset >= 0) expect(e.offset).toBe(offset);
      }
    });
  }
});
