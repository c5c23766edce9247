/**
 * The content of a database at the captured position: for each page, the
 * newest committed WAL frame read so far in the current WAL, else the
 * database file. Valid while the agent's read lock keeps those frames from
 * being overwritten (see `CaptureConnection`).
 *
 * @module
 */

import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import type { CaptureConnection } from "../sqlite/capture-connection.ts";
import { WAL_FRAME_HEADER_SIZE } from "../sqlite/wal-reader.ts";

/** See the module documentation. */
export class CapturedPages {
  #conn: CaptureConnection;
  /** Newest committed frame offset per page, in the current WAL. */
  #walIndex = new Map<number, number>();
  /** The one page buffer {@linkcode CapturedPages.page} returns (a full pass reads every page). */
  #buffer: Uint8Array | undefined;

  constructor(conn: CaptureConnection) {
    this.#conn = conn;
  }

  /**
   * Forgets every WAL frame: after a complete checkpoint or a WAL restart
   * the database file holds everything up to the position.
   */
  reset(frames: ReadonlyMap<number, number> = new Map()): void {
    this.#walIndex = new Map(frames);
  }

  /** Adds newly captured frames and drops pages above the new database size. */
  apply(frames: ReadonlyMap<number, number>, commit: number): void {
    for (const [pgno, off] of frames) this.#walIndex.set(pgno, off);
    for (const pgno of this.#walIndex.keys()) if (pgno > commit) this.#walIndex.delete(pgno);
  }

  /**
   * The content of page `pgno`, in a buffer that the next call overwrites:
   * use it (checksum, compress) before asking for another page, or copy it.
   * A snapshot of a large database then allocates no page per page.
   */
  page(pgno: number): Uint8Array {
    const size = this.#conn.pageSize;
    if (this.#buffer?.length !== size) this.#buffer = new Uint8Array(size);
    const data = this.#buffer;
    const off = this.#walIndex.get(pgno);
    if (off === undefined) {
      this.#conn.readDbPageInto(pgno, data);
      return data;
    }
    if (this.#conn.readWalInto(off + WAL_FRAME_HEADER_SIZE, data) !== size) {
      throw new RangeError(
        `Cannot read WAL frame: page '${pgno}' at offset '${off}' is past the end of '${this.#conn.walPath}'`,
      );
    }
    return data;
  }

  /** Per-page checksums of pages 1..commit (reads the whole database). */
  checksums(commit: number): PageChecksums {
    const sums = new PageChecksums(this.#conn.pageSize);
    const lock = lockPageNumber(this.#conn.pageSize);
    for (let p = 1; p <= commit; p++) if (p !== lock) sums.set(p, this.page(p));
    return sums;
  }
}
