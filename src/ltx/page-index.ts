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
      throw new RangeError(`Cannot build page index: ${offsets.length} offsets for ${pgnos.length} pages, expected ${pgnos.length + 1}`);
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

/**
 * Collects the entries of a {@linkcode PageIndex} one frame at a time, in
 * file order: each frame must start where the previous one ended (the
 * first at `start`). Grows its arrays by doubling, so memory is at most
 * twice 12 bytes per page while building and exactly that once finished.
 */
export class PageIndexBuilder {
  #pgnos = new Uint32Array(256);
  #offsets = new Float64Array(257);
  #length = 0;

  /** @param start the offset of the first frame (100 in an LTX file) */
  constructor(start: number) {
    this.#offsets[0] = start;
  }

  /** Entries added so far. */
  get length(): number {
    return this.#length;
  }

  /** Where the next frame must start. */
  get end(): number {
    return this.#offsets[this.#length] ?? 0;
  }

  /**
   * Adds the frame of page `pgno`, `size` bytes long, which starts at
   * {@linkcode PageIndexBuilder.end}.
   */
  add(pgno: number, size: number): void {
    const n = this.#length;
    if (n === this.#pgnos.length) {
      const pgnos = new Uint32Array(n * 2);
      pgnos.set(this.#pgnos);
      this.#pgnos = pgnos;
      const offsets = new Float64Array(n * 2 + 1);
      offsets.set(this.#offsets);
      this.#offsets = offsets;
    }
    this.#pgnos[n] = pgno;
    this.#offsets[n + 1] = (this.#offsets[n] ?? 0) + size;
    this.#length = n + 1;
  }

  /** The index of the frames added (the arrays trimmed to size; the builder must not be used after). */
  finish(): PageIndex {
    const n = this.#length;
    const pgnos = n === this.#pgnos.length ? this.#pgnos : this.#pgnos.slice(0, n);
    const offsets = n + 1 === this.#offsets.length ? this.#offsets : this.#offsets.slice(0, n + 1);
    return new PageIndex(pgnos, offsets);
  }
}
