/**
 * Coalesces the pages of a restore into large positional writes. An LTX
 * file's pages come in ascending order, mostly contiguous (a snapshot is
 * all of them), so pages are decoded straight into one reusable buffer and
 * written a buffer at a time: one `pwrite` per MiB instead of one per page,
 * and no allocation per page.
 *
 * @module
 */

import { writeAll } from "../sqlite/staged-database.ts";

/** Default bytes per write. */
export const PAGE_WRITE_BYTES = 1024 * 1024;

/**
 * Hands out page-sized slots of a write buffer and writes the buffer at
 * the position of its first page when it is full, when the next page is
 * not the one after the last, and on {@linkcode PageWriter.flush}.
 *
 * @example
 * ```ts
 * const writer = new PageWriter(fd, 4096);
 * for await (const page of file.pages({ into: (pgno) => writer.slot(pgno) })) sums.setDigest(page.pgno, page.digest);
 * writer.flush();
 * ```
 */
export class PageWriter {
  /** The descriptor written to. */
  readonly fd: number;
  /** Bytes per page. */
  readonly pageSize: number;
  readonly #buffer: Uint8Array;
  /** Page number of the buffer's first slot. */
  #first = 0;
  /** Slots handed out since the last write. */
  #count = 0;

  /**
   * @param fd descriptor of the database file, open for writing
   * @param pageSize bytes per page
   * @param options `bufferBytes`: bytes per write, rounded down to whole pages (at least one)
   * @throws {RangeError} when `pageSize` is not a positive integer
   */
  constructor(fd: number, pageSize: number, options: { bufferBytes?: number } = {}) {
    if (!Number.isInteger(pageSize) || pageSize <= 0) {
      throw new RangeError(`Cannot write pages: page size ${pageSize} is not a positive integer`);
    }
    this.fd = fd;
    this.pageSize = pageSize;
    const pages = Math.max(1, Math.floor((options.bufferBytes ?? PAGE_WRITE_BYTES) / pageSize));
    this.#buffer = new Uint8Array(pages * pageSize);
  }

  /**
   * The slot for page `pgno`, to be filled before the next call; what was
   * put in the earlier slots is written first when `pgno` does not follow
   * them or the buffer is full. A slot is valid until the next call.
   * @throws the file system's error when that write fails
   */
  slot(pgno: number): Uint8Array {
    const size = this.pageSize;
    if (this.#count > 0 && (pgno !== this.#first + this.#count || (this.#count + 1) * size > this.#buffer.length)) {
      this.flush();
    }
    if (this.#count === 0) this.#first = pgno;
    const at = this.#count * size;
    this.#count++;
    return this.#buffer.subarray(at, at + size);
  }

  /**
   * Writes the slots handed out since the last write.
   * @throws the file system's error when the write fails
   */
  flush(): void {
    if (this.#count === 0) return;
    const size = this.pageSize;
    const count = this.#count;
    this.#count = 0;
    writeAll(this.fd, this.#buffer.subarray(0, count * size), (this.#first - 1) * size);
  }
}
