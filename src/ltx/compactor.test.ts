import { describe, expect, test } from "bun:test";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { ChecksumMismatchError } from "../errors.ts";
import { CHECKSUM_FLAG, PageChecksums } from "./checksum.ts";
import { compactLtxFiles } from "./compactor.ts";
import { decodeLtxFile, verifyLtxFile } from "./decoder.ts";
import type { LtxFile } from "./decoder.ts";
import { encodeLtxFile } from "./encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM } from "./header.ts";
import type { LtxHeader } from "./header.ts";
import { txid } from "./txid.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);

async function load(name: string): Promise<LtxFile> {
  return decodeLtxFile(await Bun.file(new URL(name, FIXTURES)).bytes(), { path: name });
}

/** Runs the compactor into memory and decodes (and verifies) its output. */
function compact(
  inputs: LtxFile[],
  options: { timestamp?: number; keepWal?: boolean } = {},
): { file: LtxFile; size: number } {
  const chunks: Uint8Array[] = [];
  const result = compactLtxFiles(inputs, (chunk) => chunks.push(chunk), options);
  const file = verifyLtxFile(Buffer.concat(chunks), { path: "compacted" });
  expect(file.header).toEqual(result.header);
  expect(file.trailer).toEqual(result.trailer);
  expect(file.size).toBe(result.size);
  return { file, size: result.size };
}

function apply(db: Uint8Array, file: LtxFile): Uint8Array {
  const { pageSize, commit } = file.header;
  const out = new Uint8Array(commit * pageSize);
  out.set(db.subarray(0, out.length));
  for (const { pgno, data } of file.pages()) out.set(data, (pgno - 1) * pageSize);
  return out;
}

describe("compactLtxFiles()", () => {
  test("reproduces the golden compacted-1-3.ltx from snapshot, incremental and shrink", async () => {
    const golden = await load("compacted-1-3.ltx");
    const { file } = compact([await load("snapshot.ltx"), await load("incremental.ltx"), await load("shrink.ltx")]);
    // Header fields, page list and post-apply checksum match; the bytes (and
    // so the file checksum and index offsets) do not, because lz4_flex
    // compresses differently from pierrec/lz4, which wrote the golden file.
    expect(file.header).toEqual(golden.header);
    expect(file.pageNumbers).toEqual(golden.pageNumbers);
    expect(file.trailer.postApplyChecksum).toBe(golden.trailer.postApplyChecksum);
    const db3 = await Bun.file(new URL("db3.db", FIXTURES)).bytes();
    expect(apply(new Uint8Array(0), file)).toEqual(db3);
    for (const pgno of golden.pageNumbers) expect(file.page(pgno)).toEqual(golden.page(pgno));
  });

  test("compacts non-snapshot runs and honours the timestamp option", async () => {
    const { file } = compact([await load("incremental.ltx"), await load("shrink.ltx")], { timestamp: 42 });
    expect(file.header).toMatchObject({
      minTxid: 2n,
      maxTxid: 3n,
      commit: 9,
      timestamp: 42,
      preApplyChecksum: 0xedbd81ddc2f91db8n,
    });
    expect(file.pageNumbers).toEqual([1, 2, 3, 4]);
    const db1 = await Bun.file(new URL("db1.db", FIXTURES)).bytes();
    expect(apply(db1, file)).toEqual(await Bun.file(new URL("db3.db", FIXTURES)).bytes());
  });

  test("sets NoChecksum and zero checksums when any input lacks checksums", async () => {
    const { file } = compact([await load("snapshot-nochecksum.ltx"), await load("incremental.ltx")]);
    expect(file.header.flags).toBe(HEADER_FLAG_NO_CHECKSUM);
    expect(file.header.preApplyChecksum).toBe(0n);
    expect(file.trailer.postApplyChecksum).toBe(0n);
    expect(apply(new Uint8Array(0), file)).toEqual(await Bun.file(new URL("db2.db", FIXTURES)).bytes());
  });

  test("zeroes the WAL fields, or with keepWal takes the last input's (a merged L0 file)", () => {
    const pageSize = 512;
    const file = (tx: number, wal: { offset: bigint; size: bigint; salt: number }): LtxFile => {
      const h: LtxHeader = {
        version: 3,
        flags: HEADER_FLAG_NO_CHECKSUM,
        pageSize,
        commit: 2,
        minTxid: txid(tx),
        maxTxid: txid(tx),
        timestamp: 1000 + tx,
        preApplyChecksum: 0n,
        walOffset: wal.offset,
        walSize: wal.size,
        walSalt1: wal.salt,
        walSalt2: wal.salt + 1,
        nodeId: 0n,
      };
      const pages = tx === 1 ? [1, 2] : [tx];
      const bytes = encodeLtxFile(
        h,
        pages.map((pgno) => ({ pgno, data: new Uint8Array(pageSize).fill(tx) })),
        0n,
      );
      return decodeLtxFile(bytes, { path: `${tx}.ltx` });
    };
    const inputs = [file(1, { offset: 32n, size: 1072n, salt: 7 }), file(2, { offset: 32n, size: 536n, salt: 9 })];
    expect(compact(inputs).file.header).toMatchObject({ walOffset: 0n, walSize: 0n, walSalt1: 0, walSalt2: 0 });
    expect(compact(inputs, { keepWal: true }).file.header).toMatchObject({
      walOffset: 32n,
      walSize: 536n,
      walSalt1: 9,
      walSalt2: 10,
    });
  });

  test("rejects empty, non-contiguous and mixed-page-size inputs", async () => {
    const sink = (): void => {};
    const [snapshot, shrink, oneK, incremental] = await Promise.all(
      ["snapshot.ltx", "shrink.ltx", "snapshot-1k.ltx", "incremental.ltx"].map(load),
    );
    expect(() => compactLtxFiles([], sink)).toThrow(new RangeError("Cannot compact LTX files: no inputs given"));
    expect(() => compactLtxFiles([snapshot!, shrink!], sink)).toThrow(
      new RangeError("Cannot compact LTX files: input 1 starts at TXID 3 but input 0 ends at 1"),
    );
    expect(() => compactLtxFiles([oneK!, incremental!], sink)).toThrow(
      new RangeError("Cannot compact LTX files: input 1 has page size 4096, input 0 has 1024"),
    );
  });

  test("fails on an input whose file checksum does not match", async () => {
    const bytes = (await Bun.file(new URL("incremental.ltx", FIXTURES)).bytes()).slice();
    const view = new DataView(bytes.buffer);
    view.setBigUint64(bytes.length - 8, view.getBigUint64(bytes.length - 8) ^ 2n);
    const bad = decodeLtxFile(bytes, { path: "incremental.ltx" });
    const snapshot = await load("snapshot.ltx");
    expect(() => compactLtxFiles([snapshot, bad], () => {})).toThrow(ChecksumMismatchError);
  });

  test("equals replaying the inputs, for random histories that shrink and grow (seeded)", () => {
    const rand = mulberry32(randomSeed());
    const pageSize = 512;
    for (let round = 0; round < 15; round++) {
      const sums = new PageChecksums(pageSize);
      let db = new Uint8Array(0);
      const files: LtxFile[] = [];
      const states: Uint8Array[] = [];
      for (let tx = 1; tx <= 8; tx++) {
        const prevCommit = db.length / pageSize;
        const commit = tx === 1 ? 1 + Math.floor(rand() * 30) : Math.max(1, prevCommit + Math.floor(rand() * 21) - 10);
        const next = new Uint8Array(commit * pageSize);
        next.set(db.subarray(0, next.length));
        const pages: { pgno: number; data: Uint8Array }[] = [];
        for (let pgno = 1; pgno <= commit; pgno++) {
          // Snapshots hold every page; a grown file every new page.
          if (tx > 1 && pgno <= prevCommit && rand() > 0.3) continue;
          const data = new Uint8Array(pageSize);
          for (let i = 0; i < pageSize; i += 1 + Math.floor(rand() * 64)) data[i] = Math.floor(rand() * 256);
          next.set(data, (pgno - 1) * pageSize);
          pages.push({ pgno, data });
        }
        const preApplyChecksum = tx === 1 ? 0n : sums.databaseChecksum();
        sums.truncate(commit);
        for (const { pgno, data } of pages) sums.set(pgno, data);
        const h: LtxHeader = {
          version: 3,
          flags: 0,
          pageSize,
          commit,
          minTxid: txid(tx),
          maxTxid: txid(tx),
          timestamp: 1000 + tx,
          preApplyChecksum,
          walOffset: 0n,
          walSize: 0n,
          walSalt1: 0,
          walSalt2: 0,
          nodeId: 0n,
        };
        const bytes = encodeLtxFile(h, pages, sums.databaseChecksum());
        files.push(decodeLtxFile(bytes, { path: `${tx}.ltx` }));
        db = next;
        states.push(db);
      }
      const all = compact(files).file;
      expect(apply(new Uint8Array(0), all)).toEqual(db);
      expect(all.trailer.postApplyChecksum).toBe(sums.databaseChecksum());
      expect(all.trailer.postApplyChecksum & CHECKSUM_FLAG).toBe(CHECKSUM_FLAG);
      const from = 1 + Math.floor(rand() * 6);
      const to = from + 1 + Math.floor(rand() * (7 - from));
      const partial = compact(files.slice(from, to + 1)).file;
      expect(partial.header.preApplyChecksum).toBe(files[from]!.header.preApplyChecksum);
      expect(apply(states[from - 1]!, partial)).toEqual(states[to]!);
    }
  });
});
