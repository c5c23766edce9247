import { describe, expect, test } from "bun:test";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { CHECKSUM_FLAG, PageChecksums } from "./checksum.ts";
import { decodeLtxFile, openLtxFileAt, verifyLtxFile } from "./decoder.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import type { LtxFile } from "./decoder.ts";
import { encodeLtxFile, LtxEncoder } from "./encoder.ts";
import { buildLtx, type FrameSpec } from "../../test/harness/ltx-build.ts";
import { HEADER_FLAG_NO_CHECKSUM } from "./header.ts";
import type { LtxHeader } from "./header.ts";
import { txid } from "./txid.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);

function fixture(name: string): Promise<Uint8Array> {
  return Bun.file(new URL(name, FIXTURES)).bytes();
}

/** Applies `file` to a database image: resize to the commit, then write pages. */
function apply(db: Uint8Array, file: LtxFile): Uint8Array {
  const { pageSize, commit } = file.header;
  const out = new Uint8Array(commit * pageSize);
  out.set(db.subarray(0, out.length));
  for (const { pgno, data } of file.pages()) out.set(data, (pgno - 1) * pageSize);
  return out;
}

function header(overrides: Partial<LtxHeader> = {}): LtxHeader {
  return {
    version: 3,
    flags: 0,
    pageSize: 4096,
    commit: 3,
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

/** Golden values from /work/shared/fixtures/ltx/README.md. */
const GOLDEN = [
  {
    name: "snapshot.ltx",
    flags: 0,
    pageSize: 4096,
    commit: 20,
    min: 1n,
    max: 1n,
    timestamp: 1704067200000,
    preApply: 0n,
    postApply: 0xedbd81ddc2f91db8n,
    fileChecksum: 0x87290fd384658ef1n,
    indexSize: 106n,
    index:
      "1:100+252 2:352+148 3:500+64 4:564+1729 5:2293+1720 6:4013+1743 7:5756+1726 8:7482+1726 " +
      "9:9208+1735 10:10943+1722 11:12665+1737 12:14402+1746 13:16148+1757 14:17905+1736 15:19641+1736 " +
      "16:21377+1160 17:22537+1515 18:24052+1735 19:25787+1737 20:27524+1754",
  },
  {
    name: "incremental.ltx",
    flags: 0,
    pageSize: 4096,
    commit: 23,
    min: 2n,
    max: 2n,
    timestamp: 1704067201000,
    preApply: 0xedbd81ddc2f91db8n,
    postApply: 0xcc0adc8b11db151bn,
    fileChecksum: 0x827928fac1c9830en,
    indexSize: 54n,
    index:
      "1:100+248 2:348+172 3:520+64 4:584+1757 11:2341+1753 15:4094+1753 16:5847+1514 17:7361+1474 " +
      "21:8835+1731 22:10566+1726 23:12292+962",
  },
  {
    name: "shrink.ltx",
    flags: 0,
    pageSize: 4096,
    commit: 9,
    min: 3n,
    max: 3n,
    timestamp: 1704067202000,
    preApply: 0xcc0adc8b11db151bn,
    postApply: 0x9c6558fdd5cf6ec1n,
    fileChecksum: 0xd8c9001cf6cf0a62n,
    indexSize: 19n,
    index: "1:100+252 2:352+77 3:429+918 4:1347+1743",
  },
  {
    name: "compacted-1-3.ltx",
    flags: 0,
    pageSize: 4096,
    commit: 9,
    min: 1n,
    max: 3n,
    timestamp: 1704067202000,
    preApply: 0n,
    postApply: 0x9c6558fdd5cf6ec1n,
    fileChecksum: 0x995156442a6ede28n,
    indexSize: 44n,
    index: "1:100+252 2:352+77 3:429+918 4:1347+1743 5:3090+1720 6:4810+1743 7:6553+1726 8:8279+1726 " + "9:10005+1735",
  },
  {
    name: "snapshot-1k.ltx",
    flags: 0,
    pageSize: 1024,
    commit: 36,
    min: 1n,
    max: 1n,
    timestamp: 1704067200000,
    preApply: 0n,
    postApply: 0x8ea24d0f56ec09b5n,
    fileChecksum: 0xebd0bee088d62461n,
    indexSize: 181n,
    index:
      "1:100+240 2:340+237 3:577+70 4:647+531 5:1178+535 6:1713+533 7:2246+535 8:2781+529 9:3310+532 " +
      "10:3842+533 11:4375+533 12:4908+533 13:5441+530 14:5971+534 15:6505+530 16:7035+448 17:7483+440 " +
      "18:7923+533 19:8456+535 20:8991+533 21:9524+535 22:10059+529 23:10588+533 24:11121+534 25:11655+534 " +
      "26:12189+533 27:12722+530 28:13252+533 29:13785+530 30:14315+410 31:14725+533 32:15258+538 " +
      "33:15796+538 34:16334+540 35:16874+534 36:17408+537",
  },
];
GOLDEN.splice(1, 0, {
  ...GOLDEN[0]!,
  name: "snapshot-nochecksum.ltx",
  flags: 2,
  postApply: 0n,
  fileChecksum: 0xfab244c876031114n,
});

describe("decodeLtxFile()", () => {
  for (const g of GOLDEN) {
    test(`decodes golden ${g.name} exactly as the README lists`, async () => {
      const bytes = await fixture(g.name);
      const file = verifyLtxFile(bytes, { path: g.name });
      expect(file.header).toEqual(
        header({
          flags: g.flags,
          pageSize: g.pageSize,
          commit: g.commit,
          minTxid: txid(g.min),
          maxTxid: txid(g.max),
          timestamp: g.timestamp,
          preApplyChecksum: g.preApply,
        }),
      );
      const index = g.index.split(" ").map((e) => {
        const [pgno, offset, size] = e.split(/[:+]/).map(Number);
        return { pgno, offset, size };
      });
      expect(file.pageIndex.toArray()).toEqual(index as never);
      expect(file.pageNumbers).toEqual(index.map((e) => e.pgno!));
      expect(file.trailer).toEqual({ postApplyChecksum: g.postApply, fileChecksum: g.fileChecksum });
      expect(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(bytes.length - 24)).toBe(g.indexSize);
      expect(file.size).toBe(bytes.length);
      expect(file.path).toBe(g.name);
    });
  }

  test("replays the golden chain into byte-identical databases", async () => {
    const snapshot = decodeLtxFile(await fixture("snapshot.ltx"), { path: "snapshot.ltx" });
    const db1 = apply(new Uint8Array(0), snapshot);
    expect(db1).toEqual(await fixture("db1.db"));
    const db2 = apply(db1, decodeLtxFile(await fixture("incremental.ltx"), { path: "incremental.ltx" }));
    expect(db2).toEqual(await fixture("db2.db"));
    const db3 = apply(db2, decodeLtxFile(await fixture("shrink.ltx"), { path: "shrink.ltx" }));
    expect(db3).toEqual(await fixture("db3.db"));
    const compacted = decodeLtxFile(await fixture("compacted-1-3.ltx"), { path: "compacted" });
    expect(apply(new Uint8Array(0), compacted)).toEqual(db3);
    const nochecksum = decodeLtxFile(await fixture("snapshot-nochecksum.ltx"), { path: "nochecksum" });
    expect(apply(new Uint8Array(0), nochecksum)).toEqual(db1);
    const oneK = decodeLtxFile(await fixture("snapshot-1k.ltx"), { path: "1k" });
    expect(apply(new Uint8Array(0), oneK)).toEqual(await fixture("db1-1k.db"));
  });

  test("page() reads pages at random and rejects pages the file lacks", async () => {
    const file = decodeLtxFile(await fixture("incremental.ltx"), { path: "incremental.ltx" });
    const db2 = await fixture("db2.db");
    for (const pgno of [...file.pageNumbers].reverse()) {
      expect(file.page(pgno)).toEqual(db2.subarray((pgno - 1) * 4096, pgno * 4096));
    }
    expect(() => file.page(5)).toThrow(
      new RangeError("Cannot read LTX page 5: file 'incremental.ltx' does not contain it"),
    );
  });

  test("pages() checks the file checksum only after the last page", async () => {
    const bytes = (await fixture("snapshot.ltx")).slice();
    const view = new DataView(bytes.buffer);
    view.setBigUint64(bytes.length - 8, 0x87290fd384658ef1n ^ 1n);
    const file = decodeLtxFile(bytes, { path: "bad.ltx" });
    const seen: number[] = [];
    let error: unknown;
    try {
      for (const { pgno } of file.pages()) seen.push(pgno);
    } catch (err) {
      error = err;
    }
    expect(seen.length).toBe(20);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error).toMatchObject({ path: "bad.ltx", expected: 0x87290fd384658ef1n ^ 1n, actual: 0x87290fd384658ef1n });
  });

  test("verifyLtxFile() checks a snapshot's post-apply checksum against its pages", () => {
    const page = new Uint8Array(4096).fill(7);
    const sums = new PageChecksums(4096);
    sums.set(1, page);
    const good = encodeLtxFile(header({ commit: 1 }), [{ pgno: 1, data: page }], sums.databaseChecksum());
    verifyLtxFile(good, { path: "good" });
    const bad = encodeLtxFile(header({ commit: 1 }), [{ pgno: 1, data: page }], CHECKSUM_FLAG | 1n);
    expect(() => verifyLtxFile(bad, { path: "bad" })).toThrow(ChecksumMismatchError);
    // An empty snapshot has the bare flag as its database checksum, as in Go.
    verifyLtxFile(encodeLtxFile(header({ commit: 0 }), [], CHECKSUM_FLAG), { path: "empty" });
  });

  test("round-trips random files of every page size (seeded)", () => {
    const rand = mulberry32(randomSeed());
    for (let round = 0; round < 60; round++) {
      const pageSize = 512 * 2 ** Math.floor(rand() * 8);
      const snapshot = rand() < 0.5;
      const noChecksum = rand() < 0.3;
      const commit = Math.max(1, Math.floor(rand() * Math.min(40, (1 << 20) / pageSize)));
      const pgnos: number[] = [];
      for (let p = 1; p <= commit; p++) if (snapshot || rand() < 0.4) pgnos.push(p);
      const pages = pgnos.map((pgno) => {
        const data = new Uint8Array(pageSize);
        const kind = rand();
        const alphabet = kind < 0.2 ? 0 : kind < 0.6 ? 4 : 256;
        for (let i = 0; i < pageSize; i++) data[i] = Math.floor(rand() * alphabet);
        return { pgno, data };
      });
      const h = header({
        flags: noChecksum ? HEADER_FLAG_NO_CHECKSUM : 0,
        pageSize,
        commit,
        minTxid: txid(snapshot ? 1 : 2 + Math.floor(rand() * 100)),
        maxTxid: txid(200 + Math.floor(rand() * 100)),
        timestamp: Math.floor(rand() * 2 ** 45),
        preApplyChecksum: snapshot || noChecksum ? 0n : CHECKSUM_FLAG | BigInt(Math.floor(rand() * 2 ** 40)),
        nodeId: BigInt(Math.floor(rand() * 2 ** 40)),
      });
      const sums = new PageChecksums(pageSize);
      for (const { pgno, data } of pages) sums.set(pgno, data);
      const postApply = noChecksum ? 0n : snapshot ? sums.databaseChecksum() : CHECKSUM_FLAG | 0xabcn;
      const chunks: Uint8Array[] = [];
      const enc = new LtxEncoder(h, (chunk) => chunks.push(chunk));
      for (const { pgno, data } of pages) enc.encodePage(pgno, data);
      const result = enc.finish(postApply);
      const file = verifyLtxFile(Buffer.concat(chunks), { path: `round-${round}` });
      expect(file.header).toEqual(h);
      expect(file.trailer).toEqual({ postApplyChecksum: postApply, fileChecksum: result.fileChecksum });
      expect(file.size).toBe(result.size);
      expect([...file.pages()]).toEqual(pages);
      const probe = pages[Math.floor(rand() * pages.length)];
      if (probe !== undefined) expect(file.page(probe.pgno)).toEqual(probe.data);
    }
  });
});

describe("decodeLtxFile() with legacy pages", () => {
  const rand = mulberry32(randomSeed());
  const pages = [1, 2, 3].map(() => {
    const data = new Uint8Array(4096);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 3);
    return data;
  });
  const h = header({ flags: HEADER_FLAG_NO_CHECKSUM });

  test("reads frames with a stored block, a compressed block, and mixed encodings", () => {
    for (const encodings of [
      ["stored-frame", "stored-frame", "stored-frame"],
      ["lz4-frame", "stored-frame", "block"],
    ]) {
      const frames = pages.map((data, i) => ({ pgno: i + 1, data, encoding: encodings[i] as FrameSpec["encoding"] }));
      const file = verifyLtxFile(buildLtx(h, frames, { postApply: 0n }), { path: "legacy.ltx" });
      expect([...file.pages()].map((p) => p.data)).toEqual(pages);
      expect(file.page(2)).toEqual(pages[1]!);
    }
  });

  test("rejects a legacy frame of the wrong size or length", () => {
    const short = [{ pgno: 1, data: new Uint8Array(4000), encoding: "stored-frame" as const }];
    expect(() =>
      decodeLtxFile(buildLtx(header({ commit: 1, flags: 2 }), short, { postApply: 0n }), { path: "s" }).page(1),
    ).toThrow(/page 1 decompresses to 4000 bytes, expected 4096/);
    const bytes = buildLtx(
      h,
      pages.map((data, i) => ({ pgno: i + 1, data, encoding: "stored-frame" })),
      {
        postApply: 0n,
      },
    );
    // Claim a block 1 byte shorter: the frame then ends before the index says.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint32(100 + 6 + 7, 0x80000000 | 4095, true);
    expect(() => decodeLtxFile(bytes, { path: "l" }).page(1)).toThrow(CorruptFileError);
  });
});

describe("decodeLtxFile() around the lock page", () => {
  // Page size 65536 puts the lock page at 16385. One shared compressed zero
  // page and a fake file checksum keep this cheap: decodeLtxFile() checks
  // structure only.
  const zero = new Uint8Array(65536);
  const build = (commit: number, pgnos: number[]): Uint8Array =>
    buildLtx(
      header({ pageSize: 65536, commit, flags: HEADER_FLAG_NO_CHECKSUM }),
      pgnos.map((pgno) => ({ pgno, data: zero, encoding: "block" })),
      { postApply: 0n, fileChecksum: CHECKSUM_FLAG | 1n },
    );
  const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

  test("accepts snapshots that skip it", () => {
    expect(decodeLtxFile(build(16386, [...upTo(16384), 16386]), { path: "a" }).pageNumbers.length).toBe(16385);
    expect(decodeLtxFile(build(16385, upTo(16384)), { path: "b" }).pageNumbers.length).toBe(16384);
  });

  test("rejects a frame for it and snapshots that stop short", () => {
    expect(() => decodeLtxFile(build(16386, upTo(16386)), { path: "c" })).toThrow(/page 16385 is the lock page/);
    expect(() => decodeLtxFile(build(16386, upTo(16384)), { path: "d" })).toThrow(
      /snapshot has pages up to 16384 but commit is 16386/,
    );
  });
});

describe("openLtxFileAt()", () => {
  const dir = new URL("../../../shared/fixtures/ltx/", import.meta.url);
  for (const name of ["snapshot.ltx", "incremental.ltx", "compacted-1-3.ltx", "snapshot-1k.ltx"]) {
    test(`${name}: reads the same header, index and pages as decodeLtxFile`, async () => {
      const path = new URL(name, dir).pathname;
      const inMemory = decodeLtxFile(await Bun.file(path).bytes(), { path: name });
      using file = openLtxFileAt(path);
      expect(file.path).toBe(path);
      expect(file.size).toBe(inMemory.size);
      expect(file.header).toEqual(inMemory.header);
      expect(file.trailer).toEqual(inMemory.trailer);
      expect(file.pageIndex.toArray()).toEqual(inMemory.pageIndex.toArray());
      expect([...file.pages()]).toEqual([...inMemory.pages()]);
      const last = file.pageNumbers.at(-1)!;
      expect(file.page(last)).toEqual(inMemory.page(last));
    });
  }

  test("reports a truncated file with its path and closes it", async () => {
    await using tmp = await makeTempDir("litefleet-ltx-");
    const path = `${tmp.path}/short.ltx`;
    await Bun.write(path, (await Bun.file(new URL("shrink.ltx", dir)).bytes()).subarray(0, 3000));
    expect(() => openLtxFileAt(path, { path: "short.ltx" })).toThrow(CorruptFileError);
    expect(() => openLtxFileAt(path, { path: "short.ltx" })).toThrow(/'short.ltx'/);
  });
});
