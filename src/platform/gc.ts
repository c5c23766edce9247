/**
 * Bounds the garbage a long streaming pass leaves behind. Streaming a large
 * file allocates a page or a chunk at a time, all short-lived, but the
 * runtime collects by heap growth and keeps freed chunks cached, so without
 * help the resident set grows by tens of MiB before a collection. A pass
 * that has moved `every` bytes runs a full collection (milliseconds for
 * the small heap such a pass has), which keeps the peak near the live
 * size on a device with little RAM.
 *
 * @module
 */

/** Default bytes between collections. */
export const GC_EVERY_BYTES = 16 * 1024 * 1024;

/** Counts bytes and collects garbage every `every` of them. */
export class GarbagePacer {
  #every: number;
  #since = 0;

  constructor(every = GC_EVERY_BYTES) {
    this.#every = every;
  }

  /** Records `bytes` moved; collects when the pass has moved `every` since the last collection. */
  add(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#every) return;
    this.#since = 0;
    Bun.gc(true);
  }
}
