/**
 * Replays one Litestream v0.3 WAL index (its decompressed segments, fed in
 * offset order, in chunks of any size) onto a database file, without
 * SQLite (reference §4.3 step 5): frames are accepted while their salts
 * and cumulative checksums match; pages are buffered and written at each
 * commit frame, and the file is truncated to `commit × pageSize`. Frames
 * after the last valid commit are ignored, as SQLite's checkpoint ignores
 * them.
 *
 * Memory: one frame split across chunks, plus the pages of the transaction
 * being read (written out at its commit frame).
 *
 * Segments are fed one at a time so a caller can observe the database
 * after each one (the migration makes one restore point per segment).
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { CorruptFileError } from "../errors.ts";
import {
  decodeWalHeader,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  walChecksum,
  type WalHeader,
} from "../sqlite/wal-reader.ts";
import { writeAll } from "../sqlite/staged-database.ts";

/** Replays one WAL index onto the database open at a descriptor. */
export class WalReplayer {
  readonly #fd: number;
  readonly #name: string;
  readonly #dbPageSize: number;
  #header: WalHeader | undefined;
  /** The WAL header while it arrives in pieces. */
  #headerBytes = new Uint8Array(WAL_HEADER_SIZE);
  #headerLength = 0;
  #frameSize = 0;
  #sum: readonly [number, number] = [0, 0];
  #pending = new Map<number, Uint8Array>();
  /** A frame split across chunks, gathered until whole. */
  #partial = new Uint8Array(0);
  #partialLength = 0;
  #ended = false;
  #size: number;
  #transactions = 0;
  #changed = new Set<number>();

  /**
   * Starts replaying a WAL onto `fd` whose database is `size` bytes; the
   * first bytes pushed must be the first segment's (offset 0, with the WAL
   * header).
   * @param options.name the first segment's name, for errors
   * @param options.pageSize the database page size, or 0 when unknown (empty database)
   */
  constructor(fd: number, options: { size: number; pageSize: number; name: string }) {
    this.#fd = fd;
    this.#size = options.size;
    this.#dbPageSize = options.pageSize;
    this.#name = options.name;
  }

  /** The WAL's page size (the database's until the header is read). */
  get pageSize(): number {
    return this.#header?.pageSize ?? this.#dbPageSize;
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

  /**
   * Feeds the next bytes; applies every commit they complete. The bytes
   * are not kept (pages are copied), so the caller may reuse them.
   * @throws {CorruptFileError} when the WAL header is invalid or its page size differs from the database's
   */
  push(bytes: Uint8Array): void {
    if (this.#ended) return;
    let off = 0;
    if (!this.#header) {
      off = Math.min(WAL_HEADER_SIZE - this.#headerLength, bytes.length);
      this.#headerBytes.set(bytes.subarray(0, off), this.#headerLength);
      this.#headerLength += off;
      if (this.#headerLength < WAL_HEADER_SIZE) return;
      this.#start(this.#headerBytes);
    }
    const frameSize = this.#frameSize;
    if (this.#partialLength > 0) {
      const n = Math.min(frameSize - this.#partialLength, bytes.length - off);
      this.#partial.set(bytes.subarray(off, off + n), this.#partialLength);
      this.#partialLength += n;
      off += n;
      if (this.#partialLength < frameSize) return;
      this.#partialLength = 0;
      this.#frame(this.#partial);
    }
    for (; off + frameSize <= bytes.length && !this.#ended; off += frameSize)
      this.#frame(bytes.subarray(off, off + frameSize));
    if (this.#ended || off >= bytes.length) return;
    this.#partial.set(bytes.subarray(off), 0);
    this.#partialLength = bytes.length - off;
  }

  /**
   * Declares the end of a segment: the first must have held the whole WAL
   * header.
   * @throws {CorruptFileError} when no WAL header has been read
   */
  endSegment(): void {
    if (!this.#header) this.#start(this.#headerBytes.subarray(0, this.#headerLength));
  }

  #start(bytes: Uint8Array): void {
    const header = decodeWalHeader(bytes);
    if (!header)
      throw new CorruptFileError(`Cannot replay '${this.#name}': invalid WAL header`, { path: this.#name, offset: 0 });
    if (this.#dbPageSize !== 0 && header.pageSize !== this.#dbPageSize) {
      throw new CorruptFileError(
        `Cannot replay '${this.#name}': WAL page size ${header.pageSize} differs from the database's ${this.#dbPageSize}`,
        { path: this.#name },
      );
    }
    this.#header = header;
    this.#frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
    this.#partial = new Uint8Array(this.#frameSize);
    this.#sum = header.checksum;
  }

  /** Checks and takes one whole frame. */
  #frame(frame: Uint8Array): void {
    const { salt1, salt2, bigEndian, pageSize } = this.#header!;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (view.getUint32(8) !== salt1 || view.getUint32(12) !== salt2) {
      this.#end();
      return;
    }
    let s = walChecksum(bigEndian, frame.subarray(0, 8), this.#sum);
    s = walChecksum(bigEndian, frame.subarray(WAL_FRAME_HEADER_SIZE), s);
    if (s[0] !== view.getUint32(16) || s[1] !== view.getUint32(20)) {
      this.#end();
      return;
    }
    this.#sum = s;
    // Copied: `frame` may be a buffer that the caller or this replayer reuses.
    this.#pending.set(view.getUint32(0), frame.slice(WAL_FRAME_HEADER_SIZE));
    const commit = view.getUint32(4);
    if (commit === 0) return;
    for (const [pgno, page] of this.#pending) {
      writeAll(this.#fd, page, (pgno - 1) * pageSize);
      this.#changed.add(pgno);
    }
    this.#pending = new Map();
    this.#size = commit * pageSize;
    ftruncateSync(this.#fd, this.#size);
    this.#transactions++;
  }

  /** Stops at the first invalid frame: everything after it is ignored. */
  #end(): void {
    this.#ended = true;
    this.#pending = new Map();
    this.#partialLength = 0;
  }
}
