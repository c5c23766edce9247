import { describe, expect, test } from "bun:test";
import { CorruptFileError } from "../errors.ts";
import {
  decodeHeader,
  encodeHeader,
  HEADER_FLAG_NO_CHECKSUM,
  HEADER_SIZE,
  isSnapshot,
  validateHeader,
  validateTrailer,
  VERSION,
} from "./header.ts";
import type { LtxHeader } from "./header.ts";
import { txid } from "./txid.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);

/** The 100-byte header of incremental.ltx, from the fixture README. */
const INCREMENTAL_HEADER_HEX =
  "4c545831" +
  "00000000" +
  "00001000" +
  "00000017" +
  "0000000000000002" +
  "0000000000000002" +
  "0000018cc251f7e8" +
  "edbd81ddc2f91db8" +
  "0000000000000000" +
  "0000000000000000" +
  "00000000" +
  "00000000" +
  "0000000000000000" +
  "00".repeat(20);

const INCREMENTAL: LtxHeader = {
  version: 3,
  flags: 0,
  pageSize: 4096,
  commit: 23,
  minTxid: txid(2),
  maxTxid: txid(2),
  timestamp: 1704067201000,
  preApplyChecksum: 0xedbd81ddc2f91db8n,
  walOffset: 0n,
  walSize: 0n,
  walSalt1: 0,
  walSalt2: 0,
  nodeId: 0n,
};

function header(overrides: Partial<LtxHeader> = {}): LtxHeader {
  return { ...INCREMENTAL, ...overrides };
}

describe("encodeHeader()", () => {
  test("produces the golden incremental.ltx header bytes", () => {
    expect(Buffer.from(encodeHeader(INCREMENTAL)).toString("hex")).toBe(INCREMENTAL_HEADER_HEX);
  });

  test("round-trips every field through decodeHeader()", () => {
    const h = header({
      flags: 0,
      pageSize: 65536,
      commit: 0xffffffff,
      minTxid: txid(0x0102030405060708n),
      maxTxid: txid(0xffffffffffffffffn),
      timestamp: -5,
      walOffset: 0x7fffffffffffffffn,
      walSize: 32n,
      walSalt1: 0xffffffff,
      walSalt2: 1,
      nodeId: 0xffffffffffffffffn,
    });
    expect(decodeHeader(encodeHeader(h), { path: "x" })).toEqual(h);
  });

  test("refuses an invalid header", () => {
    expect(() => encodeHeader(header({ pageSize: 1000 }))).toThrow(RangeError);
  });
});

describe("decodeHeader()", () => {
  test("decodes every golden file's header", async () => {
    const expected: Record<string, Partial<LtxHeader>> = {
      "snapshot.ltx": { flags: 0, commit: 20, minTxid: txid(1), maxTxid: txid(1), timestamp: 1704067200000 },
      "snapshot-nochecksum.ltx": { flags: 2, commit: 20, minTxid: txid(1), maxTxid: txid(1), timestamp: 1704067200000 },
      "incremental.ltx": {},
      "shrink.ltx": {
        commit: 9,
        minTxid: txid(3),
        maxTxid: txid(3),
        timestamp: 1704067202000,
        preApplyChecksum: 0xcc0adc8b11db151bn,
      },
      "compacted-1-3.ltx": { commit: 9, minTxid: txid(1), maxTxid: txid(3), timestamp: 1704067202000 },
      "snapshot-1k.ltx": {
        pageSize: 1024,
        commit: 36,
        minTxid: txid(1),
        maxTxid: txid(1),
        timestamp: 1704067200000,
      },
    };
    for (const [name, fields] of Object.entries(expected)) {
      const bytes = await Bun.file(new URL(name, FIXTURES)).bytes();
      const snapshot = (fields.minTxid ?? 2n) === 1n;
      const want = header({ ...(snapshot ? { preApplyChecksum: 0n } : {}), ...fields });
      expect(decodeHeader(bytes, { path: name })).toEqual(want);
      expect(bytes.subarray(80, HEADER_SIZE).every((b) => b === 0)).toBe(true);
      expect(encodeHeader(want)).toEqual(bytes.subarray(0, HEADER_SIZE));
    }
  });

  test("throws CorruptFileError on short input, bad magic and invalid fields", () => {
    const good = encodeHeader(INCREMENTAL);
    const cases: [Uint8Array, RegExp, number][] = [
      [good.subarray(0, 99), /file has 99 bytes, need 100/, 99],
      [Uint8Array.from([...Buffer.from("LTX2"), ...good.subarray(4)]), /does not start with 'LTX1'/, 0],
      [encodeBadPageSize(good, 3000), /page size 3000 is not a power of two/, 0],
    ];
    for (const [bytes, message, offset] of cases) {
      let error: unknown;
      try {
        decodeHeader(bytes, { path: "a/b.ltx", autoRecoverable: true });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(CorruptFileError);
      const corrupt = error as CorruptFileError;
      expect(corrupt.message).toMatch(message);
      expect(corrupt.message).toStartWith("Cannot decode LTX header in 'a/b.ltx'");
      expect(corrupt.path).toBe("a/b.ltx");
      expect(corrupt.offset).toBe(offset);
      expect(corrupt.autoRecoverable).toBe(true);
    }
  });
});

function encodeBadPageSize(good: Uint8Array, pageSize: number): Uint8Array {
  const bytes = good.slice();
  new DataView(bytes.buffer).setUint32(8, pageSize);
  return bytes;
}

describe("validateHeader()", () => {
  test("accepts valid headers", () => {
    validateHeader(INCREMENTAL);
    validateHeader(header({ minTxid: txid(1), preApplyChecksum: 0n }));
    validateHeader(header({ flags: HEADER_FLAG_NO_CHECKSUM, preApplyChecksum: 0n }));
    validateHeader(header({ walOffset: 32n, walSize: 4152n, walSalt1: 1, walSalt2: 2 }));
    for (let size = 512; size <= 65536; size *= 2) validateHeader(header({ pageSize: size }));
  });

  const cases: [string, Partial<LtxHeader>, string][] = [
    ["version", { version: 2 }, "version 2 is not 3"],
    ["unknown flags", { flags: 0x1 }, "flags 0x00000001 are not supported"],
    ["flags beyond uint32", { flags: 2 ** 32 }, "flags 0x100000000 are not supported"],
    ["page size too small", { pageSize: 256 }, "page size 256 is not a power of two from 512 to 65536"],
    ["page size too big", { pageSize: 131072 }, "page size 131072 is not a power of two from 512 to 65536"],
    ["page size not a power of two", { pageSize: 1000 }, "page size 1000 is not a power of two from 512 to 65536"],
    ["negative commit", { commit: -1 }, "commit -1 is not an integer from 0 to 4294967295"],
    ["zero min TXID", { minTxid: 0n as never }, "minimum TXID is required"],
    ["zero max TXID", { maxTxid: 0n as never }, "maximum TXID is required"],
    ["TXID beyond uint64", { maxTxid: (1n << 64n) as never }, "TXIDs (2,18446744073709551616) are outside uint64"],
    ["TXIDs out of order", { minTxid: txid(5), maxTxid: txid(4) }, "TXIDs are out of order: (5,4)"],
    ["fractional timestamp", { timestamp: 1.5 }, "timestamp 1.5 is not a safe integer"],
    ["negative WAL offset", { walOffset: -1n }, "WAL offset -1 is negative"],
    ["negative WAL size", { walSize: -1n }, "WAL size -1 is negative"],
    ["WAL offset beyond int64", { walOffset: 1n << 63n }, "WAL offset 9223372036854775808 or size 0 exceeds int64"],
    ["salt beyond uint32", { walOffset: 32n, walSalt1: 2 ** 32 }, "WAL salts (4294967296,0) are not uint32"],
    ["salt without offset", { walSalt2: 7 }, "WAL offset is required when a WAL salt is set"],
    ["size without offset", { walSize: 7n }, "WAL offset is required when the WAL size is set"],
    ["node ID beyond uint64", { nodeId: -1n }, "node ID -1 is outside uint64"],
    ["snapshot with pre-apply", { minTxid: txid(1) }, "pre-apply checksum must be zero on snapshots"],
    [
      "NoChecksum with pre-apply",
      { flags: HEADER_FLAG_NO_CHECKSUM },
      "pre-apply checksum is not allowed with NoChecksum",
    ],
    ["missing pre-apply", { preApplyChecksum: 0n }, "pre-apply checksum is required on non-snapshot files"],
    ["pre-apply without bit 63", { preApplyChecksum: 0x1234n }, "pre-apply checksum 0000000000001234 lacks bit 63"],
  ];
  for (const [name, overrides, message] of cases) {
    test(`rejects ${name}`, () => {
      expect(() => validateHeader(header(overrides))).toThrow(new RangeError(`Cannot validate LTX header: ${message}`));
    });
  }
});

describe("validateTrailer()", () => {
  const snapshot = header({ minTxid: txid(1), preApplyChecksum: 0n });
  const noChecksum = header({ flags: HEADER_FLAG_NO_CHECKSUM, preApplyChecksum: 0n });
  const flag = 1n << 63n;
  test("accepts valid trailers", () => {
    validateTrailer(snapshot, { postApplyChecksum: flag | 5n, fileChecksum: flag | 9n });
    validateTrailer(noChecksum, { postApplyChecksum: 0n, fileChecksum: flag });
  });
  const cases: [string, LtxHeader, bigint, bigint, string][] = [
    ["post-apply with NoChecksum", noChecksum, flag, flag, "post-apply checksum is not allowed with NoChecksum"],
    ["missing post-apply", snapshot, 0n, flag, "post-apply checksum is required"],
    ["post-apply without bit 63", snapshot, 5n, flag, "post-apply checksum 0000000000000005 lacks bit 63"],
    [
      "post-apply beyond uint64",
      snapshot,
      1n << 64n,
      flag,
      "post-apply checksum 18446744073709551616 is outside uint64",
    ],
    ["missing file checksum", snapshot, flag, 0n, "file checksum is required"],
    ["file checksum without bit 63", snapshot, flag, 5n, "file checksum 0000000000000005 lacks bit 63"],
  ];
  for (const [name, h, postApplyChecksum, fileChecksum, message] of cases) {
    test(`rejects ${name}`, () => {
      expect(() => validateTrailer(h, { postApplyChecksum, fileChecksum })).toThrow(
        new RangeError(`Cannot validate LTX trailer: ${message}`),
      );
    });
  }
});

describe("isSnapshot()", () => {
  test("is true exactly when the minimum TXID is 1", () => {
    expect(isSnapshot(header({ minTxid: txid(1), maxTxid: txid(9) }))).toBe(true);
    expect(isSnapshot(INCREMENTAL)).toBe(false);
    expect(VERSION).toBe(3);
  });
});
