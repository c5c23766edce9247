import { describe, expect, test } from "bun:test";
import { mulberry32, randomSeed } from "../../test/harness/prng.ts";
import { CHECKSUM_FLAG, Crc64, crc64, lockPageNumber, pageChecksum, PageChecksums, PageDigest } from "./checksum.ts";

const FIXTURES = new URL("../../../shared/fixtures/ltx/", import.meta.url);

/** Bit-at-a-time reference CRC-64 (reflected ISO polynomial, Go conventions). */
function referenceCrc64(bytes: Uint8Array): bigint {
  const poly = 0xd800000000000000n;
  let crc = 0xffffffffffffffffn;
  for (const b of bytes) {
    crc ^= BigInt(b);
    for (let i = 0; i < 8; i++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ 0xffffffffffffffffn;
}

function randomBytes(rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** The database checksum by its definition: a fold over pages 1..N. */
function foldDatabaseChecksum(pages: readonly Uint8Array[], pageSize: number): bigint {
  let cs = 0n;
  pages.forEach((data, i) => {
    if (i + 1 !== lockPageNumber(pageSize)) cs = CHECKSUM_FLAG | (cs ^ pageChecksum(i + 1, data));
  });
  return cs;
}

const DATABASES = [
  { name: "db1.db", pageSize: 4096, checksum: 0xedbd81ddc2f91db8n, page1: 0x88bea2cb7656ec3cn },
  { name: "db2.db", pageSize: 4096, checksum: 0xcc0adc8b11db151bn, page1: 0xf689e08e417fd76en },
  { name: "db3.db", pageSize: 4096, checksum: 0x9c6558fdd5cf6ec1n, page1: 0xa7cc531a805232f4n },
  { name: "db1-1k.db", pageSize: 1024, checksum: 0x8ea24d0f56ec09b5n, page1: 0x8fa312b1dbca2f4fn },
];

describe("crc64()", () => {
  test("matches the CRC-64/GO-ISO check value", () => {
    expect(crc64(new TextEncoder().encode("123456789"))).toBe(0xb90956c775a41001n);
    expect(crc64(new Uint8Array(0))).toBe(0n);
  });

  test("matches a bitwise reference for every length and alignment", () => {
    const rand = mulberry32(randomSeed());
    const buf = randomBytes(rand, 200);
    for (let start = 0; start < 9; start++) {
      for (let length = 0; length + start <= 80; length++) {
        const slice = buf.subarray(start, start + length);
        expect(crc64(slice)).toBe(referenceCrc64(slice));
      }
    }
  });
});

describe("Crc64", () => {
  test("gives the same digest however the input is split", () => {
    const rand = mulberry32(randomSeed());
    const data = randomBytes(rand, 5000);
    const whole = crc64(data);
    for (let round = 0; round < 20; round++) {
      const crc = new Crc64();
      let at = 0;
      while (at < data.length) {
        const n = Math.floor(rand() * 300);
        crc.update(data.subarray(at, at + n));
        at += n;
      }
      expect(crc.digest()).toBe(whole);
    }
  });

  test("digest() does not end the stream", () => {
    const crc = new Crc64().update(new TextEncoder().encode("1234"));
    crc.digest();
    expect(crc.update(new TextEncoder().encode("56789")).digest()).toBe(0xb90956c775a41001n);
  });
});

describe("pageChecksum()", () => {
  test("is bit 63 on the crc64 of the big-endian page number and the data", () => {
    const data = randomBytes(mulberry32(3), 512);
    const prefixed = new Uint8Array(516);
    prefixed.set([0x01, 0x02, 0x03, 0x04]);
    prefixed.set(data, 4);
    expect(pageChecksum(0x01020304, data)).toBe(CHECKSUM_FLAG | referenceCrc64(prefixed));
  });

  test("matches the golden page-1 checksums", async () => {
    for (const db of DATABASES) {
      const bytes = await Bun.file(new URL(db.name, FIXTURES)).bytes();
      expect(pageChecksum(1, bytes.subarray(0, db.pageSize))).toBe(db.page1);
    }
  });

  test("throws RangeError for an invalid page number", () => {
    expect(() => pageChecksum(0, new Uint8Array(512))).toThrow(RangeError);
    expect(() => pageChecksum(2 ** 32, new Uint8Array(512))).toThrow(RangeError);
  });
});

describe("lockPageNumber()", () => {
  test("is the page holding byte 0x40000000", () => {
    expect(lockPageNumber(4096)).toBe(262145);
    expect(lockPageNumber(1024)).toBe(1048577);
    expect(lockPageNumber(512)).toBe(2097153);
    expect(lockPageNumber(65536)).toBe(16385);
  });
});

describe("PageChecksums", () => {
  test("reproduces the golden database checksums", async () => {
    for (const db of DATABASES) {
      const bytes = await Bun.file(new URL(db.name, FIXTURES)).bytes();
      const sums = new PageChecksums(db.pageSize);
      for (let pgno = 1; pgno * db.pageSize <= bytes.length; pgno++) {
        sums.set(pgno, bytes.subarray((pgno - 1) * db.pageSize, pgno * db.pageSize));
      }
      expect(sums.pageCount).toBe(bytes.length / db.pageSize);
      expect(sums.get(1)).toBe(db.page1);
      expect(sums.databaseChecksum()).toBe(db.checksum);
    }
  });

  test("is 0 when empty and throws while a page is missing", () => {
    const sums = new PageChecksums(4096);
    expect(sums.databaseChecksum()).toBe(0n);
    sums.set(3, new Uint8Array(4096));
    expect(() => sums.databaseChecksum()).toThrow("Cannot compute database checksum: 2 of 3 pages are not set");
    expect(sums.get(1)).toBe(0n);
    expect(sums.get(4)).toBe(0n);
  });

  test("reserve() keeps every checksum and the database checksum", () => {
    const sums = new PageChecksums(4096);
    const page = new Uint8Array(4096).fill(7);
    for (let p = 1; p <= 100; p++) sums.set(p, page);
    const before = sums.databaseChecksum();
    sums.reserve(100_000);
    sums.reserve(10);
    expect(sums.pageCount).toBe(100);
    expect(sums.databaseChecksum()).toBe(before);
    expect(sums.get(100)).toBe(pageChecksum(100, page));
    sums.set(100_000, page);
    expect(sums.pageCount).toBe(100_000);
  });

  test("has() tells set pages from unset ones, the lock page and truncated pages", () => {
    const sums = new PageChecksums(4096);
    sums.set(2, new Uint8Array(4096));
    sums.set(4, new Uint8Array(4096));
    expect([0, 1, 2, 3, 4, 5, 1.5].map((p) => sums.has(p))).toEqual([false, false, true, false, true, false, false]);
    sums.truncate(3);
    expect(sums.has(4)).toBe(false);
    const lock = lockPageNumber(4096);
    sums.set(lock, new Uint8Array(4096));
    expect(sums.has(lock)).toBe(false);
  });

  test("stays equal to a full recompute under random sets and truncations", () => {
    const rand = mulberry32(randomSeed());
    const pageSize = 512;
    const pages: Uint8Array[] = [];
    const sums = new PageChecksums(pageSize);
    for (let step = 0; step < 400; step++) {
      const r = rand();
      if (r < 0.1 && pages.length > 0) {
        const count = Math.floor(rand() * pages.length);
        pages.length = count;
        sums.truncate(count);
      } else if (r < 0.3 || pages.length === 0) {
        const data = randomBytes(rand, pageSize);
        pages.push(data);
        sums.set(pages.length, data);
      } else {
        const pgno = 1 + Math.floor(rand() * pages.length);
        const data = randomBytes(rand, pageSize);
        pages[pgno - 1] = data;
        if (rand() < 0.5) sums.set(pgno, data);
        else sums.setChecksum(pgno, pageChecksum(pgno, data));
      }
      expect(sums.pageCount).toBe(pages.length);
      expect(sums.databaseChecksum()).toBe(foldDatabaseChecksum(pages, pageSize));
    }
  });

  test("grows past its initial capacity and skips the lock page", () => {
    // With 65536-byte pages the lock page is 16385. Precomputed (made-up)
    // checksums keep this fast; the arithmetic is the same.
    const pageSize = 65536;
    const lock = lockPageNumber(pageSize);
    const sums = new PageChecksums(pageSize);
    const fake = (pgno: number): bigint => CHECKSUM_FLAG | ((BigInt(pgno) * 0x9e3779b97f4a7c15n) & 0x7fffffffffffffffn);
    let xor = 0n;
    for (let pgno = 1; pgno <= lock + 2; pgno++) {
      if (pgno === lock) {
        sums.set(pgno, new Uint8Array(pageSize)); // ignored
      } else {
        sums.setChecksum(pgno, fake(pgno));
        xor ^= fake(pgno);
      }
    }
    expect(sums.pageCount).toBe(lock + 2);
    expect(sums.get(lock)).toBe(0n);
    expect(sums.get(lock + 1)).toBe(fake(lock + 1));
    expect(sums.databaseChecksum()).toBe(CHECKSUM_FLAG | xor);
    sums.truncate(lock);
    expect(sums.pageCount).toBe(lock);
    expect(sums.databaseChecksum()).toBe(CHECKSUM_FLAG | (xor ^ fake(lock + 1) ^ fake(lock + 2)));
  });

  test("setChecksum() rejects values without bit 63", () => {
    const sums = new PageChecksums(4096);
    expect(() => sums.setChecksum(1, 5n)).toThrow(RangeError);
    expect(() => sums.setChecksum(1, 1n << 64n)).toThrow(RangeError);
  });

  test("update() stores the new checksum and reports whether it changed", () => {
    const rand = mulberry32(7);
    const sums = new PageChecksums(512);
    const a = randomBytes(rand, 512);
    const b = randomBytes(rand, 512);
    expect(sums.update(1, a)).toBe(true);
    expect(sums.update(1, a)).toBe(false);
    expect(sums.update(2, a)).toBe(true);
    expect(sums.update(1, b)).toBe(true);
    expect({ one: sums.get(1), two: sums.get(2) }).toEqual({ one: pageChecksum(1, b), two: pageChecksum(2, a) });
    expect(sums.databaseChecksum()).toBe(CHECKSUM_FLAG | (pageChecksum(1, b) ^ pageChecksum(2, a)));
    sums.truncate(1);
    expect(sums.update(2, a)).toBe(true);
    expect(sums.update(lockPageNumber(512), a)).toBe(false);
  });

  test("exportEntries() and importEntries() round-trip, skipping the lock page", () => {
    const pageSize = 65536;
    const lock = lockPageNumber(pageSize);
    const fake = (pgno: number): bigint => CHECKSUM_FLAG | ((BigInt(pgno) * 0x9e3779b97f4a7c15n) & 0x7fffffffffffffffn);
    const sums = new PageChecksums(pageSize);
    for (let pgno = 1; pgno <= lock + 3; pgno++) if (pgno !== lock) sums.setChecksum(pgno, fake(pgno));
    const bytes = new Uint8Array((lock + 5) * 8);
    // Two chunks, the second one past pageCount (zero entries).
    sums.exportEntries(1, bytes.subarray(0, 800));
    sums.exportEntries(101, bytes.subarray(800));
    const view = new DataView(bytes.buffer);
    expect(view.getBigUint64(0)).toBe(fake(1));
    expect(view.getBigUint64((lock - 1) * 8)).toBe(0n);
    expect(view.getBigUint64((lock + 3) * 8)).toBe(0n);
    const back = new PageChecksums(pageSize);
    back.importEntries(1, bytes.subarray(0, 16));
    back.importEntries(3, bytes.subarray(16, (lock + 3) * 8));
    expect(back.pageCount).toBe(lock + 3);
    expect(back.databaseChecksum()).toBe(sums.databaseChecksum());
    // An entry without bit 63 (here: past the end) is refused.
    expect(() => back.importEntries(1, bytes)).toThrow(RangeError);
    expect(() => back.importEntries(1, bytes.subarray(0, 7))).toThrow(RangeError);
    expect(() => sums.exportEntries(0, bytes)).toThrow(RangeError);
  });
});

describe("PageDigest", () => {
  test("gives the file CRC and the page checksum of a single pass, for several page sizes", () => {
    const rand = mulberry32(randomSeed());
    for (const size of [512, 1024, 4096, 65536]) {
      const digest = new PageDigest(size);
      const sums = new PageChecksums(size);
      const direct = new PageChecksums(size);
      const viaDigest = new Crc64().update(Uint8Array.of(1, 2, 3));
      const viaBytes = new Crc64().update(Uint8Array.of(1, 2, 3));
      for (let pgno = 1; pgno <= 5; pgno++) {
        const page = new Uint8Array(size);
        for (let i = 0; i < size; i++) page[i] = pgno % 2 === 0 ? Math.floor(rand() * 256) : i % 7;
        digest.load(page);
        expect(digest.pageChecksum(pgno * 977)).toBe(pageChecksum(pgno * 977, page));
        const acc = Uint32Array.of(5, 6);
        digest.xorPageChecksum(pgno, acc);
        expect((BigInt((acc[1]! ^ 6) >>> 0) << 32n) | BigInt((acc[0]! ^ 5) >>> 0)).toBe(pageChecksum(pgno, page));
        viaDigest.updateDigest(digest).update(Uint8Array.of(pgno));
        viaBytes.update(page).update(Uint8Array.of(pgno));
        sums.setDigest(pgno, digest);
        direct.set(pgno, page);
        expect(sums.get(pgno)).toBe(direct.get(pgno));
      }
      expect(viaDigest.digest()).toBe(viaBytes.digest());
      expect(sums.databaseChecksum()).toBe(direct.databaseChecksum());
    }
  });

  test("rejects a page of another size and a digest with nothing loaded", () => {
    const digest = new PageDigest(512);
    expect(() => new Crc64().updateDigest(digest)).toThrow("no page was loaded");
    expect(() => digest.load(new Uint8Array(511))).toThrow(RangeError);
  });
});
