import { describe, expect, test } from "bun:test";
import { lz4DecompressBlock } from "../platform/lz4.ts";
import { CHECKSUM_FLAG, crc64, lockPageNumber } from "./checksum.ts";
import { decodeLtxFile, verifyLtxFile } from "./decoder.ts";
import { encodeLtxFile, LtxEncoder } from "./encoder.ts";
import { encodeHeader, HEADER_FLAG_NO_CHECKSUM } from "./header.ts";
import type { LtxHeader } from "./header.ts";
import { txid } from "./txid.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);

function snapshotHeader(overrides: Partial<LtxHeader> = {}): LtxHeader {
  return {
    version: 3,
    flags: 0,
    pageSize: 4096,
    commit: 20,
    minTxid: txid(1),
    maxTxid: txid(1),
    timestamp: 1704067200000,
    preApplyChecksum: 0n,
    walOffset: 0n,
    walSize: 0n,
    walSalt1: 0,
    walSalt2: 0,
    nodeId: 0n,
    ...overrides,
  };
}

function incrementalHeader(overrides: Partial<LtxHeader> = {}): LtxHeader {
  return snapshotHeader({ minTxid: txid(2), maxTxid: txid(2), preApplyChecksum: CHECKSUM_FLAG | 1n, ...overrides });
}

function pageOf(pageSize: number, fill: number): Uint8Array {
  return new Uint8Array(pageSize).fill(fill);
}

function readUvarints(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let value = 0;
  let scale = 1;
  for (const b of bytes) {
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      out.push(value);
      value = 0;
      scale = 1;
    }
  }
  return out;
}

describe("LtxEncoder", () => {
  test("writes the layout and file checksum the format defines", async () => {
    const db = await Bun.file(new URL("db1.db", FIXTURES)).bytes();
    const pages = Array.from({ length: 20 }, (_, i) => db.subarray(i * 4096, (i + 1) * 4096));
    const bytes = encodeLtxFile(
      snapshotHeader(),
      pages.map((data, i) => ({ pgno: i + 1, data })),
      0xedbd81ddc2f91db8n,
    );
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

    // Walk the file by hand and recompute the checksum from its definition:
    // header, per frame page header + size + uncompressed page, then the end
    // marker, index, index size and post-apply checksum.
    expect(bytes.subarray(0, 100)).toEqual(encodeHeader(snapshotHeader()));
    const hashed: Uint8Array[] = [bytes.subarray(0, 100)];
    const index: number[] = [];
    let pos = 100;
    for (let pgno = 1; pgno <= 20; pgno++) {
      expect(view.getUint32(pos)).toBe(pgno);
      expect(view.getUint16(pos + 4)).toBe(0x0001);
      const size = view.getUint32(pos + 6);
      const page = lz4DecompressBlock(bytes.subarray(pos + 10, pos + 10 + size), 4096);
      expect(page).toEqual(pages[pgno - 1]!);
      hashed.push(bytes.subarray(pos, pos + 10), page);
      index.push(pgno, pos, 10 + size);
      pos += 10 + size;
    }
    expect(bytes.subarray(pos, pos + 6)).toEqual(new Uint8Array(6));
    const indexSize = Number(view.getBigUint64(bytes.length - 24));
    expect(bytes.length - 24 - indexSize).toBe(pos + 6);
    expect(readUvarints(bytes.subarray(pos + 6, bytes.length - 24))).toEqual([...index, 0]);
    expect(view.getBigUint64(bytes.length - 16)).toBe(0xedbd81ddc2f91db8n);
    hashed.push(bytes.subarray(pos, bytes.length - 8));
    expect(view.getBigUint64(bytes.length - 8)).toBe(CHECKSUM_FLAG | crc64(Buffer.concat(hashed)));
  });

  test("streams fresh chunks and reports the trailer and size", () => {
    const chunks: Uint8Array[] = [];
    const enc = new LtxEncoder(incrementalHeader({ commit: 5 }), (chunk) => chunks.push(chunk));
    expect(enc.size).toBe(100);
    enc.encodePage(2, pageOf(4096, 2));
    enc.encodePage(5, pageOf(4096, 5));
    const result = enc.finish(CHECKSUM_FLAG | 7n);
    const bytes = Buffer.concat(chunks);
    expect(result.size).toBe(bytes.length);
    expect(enc.size).toBe(bytes.length);
    const file = verifyLtxFile(bytes, { path: "x" });
    expect(file.trailer).toEqual({ postApplyChecksum: result.postApplyChecksum, fileChecksum: result.fileChecksum });
    expect(file.pageNumbers).toEqual([2, 5]);
    expect(file.page(5)).toEqual(pageOf(4096, 5));
    expect(enc.header).toEqual(incrementalHeader({ commit: 5 }));
  });

  test("reuseFrames writes the same bytes through one frame buffer", () => {
    const fresh: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const frames = new Set<ArrayBufferLike>();
    let inPage = false;
    const plain = new LtxEncoder(incrementalHeader({ commit: 9 }), (chunk) => fresh.push(chunk));
    const reusing = new LtxEncoder(
      incrementalHeader({ commit: 9 }),
      (chunk) => {
        copies.push(chunk.slice());
        if (inPage) frames.add(chunk.buffer);
      },
      { reuseFrames: true },
    );
    for (const pgno of [1, 4, 9]) {
      plain.encodePage(pgno, pageOf(4096, pgno));
      inPage = true;
      reusing.encodePage(pgno, pageOf(4096, pgno));
      inPage = false;
    }
    expect(reusing.finish(CHECKSUM_FLAG | 3n)).toEqual(plain.finish(CHECKSUM_FLAG | 3n));
    expect(Buffer.concat(copies)).toEqual(Buffer.concat(fresh));
    expect(frames.size).toBe(1);
  });

  test("throws after finish(), including a second finish()", () => {
    const enc = new LtxEncoder(incrementalHeader(), () => {});
    enc.finish(CHECKSUM_FLAG | 1n);
    expect(() => enc.finish(CHECKSUM_FLAG | 1n)).toThrow("Cannot finish LTX file: encoder is finished");
    expect(() => enc.encodePage(1, pageOf(4096, 0))).toThrow("Cannot encode LTX page: encoder is finished");
  });

  test("becomes unusable when the sink throws", () => {
    let calls = 0;
    const enc = new LtxEncoder(incrementalHeader(), () => {
      if (++calls === 2) throw new Error("disk full");
    });
    expect(() => enc.encodePage(1, pageOf(4096, 1))).toThrow("disk full");
    expect(() => enc.encodePage(2, pageOf(4096, 2))).toThrow("Cannot encode LTX page: encoder is failed");
  });

  test("rejects an invalid header in the constructor", () => {
    expect(() => new LtxEncoder(snapshotHeader({ pageSize: 4000 }), () => {})).toThrow(RangeError);
  });

  const pageCases: [string, LtxHeader, [number, number][], string][] = [
    ["a page above the commit", incrementalHeader({ commit: 3 }), [[4, 4096]], "page number exceeds commit 3"],
    ["a page of the wrong size", incrementalHeader(), [[1, 4095]], "data has 4095 bytes, expected 4096"],
    ["page number 0", incrementalHeader(), [[0, 4096]], "page number must be a positive integer"],
    [
      "the lock page",
      incrementalHeader({ pageSize: 65536, commit: 20000 }),
      [[16385, 65536]],
      "the lock page is never stored",
    ],
    [
      "descending pages",
      incrementalHeader(),
      [
        [5, 4096],
        [4, 4096],
      ],
      "page numbers must ascend, previous page was 5",
    ],
    [
      "a repeated page",
      incrementalHeader(),
      [
        [5, 4096],
        [5, 4096],
      ],
      "page numbers must ascend, previous page was 5",
    ],
    [
      "a snapshot not starting at page 1",
      snapshotHeader(),
      [[2, 4096]],
      "snapshot pages must be sequential, expected page 1",
    ],
    [
      "a snapshot skipping a page",
      snapshotHeader(),
      [
        [1, 4096],
        [3, 4096],
      ],
      "snapshot pages must be sequential, expected page 2",
    ],
  ];
  for (const [name, header, pages, message] of pageCases) {
    test(`encodePage() rejects ${name}`, () => {
      const enc = new LtxEncoder(header, () => {});
      const last = pages[pages.length - 1]!;
      for (const [pgno, size] of pages.slice(0, -1)) enc.encodePage(pgno, new Uint8Array(size));
      expect(() => enc.encodePage(last[0], new Uint8Array(last[1]))).toThrow(
        new RangeError(`Cannot encode LTX page ${last[0]}: ${message}`),
      );
    });
  }

  // [name, header, bad post-apply, message, pages needed before a good finish, good post-apply]
  const finishCases: [string, LtxHeader, bigint, string, number[], bigint][] = [
    [
      "a post-apply checksum with NoChecksum",
      incrementalHeader({ flags: HEADER_FLAG_NO_CHECKSUM, preApplyChecksum: 0n }),
      CHECKSUM_FLAG,
      "Cannot validate LTX trailer: post-apply checksum is not allowed with NoChecksum",
      [],
      0n,
    ],
    [
      "a zero post-apply checksum",
      incrementalHeader(),
      0n,
      "Cannot validate LTX trailer: post-apply checksum is required",
      [],
      CHECKSUM_FLAG | 1n,
    ],
    [
      "a post-apply checksum without bit 63",
      incrementalHeader(),
      5n,
      "Cannot validate LTX trailer: post-apply checksum 0000000000000005 lacks bit 63",
      [],
      CHECKSUM_FLAG | 5n,
    ],
    [
      "an empty database checksum other than the flag",
      incrementalHeader({ commit: 0 }),
      CHECKSUM_FLAG | 1n,
      "Cannot finish LTX file: post-apply checksum 8000000000000001 must be 8000000000000000 for an empty database",
      [],
      CHECKSUM_FLAG,
    ],
    [
      "an incomplete snapshot",
      snapshotHeader({ commit: 1 }),
      CHECKSUM_FLAG | 1n,
      "Cannot finish LTX file: snapshot has pages up to 0 but commit is 1",
      [1],
      CHECKSUM_FLAG | 1n,
    ],
  ];
  for (const [name, header, bad, message, pages, good] of finishCases) {
    test(`finish() rejects ${name} and stays usable`, () => {
      const chunks: Uint8Array[] = [];
      const enc = new LtxEncoder(header, (chunk) => chunks.push(chunk));
      expect(() => enc.finish(bad)).toThrow(new RangeError(message));
      for (const pgno of pages) enc.encodePage(pgno, pageOf(header.pageSize, pgno));
      enc.finish(good);
      expect(decodeLtxFile(Buffer.concat(chunks), { path: "x" }).trailer.postApplyChecksum).toBe(good);
    });
  }

  test("writes an empty deletion file and a NoChecksum snapshot", () => {
    const deletion = encodeLtxFile(incrementalHeader({ commit: 0 }), [], CHECKSUM_FLAG);
    expect(verifyLtxFile(deletion, { path: "d" }).pageNumbers).toEqual([]);
    const empty = encodeLtxFile(snapshotHeader({ commit: 0, flags: HEADER_FLAG_NO_CHECKSUM }), [], 0n);
    expect(decodeLtxFile(empty, { path: "e" }).header.commit).toBe(0);
  });

  test("lets a snapshot skip the lock page", () => {
    // Page size 65536 puts the lock page at 16385, the smallest possible.
    // Writing 16384 pages (1 GiB) is too slow for the unit tier, so this
    // checks the rule only up to the point where it matters.
    expect(lockPageNumber(65536)).toBe(16385);
    const enc = new LtxEncoder(incrementalHeader({ pageSize: 65536, commit: 16386 }), () => {});
    enc.encodePage(16384, pageOf(65536, 1));
    expect(() => enc.encodePage(16385, pageOf(65536, 1))).toThrow("the lock page is never stored");
    enc.encodePage(16386, pageOf(65536, 1));
  });

  test.skipIf(process.env["LITEFLEET_SLOW"] !== "1")(
    "writes a full snapshot across the lock page (slow)",
    () => {
      const chunks: Uint8Array[] = [];
      const header = snapshotHeader({ pageSize: 65536, commit: 16386, flags: HEADER_FLAG_NO_CHECKSUM });
      const enc = new LtxEncoder(header, (chunk) => chunks.push(chunk));
      const page = pageOf(65536, 0);
      for (let pgno = 1; pgno <= 16386; pgno++) if (pgno !== 16385) enc.encodePage(pgno, page);
      enc.finish(0n);
      const file = verifyLtxFile(Buffer.concat(chunks), { path: "big" });
      expect(file.pageNumbers.length).toBe(16385);
      expect(file.pageNumbers.includes(16385)).toBe(false);
    },
    60_000,
  );
});
