import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../../test/harness/prng.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { PageChecksums } from "../ltx/checksum.ts";
import { txid } from "../ltx/txid.ts";
import { PageChecksumFile } from "./page-checksum-file.ts";

function randomPages(seed: number, count: number, pageSize = 512): Uint8Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => Uint8Array.from({ length: pageSize }, () => Math.floor(rand() * 256)));
}

function checksumsOf(pages: readonly Uint8Array[], pageSize = 512): PageChecksums {
  const sums = new PageChecksums(pageSize);
  for (const [i, p] of pages.entries()) sums.set(i + 1, p);
  return sums;
}

describe("PageChecksumFile", () => {
  test("write() then load() returns the same checksums; in-place updates and shrinking keep it consistent", async () => {
    await using dir = await makeTempDir("crc-");
    const file = new PageChecksumFile(join(dir.path, "pages.crc"));
    const pages = randomPages(1, 20_000);
    const sums = checksumsOf(pages);
    const state = { txid: txid(7), checksum: sums.databaseChecksum(), pageSize: 512, commit: pages.length };
    file.write(sums, state);
    expect(statSync(file.path).size).toBe(32 + 8 * pages.length);
    const loaded = file.load(state);
    if ("untrusted" in loaded) throw new Error(loaded.untrusted);
    expect({ commit: loaded.commit, checksum: loaded.checksums.databaseChecksum() }).toEqual({
      commit: 20_000,
      checksum: state.checksum,
    });

    // A few pages change (runs and single pages) and the database shrinks by ten pages.
    const changed = [3, 4, 5, 100, 8191, 8192, 8193, 19_000];
    for (const [k, data] of randomPages(2, changed.length).entries()) sums.set(changed[k]!, data);
    sums.truncate(19_990);
    const next = { txid: txid(8), checksum: sums.databaseChecksum(), pageSize: 512, commit: 19_990 };
    file.write(sums, next, changed);
    expect(statSync(file.path).size).toBe(32 + 8 * 19_990);
    expect("checksums" in file.load(next)).toBe(true);
    // Byte for byte what a full write of the new state gives.
    const whole = new PageChecksumFile(join(dir.path, "whole.crc"));
    whole.write(sums, next);
    expect(Buffer.compare(readFileSync(file.path), readFileSync(whole.path))).toBe(0);
    expect(file.load(state)).toEqual({ untrusted: "page checksum file records another state" });
  });

  test("load() refuses a file that does not describe the expected state", async () => {
    await using dir = await makeTempDir("crc-");
    const file = new PageChecksumFile(join(dir.path, "pages.crc"));
    expect(file.load({ txid: txid(1), checksum: 1n << 63n, pageSize: 512 })).toEqual({
      untrusted: "no page checksum file",
    });
    const sums = checksumsOf(randomPages(3, 100));
    const state = { txid: txid(5), checksum: sums.databaseChecksum(), pageSize: 512, commit: 100 };
    const cases: Array<[string, (bytes: Uint8Array) => Uint8Array, Partial<typeof state>]> = [
      ["page checksum file has another page size", (b) => b, { pageSize: 1024 }],
      ["page checksum file records another state", (b) => b, { txid: txid(6) }],
      ["page checksum file records another database size", (b) => b, { commit: 99 }],
      ["page checksum file is truncated", (b) => b.subarray(0, 32 + 8 * 50), {}],
      ["page checksum file is truncated", (b) => b.subarray(0, 20), {}],
      ["page checksum file has an unknown format", (b) => flip(b, 0, 0x01), {}],
      ["page checksum file has an invalid entry", (b) => flip(b, 32 + 8 * 10, 0x80), {}],
      ["page checksums do not add up to the recorded database checksum", (b) => flip(b, 32 + 8 * 10 + 5, 0x04), {}],
    ];
    for (const [reason, damage, override] of cases) {
      file.write(sums, state);
      writeFileSync(file.path, damage(readFileSync(file.path)));
      expect({ reason, got: file.load({ ...state, ...override }) }).toEqual({ reason, got: { untrusted: reason } });
    }
  });
});

function flip(bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[at] = (out[at] ?? 0) ^ mask;
  return out;
}
