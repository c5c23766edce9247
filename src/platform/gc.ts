/**
 * Bounds the garbage a long streaming pass leaves behind. Streaming a large
 * file allocates a page or a chunk at a time, all short-lived, but the
 * runtime collects by heap growth and keeps freed chunks cached, so without
 * help the resident set grows by tens of MiB before a collection. A pass
 * that has moved `every` bytes runs a full collection (milliseconds for
 * the small heap such a pass has), which keeps the peak near the live
 * size on a device with little RAM.
 *
 * Measured (issue #13, replicating a 2 GB database from scratch to a file
 * replica, two full encoding passes): every 16 MiB peaks at 101 MiB for
 * 34 s of CPU, every 8 MiB at 90 MiB for 41 s, every 4 MiB at 90 MiB
 * (before the per-page buffers were reused) for 62 s; a non-forcing
 * `Bun.gc(false)` does not lower the peak at all.
 *
 * @module
 */

/** Default bytes between collections. */
export const GC_EVERY_BYTES = 8 * 1024 * 1024;

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
