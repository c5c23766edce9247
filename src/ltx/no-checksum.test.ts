import { describe, expect, test } from "bun:test";
import { mulberry32 } from "../../test/harness/prng.ts";
import { bytesSource } from "../platform/byte-source.ts";
import { CHECKSUM_FLAG, crc64, PageChecksums } from "./checksum.ts";
import { crc64DeltaOf, rawCrc64, shiftCrc64 } from "./crc64-combine.ts";
import { verifyLtxFile } from "./decoder.ts";
import { encodeLtxFile } from "./encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader, type LtxHeader } from "./header.ts";
import { toNoChecksum } from "./no-checksum.ts";
import type { Txid } from "./txid.ts";

function page(rand: () => number, size: number): Uint8Array {
  const data = new Uint8Array(size);
  // Half random, half zeros: pages compress, but not to nothing.
  for (let i = 0; i < size / 2; i++) data[i] = Math.floor(rand() * 256);
  return data;
}

/** A file of `pgnos` (random pages) and its NoChecksum twin, encoded from scratch. */
function pair(
  fields: { pageSize: number; commit: number; minTxid: bigint; maxTxid: bigint },
  pgnos: number[],
  seed = 1,
) {
  const rand = mulberry32(seed);
  const pages = pgnos.map((pgno) => ({ pgno, data: page(rand, fields.pageSize) }));
  const sums = new PageChecksums(fields.pageSize);
  for (const p of pages) sums.set(p.pgno, p.data);
  // Only a snapshot's post-apply checksum is checked by the decoder.
  const post =
    fields.commit === 0 ? CHECKSUM_FLAG : fields.minTxid === 1n ? sums.databaseChecksum() : CHECKSUM_FLAG | 0xfeedn;
  const base = {
    ...fields,
    minTxid: fields.minTxid as Txid,
    maxTxid: fields.maxTxid as Txid,
    timestamp: 1_700_000_000_000,
    nodeId: 0x1234n,
  };
  const pre = fields.minTxid === 1n ? 0n : CHECKSUM_FLAG | 0x0bad_cafen;
  const checked: LtxHeader = newLtxHeader({ ...base, preApplyChecksum: pre });
  const plain: LtxHeader = newLtxHeader({ ...base, flags: HEADER_FLAG_NO_CHECKSUM });
  return { checked: encodeLtxFile(checked, pages, post), plain: encodeLtxFile(plain, pages, 0n), pre, post };
}

async function materialize(body: { size: number; read(o: number, l: number): Promise<Uint8Array> }) {
  const out = new Uint8Array(body.size);
  // Odd-sized reads, so reads straddle the patched stretches.
  for (let at = 0; at < body.size; at += 7919) out.set(await body.read(at, Math.min(7919, body.size - at)), at);
  return out;
}

describe("crc64 combine", () => {
  test("a delta's effect equals hashing the changed message from scratch", () => {
    const rand = mulberry32(7);
    for (const length of [1, 9, 100, 1000, 70_001]) {
      const m = page(rand, length * 2).subarray(0, length);
      const changed = m.slice();
      const at = Math.floor(rand() * length);
      const xor = new Uint8Array(Math.min(8, length - at)).map(() => 1 + Math.floor(rand() * 255));
      xor.forEach((b, i) => {
        changed[at + i]! ^= b;
      });
      expect(crc64(m) ^ crc64DeltaOf(length, [{ offset: at, xor }])).toBe(crc64(changed));
    }
  });

  test("shifting through zero bytes equals hashing them", () => {
    const seg = new Uint8Array([1, 2, 3, 4, 5]);
    for (const zeros of [0, 1, 2, 3, 255, 4096, 100_003]) {
      const withZeros = new Uint8Array(seg.length + zeros);
      withZeros.set(seg);
      expect(shiftCrc64(rawCrc64(seg), zeros)).toBe(rawCrc64(withZeros));
    }
  });
});

describe("toNoChecksum", () => {
  const cases: Array<[string, Parameters<typeof pair>[0], number[]]> = [
    ["snapshot", { pageSize: 4096, commit: 5, minTxid: 1n, maxTxid: 3n }, [1, 2, 3, 4, 5]],
    ["L0 with growth", { pageSize: 4096, commit: 40, minTxid: 4n, maxTxid: 4n }, [2, 17, 38, 39, 40]],
    ["truncation", { pageSize: 1024, commit: 2, minTxid: 9n, maxTxid: 12n }, [1]],
    ["one page", { pageSize: 512, commit: 1, minTxid: 2n, maxTxid: 2n }, [1]],
  ];
  for (const pageSize of [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]) {
    cases.push([`page size ${pageSize}`, { pageSize, commit: 3, minTxid: 5n, maxTxid: 6n }, [1, 3]]);
  }
  for (const [name, fields, pgnos] of cases) {
    test(`${name}: the copy equals the NoChecksum file encoded from scratch and verifies`, async () => {
      const { checked, plain, pre, post } = pair(fields, pgnos);
      const copy = await toNoChecksum(bytesSource(checked), "x.ltx");
      const bytes = await materialize(copy.body);
      expect(Buffer.compare(bytes, plain)).toBe(0);
      const file = verifyLtxFile(bytes, { path: "x.ltx" });
      expect(file.header.flags).toBe(HEADER_FLAG_NO_CHECKSUM);
      expect(copy.checksums).toEqual({ preApply: pre, postApply: post, file: file.trailer.fileChecksum });
      // The original bytes are not touched.
      expect(verifyLtxFile(checked, { path: "y.ltx" }).header.flags).toBe(0);
    });
  }

  test("a file of more than 5 MiB (a multipart upload)", async () => {
    const pageSize = 65536;
    const commit = 200;
    const pgnos = Array.from({ length: commit }, (_, i) => i + 1);
    const { checked, plain } = pair({ pageSize, commit, minTxid: 1n, maxTxid: 1n }, pgnos, 3);
    expect(checked.length).toBeGreaterThan(5 * 1024 * 1024);
    const bytes = await materialize((await toNoChecksum(bytesSource(checked), "big.ltx")).body);
    expect(Buffer.compare(bytes, plain)).toBe(0);
  }, 60_000);

  test("an empty database (commit 0) and a file already NoChecksum", async () => {
    const { checked, plain } = pair({ pageSize: 4096, commit: 0, minTxid: 7n, maxTxid: 7n }, []);
    const copy = await toNoChecksum(bytesSource(checked), "e.ltx");
    expect(Buffer.compare(await materialize(copy.body), plain)).toBe(0);
    expect(copy.checksums?.postApply).toBe(CHECKSUM_FLAG);
    const again = await toNoChecksum(bytesSource(plain), "e.ltx");
    expect(again.checksums).toBeUndefined();
    expect(Buffer.compare(await materialize(again.body), plain)).toBe(0);
  });

  test("bytes that are not an LTX file come back as they are", async () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array([1, 2, 3]), new TextEncoder().encode("not an LTX file")]) {
      const copy = await toNoChecksum(bytesSource(bytes), "n.ltx");
      expect(copy.checksums).toBeUndefined();
      expect(await materialize(copy.body)).toEqual(bytes);
    }
  });

  test("a malformed page index is a CorruptFileError", async () => {
    const { checked } = pair({ pageSize: 512, commit: 1, minTxid: 2n, maxTxid: 2n }, [1]);
    const bad = checked.slice();
    bad[bad.length - 25] = 0x81; // the index terminator
    await expect(toNoChecksum(bytesSource(bad), "bad.ltx")).rejects.toThrow(/page index is malformed/);
  });
});
