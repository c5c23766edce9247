import { describe, expect, test } from "bun:test";
import { formatLtxFileName, parseLtxFileName } from "./file-name.ts";
import { MAX_TXID, txid } from "./txid.ts";

describe("formatLtxFileName()", () => {
  test("writes both TXIDs as 16 lower-case hex digits", () => {
    expect(formatLtxFileName(txid(1), txid(1))).toBe("0000000000000001-0000000000000001.ltx");
    expect(formatLtxFileName(txid(0xabc), txid(0xdef0))).toBe("0000000000000abc-000000000000def0.ltx");
    expect(formatLtxFileName(txid(1), MAX_TXID)).toBe("0000000000000001-ffffffffffffffff.ltx");
  });
});

describe("parseLtxFileName()", () => {
  test("reads back what formatLtxFileName() writes", () => {
    for (const [min, max] of [
      [1n, 1n],
      [2n, 0x2an],
      [0x0123456789abcdefn, 0xfedcba9876543210n],
      [0n, MAX_TXID],
    ]) {
      const name = formatLtxFileName(txid(min!), txid(max!));
      expect(parseLtxFileName(name)).toEqual({ minTxid: txid(min!), maxTxid: txid(max!) });
    }
  });

  test("returns undefined for anything else", () => {
    for (const name of [
      "",
      "0000000000000001-0000000000000001",
      "0000000000000001-0000000000000001.ltx.tmp",
      "0000000000000001-0000000000000001.LTX",
      "000000000000000A-0000000000000001.ltx",
      "000000000000001-0000000000000001.ltx",
      "00000000000000001-0000000000000001.ltx",
      "0000000000000001_0000000000000001.ltx",
      "x0000000000000001-0000000000000001.ltx",
      "ltx/0/0000000000000001-0000000000000001.ltx",
      "0000000000000001-000000000000000g.ltx",
    ]) {
      expect(parseLtxFileName(name)).toBeUndefined();
    }
  });
});
