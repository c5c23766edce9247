import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { CorruptFileError } from "../errors.ts";
import { PageChecksums } from "../ltx/checksum.ts";
import { compactLtxFiles } from "../ltx/compactor.ts";
import { decodeLtxFile, verifyLtxFile } from "../ltx/decoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "../ltx/header.ts";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo } from "../replica/client.ts";
import { LtxDir } from "./ltx-dir.ts";
import { mergeLocalLtx, writeLocalLtx } from "./local-ltx.ts";

const PAGE = 512;

/** Writes `count` L0 files `1..count` of random pages (a growing, sometimes shrinking database). */
function writeChain(dir: LtxDir, count: number, seed: number): LtxFileInfo[] {
  const rand = mulberry32(seed);
  const sums = new PageChecksums(PAGE);
  const files: LtxFileInfo[] = [];
  let commit = 0;
  for (let t = 1; t <= count; t++) {
    const prev = commit;
    commit = Math.max(1, commit + Math.floor(rand() * 6) - 2);
    const pgnos = new Set<number>();
    for (let p = prev + 1; p <= commit; p++) pgnos.add(p); // growth pages
    for (let i = 0; i < 3; i++) pgnos.add(1 + Math.floor(rand() * commit));
    const pages = [...pgnos]
      .sort((a, b) => a - b)
      .map((pgno) => ({
        pgno,
        data: Uint8Array.from({ length: PAGE }, () => Math.floor(rand() * 4)),
      }));
    const header = newLtxHeader({
      flags: t === 1 ? 0 : HEADER_FLAG_NO_CHECKSUM,
      pageSize: PAGE,
      commit,
      minTxid: txid(t),
      maxTxid: txid(t),
      timestamp: 1_700_000_000_000 + t,
    });
    const size = writeLocalLtx(dir, {
      level: 0,
      header,
      pages,
      postApply: () => {
        for (const p of pages) sums.set(p.pgno, p.data);
        sums.truncate(commit);
        return t === 1 ? sums.databaseChecksum() : 0n;
      },
    });
    files.push({
      level: 0,
      minTxid: header.minTxid,
      maxTxid: header.maxTxid,
      size,
      createdAt: new Date(header.timestamp),
    });
  }
  return files;
}

describe("mergeLocalLtx()", () => {
  test("merging in groups gives the same bytes as one in-memory compaction, and leaves no temp files", async () => {
    await using tmp = await makeTempDir("litefleet-merge-");
    const src = new LtxDir(join(tmp.path, "src"));
    const files = writeChain(src, 40, randomSeed());
    const inMemory = files.map((f) => decodeLtxFile(readFileSync(src.path(f)), { path: src.path(f) }));
    const chunks: Uint8Array[] = [];
    compactLtxFiles(inMemory, (c) => chunks.push(c), { nodeId: inMemory.at(-1)!.header.nodeId });
    const expected = Buffer.concat(chunks);
    for (const fanIn of [2, 3, 7, 40, 1000]) {
      const dst = new LtxDir(join(tmp.path, `dst-${fanIn}`));
      const out = mergeLocalLtx(src, { files, dst, level: 1, fanIn });
      expect({ fanIn, same: readFileSync(dst.path(out)).equals(expected) }).toEqual({ fanIn, same: true });
      expect(out.size).toBe(expected.length);
      expect(readdirSync(join(dst.root, "ltx", "1"))).toEqual(["0000000000000001-0000000000000028.ltx"]);
    }
    verifyLtxFile(expected, { path: "merged" });
  });

  test("a corrupt input fails the merge, names the input, and leaves nothing behind", async () => {
    await using tmp = await makeTempDir("litefleet-merge-");
    const src = new LtxDir(join(tmp.path, "src"));
    const files = writeChain(src, 10, randomSeed());
    const victim = files[6]!;
    const bytes = readFileSync(src.path(victim));
    bytes[bytes.length - 1]! ^= 1; // the file checksum
    await Bun.write(src.path(victim), bytes);
    const dst = new LtxDir(join(tmp.path, "dst"));
    let error: unknown;
    try {
      mergeLocalLtx(src, { files, dst, level: 1, fanIn: 3 });
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).toContain(src.path(victim));
    expect(readdirSync(join(dst.root, "ltx", "1"))).toEqual([]);
    expect(error instanceof CorruptFileError || (error as Error).name === "ChecksumMismatchError").toBe(true);
  });
});
