/**
 * `pages.crc` in the state directory: the LTX page checksum of every page of
 * the last captured state, so that a resync after a lost or unprovable WAL
 * position can send only the pages that differ from it.
 *
 * ```
 * 0   4  magic "LFPC"
 * 4   4  version (1)
 * 8   4  page size
 * 12  4  commit: database size in pages of the recorded state
 * 16  8  TXID of the recorded state
 * 24  8  LTX database checksum of the recorded state
 * 32  8 × commit  page checksums of pages 1..commit, big-endian (0 for the lock page)
 * ```
 *
 * The file is updated in place after each capture and never fsynced: the
 * entries first, the header last. It is trusted only when its header names
 * exactly the state the next file applies on (TXID, checksum, page size) and
 * the XOR of its entries equals that checksum, so an update cut short by a
 * crash, a power loss that kept only some blocks, or any other damage makes
 * it untrusted (and the resync a full file), never wrong.
 *
 * @module
 */

import { closeSync, fstatSync, ftruncateSync, openSync, rmSync } from "node:fs";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import type { Txid } from "../ltx/txid.ts";
import { readAt, writeAt } from "../platform/positional-io.ts";

/** File name inside the state directory. */
export const PAGE_CHECKSUM_FILE = "pages.crc";

const MAGIC = 0x4c46_5043; // "LFPC"
const VERSION = 1;
const HEADER_SIZE = 32;
const ENTRY_SIZE = 8;
/** Entries read or written per system call (64 KiB). */
const CHUNK_ENTRIES = 8192;

/** The captured state a checksum file describes. */
export interface RecordedState {
  readonly txid: Txid;
  /** LTX database checksum (never 0: a state without one is not recorded). */
  readonly checksum: bigint;
  readonly pageSize: number;
  /** Database size in pages. */
  readonly commit: number;
}

/** See the module documentation. */
export class PageChecksumFile {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * Loads the page checksums if the file describes `expected` (its TXID,
   * checksum and page size, and its commit when given). Returns the
   * checksums and the recorded commit, or a reason why the file is not
   * trusted. Memory: the returned 8 bytes per page plus one 64 KiB chunk.
   */
  load(
    expected: Omit<RecordedState, "commit"> & { readonly commit?: number },
  ): { readonly checksums: PageChecksums; readonly commit: number } | { readonly untrusted: string } {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { untrusted: "no page checksum file" };
      throw err;
    }
    try {
      const head = readAt(fd, 0, HEADER_SIZE);
      if (head.length < HEADER_SIZE) return { untrusted: "page checksum file is truncated" };
      const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
      if (view.getUint32(0) !== MAGIC || view.getUint32(4) !== VERSION) {
        return { untrusted: "page checksum file has an unknown format" };
      }
      const pageSize = view.getUint32(8);
      const commit = view.getUint32(12);
      const recordedTxid = view.getBigUint64(16);
      const checksum = view.getBigUint64(24);
      if (pageSize !== expected.pageSize) return { untrusted: "page checksum file has another page size" };
      if (recordedTxid !== expected.txid || checksum !== expected.checksum) {
        return { untrusted: "page checksum file records another state" };
      }
      if (expected.commit !== undefined && commit !== expected.commit) {
        return { untrusted: "page checksum file records another database size" };
      }
      const sums = new PageChecksums(pageSize);
      for (let first = 1; first <= commit; first += CHUNK_ENTRIES) {
        const n = Math.min(CHUNK_ENTRIES, commit - first + 1);
        const chunk = readAt(fd, HEADER_SIZE + (first - 1) * ENTRY_SIZE, n * ENTRY_SIZE);
        if (chunk.length !== n * ENTRY_SIZE) return { untrusted: "page checksum file is truncated" };
        try {
          sums.importEntries(first, chunk);
        } catch {
          return { untrusted: "page checksum file has an invalid entry" };
        }
      }
      if (commit === 0 || sums.databaseChecksum() !== expected.checksum) {
        return { untrusted: "page checksums do not add up to the recorded database checksum" };
      }
      return { checksums: sums, commit };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Records `state`: writes the entries of `changed` (ascending; every page
   * 1..commit when omitted), truncates the file to `state.commit` pages,
   * then writes the header. `sums` must hold the checksums of `state`, and
   * with `changed` the file must record the state `changed` is relative to.
   */
  write(sums: PageChecksums, state: RecordedState, changed?: readonly number[]): void {
    // Never opened with truncation: a crash during a rewrite of the same
    // state (every start) then leaves a file that is still valid.
    const fd = openForUpdate(this.path);
    try {
      const lock = lockPageNumber(state.pageSize);
      const chunk = new Uint8Array(CHUNK_ENTRIES * ENTRY_SIZE);
      const put = (first: number, n: number): void => {
        const part = chunk.subarray(0, n * ENTRY_SIZE);
        sums.exportEntries(first, part);
        writeAt(fd, HEADER_SIZE + (first - 1) * ENTRY_SIZE, part);
      };
      if (changed === undefined) {
        for (let first = 1; first <= state.commit; first += CHUNK_ENTRIES)
          put(first, Math.min(CHUNK_ENTRIES, state.commit - first + 1));
      } else {
        // One write per run of consecutive pages (`changed` ascends).
        let first = 0;
        let n = 0;
        for (const pgno of changed) {
          if (pgno > state.commit || pgno === lock) continue;
          if (n > 0 && pgno === first + n && n < CHUNK_ENTRIES) {
            n++;
            continue;
          }
          if (n > 0) put(first, n);
          first = pgno;
          n = 1;
        }
        if (n > 0) put(first, n);
      }
      // Only when the database shrank: truncating to the same size still
      // updates the inode on every capture (issue #13).
      const size = HEADER_SIZE + state.commit * ENTRY_SIZE;
      if (fstatSync(fd).size !== size) ftruncateSync(fd, size);
      const head = new Uint8Array(HEADER_SIZE);
      const view = new DataView(head.buffer);
      view.setUint32(0, MAGIC);
      view.setUint32(4, VERSION);
      view.setUint32(8, state.pageSize);
      view.setUint32(12, state.commit);
      view.setBigUint64(16, state.txid);
      view.setBigUint64(24, state.checksum);
      writeAt(fd, 0, head);
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the file (missing is fine): nothing is known about the last state. */
  remove(): void {
    rmSync(this.path, { force: true });
  }
}

function openForUpdate(path: string): number {
  try {
    return openSync(path, "r+");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return openSync(path, "w");
  }
}
