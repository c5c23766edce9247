/**
 * A compact LTX page index: where each page frame of a file sits, held in
 * typed arrays (a u32 page number and an f64 offset per page, 12 bytes)
 * instead of one object per page, so a file of 500,000 pages indexes in
 * 6 MiB rather than tens. Frames are contiguous from byte 100 (the decoders
 * check it), so a frame's size is the distance to the next one's offset.
 *
 * @module
 */

/** Where one page frame sits in the file, as the page index records it. */
export interface LtxPageIndexEntry {
  /** The page number. */
  readonly pgno: number;
  /** Byte offset of the frame's page header. */
  readonly offset: number;
  /** Frame size: page header, size prefix (if any) and compressed data. */
  readonly size: number;
}

/**
 * The page index of one file, ascending by page number (which is also
 * file order). Read it by position (`pgno(i)`, `offset(i)`, `size(i)`) in
 * hot loops; iterating yields short-lived entry objects. Build one with
 * {@linkcode PageIndexBuilder}.
 */
export class PageIndex implements Iterable<LtxPageIndexEntry> {
  /** Page numbers, ascending; `length` entries. */
  readonly #pgnos: Uint32Array;
  /** Frame offsets, `length + 1` entries: the last is where the frames end. */
  readonly #offsets: Float64Array;

  /** Use {@linkcode PageIndexBuilder.finish}. */
  constructor(pgnos: Uint32Array, offsets: Float64Array) {
    if (offsets.length !== pgnos.length + 1) {
      throw new RangeError(
        `Cannot build page index: ${offsets.length} offsets for ${pgnos.length} pages, expected ${pgnos.length + 1}`,
      );
    }
    this.#pgnos = pgnos;
    this.#offsets = offsets;
  }

  /** The number of pages. */
  get length(): number {
    return this.#pgnos.length;
  }

  /** Where the last frame ends (the end marker's offset); 100 for no pages. */
  get end(): number {
    return this.#offsets[this.#pgnos.length] ?? 0;
  }

  /** The page number of entry `i` (0 ≤ i < length). */
  pgno(i: number): number {
    return this.#pgnos[i] ?? 0;
  }

  /** The frame offset of entry `i` (0 ≤ i < length). */
  offset(i: number): number {
    return this.#offsets[i] ?? 0;
  }

  /** The frame size of entry `i` (0 ≤ i < length). */
  size(i: number): number {
    return (this.#offsets[i + 1] ?? 0) - (this.#offsets[i] ?? 0);
  }

  /** The position of page `pgno` (binary search), or -1 when the file does not contain it. */
  find(pgno: number): number {
    const i = this.#lowerBound(pgno);
    return this.#pgnos[i] === pgno ? i : -1;
  }

  /** How many pages have a number above `pgno`. */
  countAbove(pgno: number): number {
    return this.length - this.#lowerBound(pgno + 1);
  }

  /** The first position whose page number is at least `pgno` (`length` when none is). */
  #lowerBound(pgno: number): number {
    const pgnos = this.#pgnos;
    let lo = 0;
    let hi = pgnos.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((pgnos[mid] ?? 0) < pgno) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entry `i` as an object; negative `i` counts from the end (as `Array.at`). */
  at(i: number): LtxPageIndexEntry | undefined {
    const k = i < 0 ? this.length + i : i;
    if (k < 0 || k >= this.length) return undefined;
    return { pgno: this.pgno(k), offset: this.offset(k), size: this.size(k) };
  }

  /** A copy of the page numbers as an array (allocates one number per page: for tests and tools). */
  pageNumbers(): number[] {
    return Array.from(this.#pgnos);
  }

  /** Every entry as an object (allocates one per page: for tests and tools). */
  toArray(): LtxPageIndexEntry[] {
    return Array.from(this);
  }

  *[Symbol.iterator](): Generator<LtxPageIndexEntry, void, undefined> {
    for (let i = 0; i < this.length; i++) yield { pgno: this.pgno(i), offset: this.offset(i), size: this.size(i) };
  }
}

/** Entries per chunk of a {@linkcode PageIndexBuilder} (64 KiB of each array). */
const CHUNK_ENTRIES = 16384;

/**
 * Collects the entries of a {@linkcode PageIndex} one frame at a time, in
 * file order: each frame starts where the previous one ended (the first at
 * `start`). Keeps a u32 page number and a u32 frame size per page (8 bytes)
 * in fixed chunks, so growing never copies and leaves no garbage; the
 * offsets follow from the sizes.
 */
export class PageIndexBuilder {
  readonly #start: number;
  #pgnos: Uint32Array[] = [];
  #sizes: Uint32Array[] = [];
  #length = 0;
  #end: number;

  /** @param start the offset of the first frame (100 in an LTX file) */
  constructor(start: number) {
    this.#start = start;
    this.#end = start;
  }

  /** Entries added so far. */
  get length(): number {
    return this.#length;
  }

  /** Where the next frame starts. */
  get end(): number {
    return this.#end;
  }

  /** Adds the frame of page `pgno`, `size` bytes long (below 2^32), which starts at {@linkcode PageIndexBuilder.end}. */
  add(pgno: number, size: number): void {
    const k = this.#length % CHUNK_ENTRIES;
    if (k === 0) {
      this.#pgnos.push(new Uint32Array(CHUNK_ENTRIES));
      this.#sizes.push(new Uint32Array(CHUNK_ENTRIES));
    }
    const c = Math.floor(this.#length / CHUNK_ENTRIES);
    (this.#pgnos[c] as Uint32Array)[k] = pgno;
    (this.#sizes[c] as Uint32Array)[k] = size;
    this.#length++;
    this.#end += size;
  }

  /** The page number of entry `i` (0 ≤ i < length). */
  pgno(i: number): number {
    return this.#pgnos[Math.floor(i / CHUNK_ENTRIES)]?.[i % CHUNK_ENTRIES] ?? 0;
  }

  /** The frame size of entry `i` (0 ≤ i < length). */
  size(i: number): number {
    return this.#sizes[Math.floor(i / CHUNK_ENTRIES)]?.[i % CHUNK_ENTRIES] ?? 0;
  }

  /** A {@linkcode PageIndex} of the frames added so far (12 bytes a page more). */
  finish(): PageIndex {
    const n = this.#length;
    const pgnos = new Uint32Array(n);
    const offsets = new Float64Array(n + 1);
    let offset = this.#start;
    for (let i = 0; i < n; i++) {
      pgnos[i] = this.pgno(i);
      offsets[i] = offset;
      offset += this.size(i);
    }
    offsets[n] = offset;
    return new PageIndex(pgnos, offsets);
  }
}
