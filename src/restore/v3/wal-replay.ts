/**
 * Replays one Litestream v0.3 WAL index (its decompressed segments, fed in
 * offset order) onto a database file, without SQLite (reference §4.3
 * step 5): frames are accepted while their salts and cumulative checksums
 * match; pages are buffered and written at each commit frame, and the file
 * is truncated to `commit × pageSize`. Frames after the last valid commit
 * are ignored, as SQLite's checkpoint ignores them.
 *
 * Segments are fed one at a time so a caller can observe the database
 * after each one (the migration makes one restore point per segment).
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { CorruptFileError } from "../../errors.ts";
import { decodeWalHeader, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, walChecksum, type WalHeader } from "../../sqlite/wal-reader.ts";
import { writeAll } from "../staged-database.ts";

/** Replays one WAL index onto the database open at a descriptor. */
export class WalReplayer {
  readonly #fd: number;
  readonly #header: WalHeader;
  readonly #frameSize: number;
  #sum: readonly [number, number];
  #pending = new Map<number, Uint8Array>();
  /** Bytes received but not yet consumed (a frame split across segments). */
  #rest: Uint8Array = new Uint8Array(0);
  #ended = false;
  #size: number;
  #transactions = 0;
  #changed = new Set<number>();

  /**
   * Starts replaying the WAL whose first segment (offset 0, with the WAL
   * header) is `first`, onto `fd` whose database is `size` bytes.
   * @param name the segment's name, for errors
   * @param pageSize the database page size, or 0 when unknown (empty database)
   * @throws {CorruptFileError} when the WAL header is invalid or its page size differs
   */
  constructor(fd: number, first: Uint8Array, options: { size: number; pageSize: number; name: string }) {
    const header = decodeWalHeader(first);
    if (!header) throw new CorruptFileError(`Cannot replay '${options.name}': invalid WAL header`, { path: options.name, offset: 0 });
    if (options.pageSize !== 0 && header.pageSize !== options.pageSize) {
      throw new CorruptFileError(
        `Cannot replay '${options.name}': WAL page size ${header.pageSize} differs from the database's ${options.pageSize}`,
        { path: options.name },
      );
    }
    this.#fd = fd;
    this.#header = header;
    this.#frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
    this.#sum = header.checksum;
    this.#size = options.size;
    this.push(first.subarray(WAL_HEADER_SIZE));
  }

  /** The WAL's page size. */
  get pageSize(): number {
    return this.#header.pageSize;
  }

  /** The database size in bytes after the last applied commit. */
  get size(): number {
    return this.#size;
  }

  /** Commits applied so far. */
  get transactions(): number {
    return this.#transactions;
  }

  /**
   * Returns the pages written by commits since the last call (ascending;
   * may include pages now beyond the end of the database) and forgets them.
   */
  takeChanged(): number[] {
    const pages = [...this.#changed].sort((a, b) => a - b);
    this.#changed = new Set();
    return pages;
  }

  /** Feeds the next segment's bytes; applies every commit they complete. */
  push(bytes: Uint8Array): void {
    if (this.#ended) return;
    const data = this.#rest.length === 0 ? bytes : concat([this.#rest, bytes]);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const { salt1, salt2, bigEndian, pageSize } = this.#header;
    let off = 0;
    for (; off + this.#frameSize <= data.length; off += this.#frameSize) {
      if (view.getUint32(off + 8) !== salt1 || view.getUint32(off + 12) !== salt2) {
        this.#end();
        return;
      }
      let s = walChecksum(bigEndian, data.subarray(off, off + 8), this.#sum);
      s = walChecksum(bigEndian, data.subarray(off + WAL_FRAME_HEADER_SIZE, off + this.#frameSize), s);
      if (s[0] !== view.getUint32(off + 16) || s[1] !== view.getUint32(off + 20)) {
        this.#end();
        return;
      }
      this.#sum = s;
      // Copied: `data` may be a buffer that the caller reuses.
      this.#pending.set(view.getUint32(off), data.slice(off + WAL_FRAME_HEADER_SIZE, off + this.#frameSize));
      const commit = view.getUint32(off + 4);
      if (commit !== 0) {
        for (const [pgno, page] of this.#pending) {
          writeAll(this.#fd, page, (pgno - 1) * pageSize);
          this.#changed.add(pgno);
        }
        this.#pending = new Map();
        this.#size = commit * pageSize;
        ftruncateSync(this.#fd, this.#size);
        this.#transactions++;
      }
    }
    this.#rest = data.slice(off);
  }

  /** Stops at the first invalid frame: everything after it is ignored. */
  #end(): void {
    this.#ended = true;
    this.#pending = new Map();
    this.#rest = new Uint8Array(0);
  }
}

/** Concatenates byte arrays. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
