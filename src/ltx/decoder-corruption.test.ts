/**
 * Damaged input never escapes as anything but CorruptFileError or
 * ChecksumMismatchError, and a flipped bit is never silently accepted.
 */
import { describe, expect, test } from "bun:test";
import { attemptInMemory, expectDomainError, GOLDEN_LTX_DIR, GOLDEN_LTX_NAMES } from "../../test/harness/ltx-damage.ts";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { CorruptFileError } from "../errors.ts";
import { decodeLtxFile } from "./decoder.ts";

describe("decodeLtxFile() on damaged golden files", () => {
  for (const name of GOLDEN_LTX_NAMES) {
    test(`${name}: every truncation fails cleanly`, async () => {
      const bytes = await Bun.file(new URL(name, GOLDEN_LTX_DIR)).bytes();
      const rand = mulberry32(randomSeed());
      const lengths = new Set<number>();
      for (let n = 0; n < 160; n++) lengths.add(n);
      for (let n = bytes.length - 200; n < bytes.length; n++) lengths.add(n);
      for (let i = 0; i < 150; i++) lengths.add(Math.floor(rand() * bytes.length));
      for (const n of lengths) expectDomainError(attemptInMemory(bytes.subarray(0, n), name), name);
    });

    test(`${name}: single bit flips fail cleanly or leave the pages unchanged`, async () => {
      const original = await Bun.file(new URL(name, GOLDEN_LTX_DIR)).bytes();
      const pristine = attemptInMemory(original, name) as Uint8Array[];
      const file = decodeLtxFile(original, { path: name });
      // Compressed bytes are outside the file checksum (it hashes the
      // uncompressed page). A flip there may still decode to the same page
      // (say, a match offset moved within a run of zeros), which is fine.
      const compressed = (pos: number): boolean =>
        file.pageIndex.toArray().some((e) => pos >= e.offset + 10 && pos < e.offset + e.size);
      const rand = mulberry32(randomSeed() ^ original.length);
      const positions: number[] = [];
      for (let pos = 0; pos < 100; pos++) positions.push(pos); // the header
      const tailStart = file.pageIndex.toArray().reduce((end, e) => Math.max(end, e.offset + e.size), 100);
      for (let pos = tailStart; pos < original.length; pos++) positions.push(pos); // marker, index, trailer
      for (const e of file.pageIndex) positions.push(e.offset, e.offset + 3, e.offset + 5, e.offset + 9);
      for (let i = 0; i < 1000; i++) positions.push(Math.floor(rand() * original.length));

      let accepted = 0;
      for (const pos of positions) {
        const bytes = original.slice();
        bytes[pos] = bytes[pos]! ^ (1 << Math.floor(rand() * 8));
        const result = attemptInMemory(bytes, name);
        if (result instanceof Error) {
          expectDomainError(result, name);
        } else {
          accepted++;
          expect(compressed(pos)).toBe(true);
          expect(result).toEqual(pristine);
        }
      }
      // Nearly every flip must be caught; this guards against a vacuous pass.
      expect(accepted).toBeLessThan(positions.length / 10);
    });
  }
});

describe("decodeLtxFile() error details", () => {
  async function damaged(edit: (view: DataView, bytes: Uint8Array) => void): Promise<Uint8Array> {
    const bytes = (await Bun.file(new URL("shrink.ltx", GOLDEN_LTX_DIR)).bytes()).slice();
    edit(new DataView(bytes.buffer), bytes);
    return bytes;
  }
  const cases: [string, (view: DataView, bytes: Uint8Array) => void, RegExp, number | "page"][] = [
    ["a bad magic", (v) => v.setUint8(3, 0x32), /does not start with 'LTX1'/, 0],
    ["an invalid header", (v) => v.setUint32(8, 4000), /page size 4000 is not a power of two/, 0],
    ["a zero file checksum", (v, b) => v.setBigUint64(b.length - 8, 0n), /file checksum is required/, 3123],
    ["an oversized index", (v, b) => v.setBigUint64(b.length - 24, 1n << 40n), /page index size 1099511627776/, 3115],
    ["a nonzero end marker", (v) => v.setUint8(3090, 1), /end marker is not zero/, 3090],
    ["a wrong frame offset", (v) => v.setUint8(3097, 101), /page 1 frame offset 101 should be 100/, 3096],
    ["a page above the commit", (v) => v.setUint32(12, 3), /page 4 exceeds commit 3/, 3109],
    ["a frame for another page", (v) => v.setUint32(352, 7), /frame holds page 7 but the index says page 2/, "page"],
    ["unknown page flags", (v) => v.setUint16(356, 3), /page 2 has unknown flags 0x0003/, "page"],
    [
      "a wrong block size",
      (v) => v.setUint32(358, 60),
      /page 2 block size 60 disagrees with index frame size 77/,
      "page",
    ],
  ];
  for (const [name, edit, message, offset] of cases) {
    test(`reports ${name} with the path and offset`, async () => {
      const bytes = await damaged(edit);
      let error: unknown;
      try {
        const file = decodeLtxFile(bytes, { path: "dir/shrink.ltx", autoRecoverable: true });
        file.page(2);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(CorruptFileError);
      const corrupt = error as CorruptFileError;
      expect(corrupt.message).toMatch(message);
      expect(corrupt.message).toContain("'dir/shrink.ltx'");
      expect(corrupt.message).toStartWith("Cannot decode LTX");
      expect(corrupt.path).toBe("dir/shrink.ltx");
      expect(corrupt.autoRecoverable).toBe(true);
      if (offset !== "page") expect(corrupt.offset).toBe(offset);
      else expect(corrupt.offset).toBeGreaterThanOrEqual(352);
    });
  }
});
