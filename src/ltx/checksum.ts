/**
 * CRC-64 as Go's `hash/crc64` with `crc64.MakeTable(crc64.ISO)` computes it,
 * and the LTX page and database checksums built on it.
 *
 * A whole database is checksummed page by page at startup, so the CRC works
 * on two 32-bit halves with slicing-by-8 tables rather than on BigInts.
 *
 * @module
 */

/** Bit 63, set on every LTX checksum so that a real checksum is never 0. */
export const CHECKSUM_FLAG = 0x8000_0000_0000_0000n;

/** SQLite's PENDING_BYTE: the page holding it (the lock page) is never stored. */
const PENDING_BYTE = 0x4000_0000;

/**
 * Slicing-by-8 tables for the reflected ISO polynomial 0xD800000000000000,
 * split into low and high 32-bit halves: entry `k * 256 + i` of table k.
 */
const TABLE_LO = new Uint32Array(8 * 256);
const TABLE_HI = new Uint32Array(8 * 256);

buildTables();

function buildTables(): void {
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) hi = (hi ^ 0xd800_0000) >>> 0;
    }
    TABLE_LO[i] = lo;
    TABLE_HI[i] = hi;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const prevLo = TABLE_LO[(k - 1) * 256 + i] ?? 0;
      const prevHi = TABLE_HI[(k - 1) * 256 + i] ?? 0;
      const idx = prevLo & 0xff;
      TABLE_LO[k * 256 + i] = (((prevLo >>> 8) | (prevHi << 24)) ^ (TABLE_LO[idx] ?? 0)) >>> 0;
      TABLE_HI[k * 256 + i] = ((prevHi >>> 8) ^ (TABLE_HI[idx] ?? 0)) >>> 0;
    }
  }
}

/**
 * The running CRC register (already complemented, as Go's Update keeps it
 * between its leading and trailing `^crc`). Module-level so the hot loop
 * returns two halves without allocating.
 */
let regLo = 0;
let regHi = 0;

/** Whether this machine stores integers little-endian (all Bun targets do). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Feeds `p` through the register in `regLo` / `regHi`. */
function feed(p: Uint8Array): void {
  const end = p.length;
  let i = 0;
  // Reading whole 32-bit words through an Int32Array view is about twice as
  // fast as assembling them from bytes, but needs 4-byte alignment.
  if (LITTLE_ENDIAN && p.byteOffset % 4 === 0 && end >= 8) {
    const words = Math.floor(end / 8) * 2;
    feedWords(new Int32Array(p.buffer, p.byteOffset, words));
    i = words * 4;
  }
  const tlo = TABLE_LO;
  const thi = TABLE_HI;
  let lo = regLo;
  let hi = regHi;
  // The `!` are safe: every table index is masked to 0..255 plus a table
  // offset, and every `p[i + n]` is below `end`.
  for (const stop = end - 7; i < stop; i += 8) {
    lo ^= p[i]! | (p[i + 1]! << 8) | (p[i + 2]! << 16) | (p[i + 3]! << 24);
    hi ^= p[i + 4]! | (p[i + 5]! << 8) | (p[i + 6]! << 16) | (p[i + 7]! << 24);
    const nlo =
      tlo[1792 + (lo & 0xff)]! ^
      tlo[1536 + ((lo >>> 8) & 0xff)]! ^
      tlo[1280 + ((lo >>> 16) & 0xff)]! ^
      tlo[1024 + (lo >>> 24)]! ^
      tlo[768 + (hi & 0xff)]! ^
      tlo[512 + ((hi >>> 8) & 0xff)]! ^
      tlo[256 + ((hi >>> 16) & 0xff)]! ^
      tlo[hi >>> 24]!;
    const nhi =
      thi[1792 + (lo & 0xff)]! ^
      thi[1536 + ((lo >>> 8) & 0xff)]! ^
      thi[1280 + ((lo >>> 16) & 0xff)]! ^
      thi[1024 + (lo >>> 24)]! ^
      thi[768 + (hi & 0xff)]! ^
      thi[512 + ((hi >>> 8) & 0xff)]! ^
      thi[256 + ((hi >>> 16) & 0xff)]! ^
      thi[hi >>> 24]!;
    lo = nlo;
    hi = nhi;
  }
  for (; i < end; i++) {
    const idx = (lo ^ p[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ tlo[idx]!;
    hi = (hi >>> 8) ^ thi[idx]!;
  }
  regLo = lo >>> 0;
  regHi = hi >>> 0;
}

/** Slicing-by-8 over little-endian word pairs; `w.length` is even. */
function feedWords(w: Int32Array): void {
  const tlo = TABLE_LO;
  const thi = TABLE_HI;
  let lo = regLo;
  let hi = regHi;
  for (let j = 0, n = w.length; j < n; j += 2) {
    lo ^= w[j]!;
    hi ^= w[j + 1]!;
    const nlo =
      tlo[1792 + (lo & 0xff)]! ^
      tlo[1536 + ((lo >>> 8) & 0xff)]! ^
      tlo[1280 + ((lo >>> 16) & 0xff)]! ^
      tlo[1024 + (lo >>> 24)]! ^
      tlo[768 + (hi & 0xff)]! ^
      tlo[512 + ((hi >>> 8) & 0xff)]! ^
      tlo[256 + ((hi >>> 16) & 0xff)]! ^
      tlo[hi >>> 24]!;
    const nhi =
      thi[1792 + (lo & 0xff)]! ^
      thi[1536 + ((lo >>> 8) & 0xff)]! ^
      thi[1280 + ((lo >>> 16) & 0xff)]! ^
      thi[1024 + (lo >>> 24)]! ^
      thi[768 + (hi & 0xff)]! ^
      thi[512 + ((hi >>> 8) & 0xff)]! ^
      thi[256 + ((hi >>> 16) & 0xff)]! ^
      thi[hi >>> 24]!;
    lo = nlo;
    hi = nhi;
  }
  regLo = lo >>> 0;
  regHi = hi >>> 0;
}

/** Feeds the 4 big-endian bytes of `value` through the register. */
function feedUint32(value: number): void {
  let lo = regLo;
  let hi = regHi;
  for (let shift = 24; shift >= 0; shift -= 8) {
    const idx = (lo ^ (value >>> shift)) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TABLE_LO[idx]!;
    hi = (hi >>> 8) ^ TABLE_HI[idx]!;
  }
  regLo = lo >>> 0;
  regHi = hi >>> 0;
}

function toBigint(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The shift tables of each page size seen (a few KiB each; a process sees one or two sizes). */
const SHIFT_TABLES = new Map<number, { lo: Uint32Array; hi: Uint32Array }>();

/**
 * What `pageSize` zero bytes do to the register, as 8 × 256 entries per
 * half: the image of each register bit, then each entry as the XOR of the
 * images of its byte's bits.
 */
function shiftTables(pageSize: number): { lo: Uint32Array; hi: Uint32Array } {
  const cached = SHIFT_TABLES.get(pageSize);
  if (cached !== undefined) return cached;
  const zeros = new Uint8Array(pageSize);
  const bitLo = new Uint32Array(64);
  const bitHi = new Uint32Array(64);
  for (let bit = 0; bit < 64; bit++) {
    regLo = bit < 32 ? (1 << bit) >>> 0 : 0;
    regHi = bit < 32 ? 0 : (1 << (bit - 32)) >>> 0;
    feed(zeros);
    bitLo[bit] = regLo;
    bitHi[bit] = regHi;
  }
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  for (let k = 0; k < 8; k++) {
    for (let b = 1; b < 256; b++) {
      const low = b & -b;
      const j = 31 - Math.clz32(low);
      const rest = k * 256 + (b ^ low);
      lo[k * 256 + b] = (lo[rest]! ^ bitLo[k * 8 + j]!) >>> 0;
      hi[k * 256 + b] = (hi[rest]! ^ bitHi[k * 8 + j]!) >>> 0;
    }
  }
  const tables = { lo, hi };
  SHIFT_TABLES.set(pageSize, tables);
  return tables;
}

/**
 * One page's bytes run through the CRC once, for every checksum that covers
 * them. The CRC register is linear: feeding `data` from a register `r`
 * gives `shift(r) ^ feed(0, data)`, where `shift` is what `data.length`
 * zero bytes do to `r`, a fixed linear map for a fixed page size (stored
 * like the slicing tables, 8 × 256 entries). So {@linkcode PageDigest.load}
 * feeds the page once from a zero register, and the file checksum
 * ({@linkcode Crc64.updateDigest}) and the page checksum
 * ({@linkcode PageDigest.pageChecksum}, {@linkcode PageChecksums.setDigest})
 * each finish with a few table lookups instead of another pass over the
 * page.
 *
 * @example
 * ```ts
 * const digest = new PageDigest(4096);
 * digest.load(page);
 * crc.updateDigest(digest); // same as crc.update(page)
 * digest.pageChecksum(7); // same as pageChecksum(7, page)
 * ```
 */
export class PageDigest {
  /** The page size this digest takes. */
  readonly pageSize: number;
  readonly #shiftLo: Uint32Array;
  readonly #shiftHi: Uint32Array;
  #lo = 0;
  #hi = 0;
  #loaded = false;

  /**
   * @param pageSize bytes of every page given to `load`
   * @throws {RangeError} when `pageSize` is not a positive integer
   */
  constructor(pageSize: number) {
    if (!Number.isInteger(pageSize) || pageSize <= 0) {
      throw new RangeError(`Cannot create page digest: page size ${pageSize} is not a positive integer`);
    }
    this.pageSize = pageSize;
    const tables = shiftTables(pageSize);
    this.#shiftLo = tables.lo;
    this.#shiftHi = tables.hi;
  }

  /**
   * Runs `page` through the CRC (the one pass over its bytes).
   * @throws {RangeError} when `page` is not `pageSize` bytes
   */
  load(page: Uint8Array): void {
    if (page.length !== this.pageSize) {
      throw new RangeError(`Cannot digest page: it has ${page.length} bytes, the page size is ${this.pageSize}`);
    }
    regLo = 0;
    regHi = 0;
    feed(page);
    this.#lo = regLo;
    this.#hi = regHi;
    this.#loaded = true;
  }

  /** Replaces the register in `regLo` / `regHi` with the register after the loaded page. */
  applyToRegister(): void {
    if (!this.#loaded) throw new Error("Cannot apply page digest: no page was loaded");
    const tlo = this.#shiftLo;
    const thi = this.#shiftHi;
    const lo = regLo;
    const hi = regHi;
    regLo =
      (tlo[lo & 0xff]! ^
        tlo[256 + ((lo >>> 8) & 0xff)]! ^
        tlo[512 + ((lo >>> 16) & 0xff)]! ^
        tlo[768 + (lo >>> 24)]! ^
        tlo[1024 + (hi & 0xff)]! ^
        tlo[1280 + ((hi >>> 8) & 0xff)]! ^
        tlo[1536 + ((hi >>> 16) & 0xff)]! ^
        tlo[1792 + (hi >>> 24)]! ^
        this.#lo) >>>
      0;
    regHi =
      (thi[lo & 0xff]! ^
        thi[256 + ((lo >>> 8) & 0xff)]! ^
        thi[512 + ((lo >>> 16) & 0xff)]! ^
        thi[768 + (lo >>> 24)]! ^
        thi[1024 + (hi & 0xff)]! ^
        thi[1280 + ((hi >>> 8) & 0xff)]! ^
        thi[1536 + ((hi >>> 16) & 0xff)]! ^
        thi[1792 + (hi >>> 24)]! ^
        this.#hi) >>>
      0;
  }

  /**
   * The LTX page checksum of the loaded page as page `pgno`, as
   * {@linkcode pageChecksum} computes it.
   * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
   */
  pageChecksum(pgno: number): bigint {
    checkPgno(pgno, "compute page checksum");
    this.computePageChecksum(pgno);
    return toBigint(regHi, regLo);
  }

  /**
   * XORs the page checksum of the loaded page as page `pgno` into `acc`
   * (`[low 32 bits, high 32 bits]`), for a database checksum without a
   * BigInt per page.
   * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
   */
  xorPageChecksum(pgno: number, acc: Uint32Array): void {
    checkPgno(pgno, "compute page checksum");
    this.computePageChecksum(pgno);
    acc[0] = (acc[0]! ^ regLo) >>> 0;
    acc[1] = (acc[1]! ^ regHi) >>> 0;
  }

  /** Computes the page checksum of the loaded page into the register, as `computePageChecksum` does. */
  computePageChecksum(pgno: number): void {
    regLo = 0xffff_ffff;
    regHi = 0xffff_ffff;
    feedUint32(pgno);
    this.applyToRegister();
    regLo = ~regLo >>> 0;
    regHi = (~regHi | 0x8000_0000) >>> 0;
  }
}

/**
 * A streaming CRC-64 (ISO polynomial, Go `hash/crc64` conventions).
 *
 * @example
 * ```ts
 * const crc = new Crc64();
 * crc.update(new TextEncoder().encode("1234"));
 * crc.update(new TextEncoder().encode("56789"));
 * crc.digest(); // 0xb90956c775a41001n
 * ```
 */
export class Crc64 {
  #lo = 0xffff_ffff;
  #hi = 0xffff_ffff;

  /** Adds `bytes` to the running checksum. Returns `this` for chaining. */
  update(bytes: Uint8Array): this {
    regLo = this.#lo;
    regHi = this.#hi;
    feed(bytes);
    this.#lo = regLo;
    this.#hi = regHi;
    return this;
  }

  /** Adds the page loaded into `digest`, as `update(page)` would. Returns `this` for chaining. */
  updateDigest(digest: PageDigest): this {
    regLo = this.#lo;
    regHi = this.#hi;
    digest.applyToRegister();
    this.#lo = regLo;
    this.#hi = regHi;
    return this;
  }

  /** Returns the checksum of everything added so far; updating may continue. */
  digest(): bigint {
    return toBigint(~this.#hi, ~this.#lo);
  }
}

/**
 * Returns the CRC-64 (ISO) of `bytes`.
 *
 * @example
 * ```ts
 * crc64(new TextEncoder().encode("123456789")); // 0xb90956c775a41001n
 * ```
 */
export function crc64(bytes: Uint8Array): bigint {
  regLo = 0xffff_ffff;
  regHi = 0xffff_ffff;
  feed(bytes);
  return toBigint(~regHi, ~regLo);
}

/** Computes a page checksum into the register; the result is `~regHi:~regLo | flag`. */
function computePageChecksum(pgno: number, data: Uint8Array): void {
  regLo = 0xffff_ffff;
  regHi = 0xffff_ffff;
  feedUint32(pgno);
  feed(data);
  regLo = ~regLo >>> 0;
  regHi = (~regHi | 0x8000_0000) >>> 0;
}

/**
 * Returns the LTX checksum of one page: bit 63 set on the CRC-64 of the page
 * number (4 bytes, big-endian) followed by the page bytes.
 *
 * @param pgno the 1-based page number
 * @param data the page image
 * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
 */
export function pageChecksum(pgno: number, data: Uint8Array): bigint {
  checkPgno(pgno, "compute page checksum");
  computePageChecksum(pgno, data);
  return toBigint(regHi, regLo);
}

/**
 * Returns the page number of SQLite's lock page (the page holding byte
 * 0x40000000), which databases never store and LTX files never contain.
 *
 * @throws {RangeError} when `pageSize` is not a positive integer
 */
export function lockPageNumber(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize <= 0) {
    throw new RangeError(`Cannot compute lock page: page size ${pageSize} is not a positive integer`);
  }
  return Math.floor(PENDING_BYTE / pageSize) + 1;
}

function checkEntryRange(first: number, byteLength: number, action: string): void {
  checkPgno(first, action);
  if (byteLength % 8 !== 0) {
    throw new RangeError(`Cannot ${action}: ${byteLength} bytes is not a whole number of 8-byte entries`);
  }
  if (first - 1 + byteLength / 8 > 0xffff_ffff) {
    throw new RangeError(`Cannot ${action}: pages past 4294967295`);
  }
}

function checkPgno(pgno: number, action: string): void {
  if (!Number.isInteger(pgno) || pgno < 1 || pgno > 0xffff_ffff) {
    throw new RangeError(`Cannot ${action}: page number ${pgno} is not an integer from 1 to 4294967295`);
  }
}

/**
 * Per-page checksums of one database, kept in memory (8 bytes per page),
 * with the LTX database checksum maintained incrementally.
 *
 * The database checksum of pages 1..N (lock page skipped) is defined as a
 * fold `cs = 2^63 | (cs ^ pageChecksum)` starting from 0; that equals
 * `2^63 | XOR(page checksums)` for N ≥ 1, so a running XOR suffices.
 * An empty database has checksum 0 here (as Go's `ltx checksum` reports).
 *
 * Every page from 1 to {@linkcode PageChecksums.pageCount} (except the lock
 * page) must be set before {@linkcode PageChecksums.databaseChecksum} is
 * called.
 *
 * @example
 * ```ts
 * const sums = new PageChecksums(4096);
 * sums.set(1, page1);
 * sums.set(2, page2);
 * sums.databaseChecksum();
 * ```
 */
export class PageChecksums {
  #lockPgno: number;
  // Index pgno-1; 0 in both halves means "not set" (bit 63 is always set).
  #lo = new Uint32Array(64);
  #hi = new Uint32Array(64);
  #pageCount = 0;
  #setCount = 0;
  #xorLo = 0;
  #xorHi = 0;

  /**
   * @param pageSize the database page size, used to find the lock page
   * @throws {RangeError} when `pageSize` is not a positive integer
   */
  constructor(pageSize: number) {
    this.#lockPgno = lockPageNumber(pageSize);
  }

  /** The highest page number set and not truncated away. */
  get pageCount(): number {
    return this.#pageCount;
  }

  /**
   * Computes and stores the checksum of page `pgno`. Setting the lock page
   * is ignored: it is not part of the database checksum.
   *
   * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
   */
  set(pgno: number, data: Uint8Array): void {
    checkPgno(pgno, "set page checksum");
    if (pgno === this.#lockPgno) return;
    computePageChecksum(pgno, data);
    this.#store(pgno, regLo, regHi);
  }

  /**
   * Stores the checksum of page `pgno` whose bytes were loaded into
   * `digest` (the same as `set(pgno, page)`, without another pass over the
   * page). The lock page is ignored.
   *
   * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
   */
  setDigest(pgno: number, digest: PageDigest): void {
    checkPgno(pgno, "set page checksum");
    if (pgno === this.#lockPgno) return;
    digest.computePageChecksum(pgno);
    this.#store(pgno, regLo, regHi);
  }

  /**
   * Computes the checksum of page `pgno`, stores it, and returns whether it
   * differs from the one stored before (a page not set before always
   * differs). The lock page is ignored and never differs.
   *
   * @throws {RangeError} when `pgno` is not an integer from 1 to 2^32-1
   */
  update(pgno: number, data: Uint8Array): boolean {
    checkPgno(pgno, "update page checksum");
    if (pgno === this.#lockPgno) return false;
    computePageChecksum(pgno, data);
    const i = pgno - 1;
    if (pgno <= this.#pageCount && this.#lo[i] === regLo && this.#hi[i] === regHi) return false;
    this.#store(pgno, regLo, regHi);
    return true;
  }

  /**
   * Writes the checksums of pages `first`, `first + 1`, … as 8-byte
   * big-endian values into `out` (`out.length / 8` pages; 0 for a page not
   * set, the lock page or one above `pageCount`).
   *
   * @throws {RangeError} when `first` is not a positive integer or `out.length` is not a multiple of 8
   */
  exportEntries(first: number, out: Uint8Array): void {
    checkEntryRange(first, out.length, "export page checksums");
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let k = 0, n = out.length / 8; k < n; k++) {
      const i = first - 1 + k;
      const set = i < this.#pageCount;
      view.setUint32(k * 8, set ? (this.#hi[i] ?? 0) : 0);
      view.setUint32(k * 8 + 4, set ? (this.#lo[i] ?? 0) : 0);
    }
  }

  /**
   * Stores checksums of pages `first`, `first + 1`, … from 8-byte
   * big-endian values (the layout {@linkcode PageChecksums.exportEntries}
   * writes). The lock page's entry is ignored.
   *
   * @throws {RangeError} when `first` is not a positive integer, `bytes.length` is not a multiple of 8,
   *   or an entry (other than the lock page's) lacks bit 63
   */
  importEntries(first: number, bytes: Uint8Array): void {
    checkEntryRange(first, bytes.length, "import page checksums");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let k = 0, n = bytes.length / 8; k < n; k++) {
      const pgno = first + k;
      if (pgno === this.#lockPgno) continue;
      const hi = view.getUint32(k * 8);
      if ((hi & 0x8000_0000) === 0) {
        throw new RangeError(`Cannot import page checksums: the entry of page ${pgno} lacks bit 63`);
      }
      this.#store(pgno, view.getUint32(k * 8 + 4), hi);
    }
  }

  /**
   * Stores a precomputed page checksum for page `pgno`. Setting the lock
   * page is ignored.
   *
   * @throws {RangeError} when `pgno` is out of range or `checksum` lacks bit 63 or exceeds 64 bits
   */
  setChecksum(pgno: number, checksum: bigint): void {
    checkPgno(pgno, "set page checksum");
    if (checksum < CHECKSUM_FLAG || checksum > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(
        `Cannot set page checksum: '${checksum.toString(16)}' is not a 64-bit value with bit 63 set`,
      );
    }
    if (pgno === this.#lockPgno) return;
    this.#store(pgno, Number(checksum & 0xffff_ffffn), Number(checksum >> 32n));
  }

  /**
   * Makes room for pages 1..`pageCount` at once (a hint: storing grows as
   * needed anyway), so that filling a known database size does not copy
   * the arrays as they double. Only for a size that is known to be real
   * (the database being captured), never one read from a file: a corrupt
   * header's commit of 2^31 would reserve 16 GiB.
   */
  reserve(pageCount: number): void {
    if (Number.isInteger(pageCount) && pageCount > this.#lo.length) this.#resize(pageCount);
  }

  /** Whether page `pgno` has a checksum (never the lock page); allocates nothing, unlike `get`. */
  has(pgno: number): boolean {
    return Number.isInteger(pgno) && pgno >= 1 && pgno <= this.#pageCount && this.#hi[pgno - 1] !== 0;
  }

  /** Returns the checksum of page `pgno`, or 0n when it is not set (or is the lock page). */
  get(pgno: number): bigint {
    if (!Number.isInteger(pgno) || pgno < 1 || pgno > this.#pageCount) return 0n;
    return toBigint(this.#hi[pgno - 1] ?? 0, this.#lo[pgno - 1] ?? 0);
  }

  /**
   * Drops every page above `pageCount`, as when a database shrinks.
   *
   * @throws {RangeError} when `pageCount` is not a non-negative integer
   */
  truncate(pageCount: number): void {
    if (!Number.isInteger(pageCount) || pageCount < 0) {
      throw new RangeError(`Cannot truncate page checksums: page count ${pageCount} is not a non-negative integer`);
    }
    for (let i = pageCount; i < this.#pageCount; i++) {
      const lo = this.#lo[i] ?? 0;
      const hi = this.#hi[i] ?? 0;
      if (hi !== 0) {
        this.#xorLo = (this.#xorLo ^ lo) >>> 0;
        this.#xorHi = (this.#xorHi ^ hi) >>> 0;
        this.#setCount--;
      }
      this.#lo[i] = 0;
      this.#hi[i] = 0;
    }
    this.#pageCount = Math.min(this.#pageCount, pageCount);
  }

  /**
   * Returns the LTX database checksum of pages 1..pageCount: 0n when empty,
   * otherwise bit 63 set on the XOR of all page checksums.
   *
   * @throws {RangeError} when some page below `pageCount` was never set
   */
  databaseChecksum(): bigint {
    const expected = this.#pageCount - (this.#lockPgno <= this.#pageCount ? 1 : 0);
    if (this.#setCount !== expected) {
      throw new RangeError(
        `Cannot compute database checksum: ${expected - this.#setCount} of ${this.#pageCount} pages are not set`,
      );
    }
    if (this.#pageCount === 0) return 0n;
    return toBigint(this.#xorHi | 0x8000_0000, this.#xorLo);
  }

  #store(pgno: number, lo: number, hi: number): void {
    const i = pgno - 1;
    if (i >= this.#lo.length) this.#grow(pgno);
    const oldHi = this.#hi[i] ?? 0;
    if (oldHi === 0) {
      this.#setCount++;
    } else {
      this.#xorLo ^= this.#lo[i] ?? 0;
      this.#xorHi ^= oldHi;
    }
    this.#lo[i] = lo;
    this.#hi[i] = hi;
    this.#xorLo = (this.#xorLo ^ lo) >>> 0;
    this.#xorHi = (this.#xorHi ^ hi) >>> 0;
    if (pgno > this.#pageCount) this.#pageCount = pgno;
  }

  #grow(pgno: number): void {
    let size = this.#lo.length;
    while (size < pgno) size *= 2;
    this.#resize(size);
  }

  #resize(size: number): void {
    const lo = new Uint32Array(size);
    const hi = new Uint32Array(size);
    lo.set(this.#lo);
    hi.set(this.#hi);
    this.#lo = lo;
    this.#hi = hi;
  }
}
