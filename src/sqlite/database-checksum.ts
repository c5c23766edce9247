/**
 * The LTX database checksum of a database as its files hold it now, read
 * without SQLite: the database file's pages, overlaid with the frames of
 * the WAL's committed transactions. It opens no connection, so it changes
 * nothing (the agent's capture connection writes to the database as it
 * opens); a writer working meanwhile can make the result describe no
 * committed state, so callers use it only where a mismatch is safe.
 *
 * @module
 */

import { closeSync, fstatSync, openSync } from "node:fs";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import { readAt } from "../platform/positional-io.ts";
import { decodeWalHeader, readWalSegment, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE } from "./wal-reader.ts";

/** The size of the SQLite database header (page 1 starts with it). */
const DB_HEADER_SIZE = 100;

/**
 * Returns the database checksum of `path` (its pages 1..n, n from the last
 * committed WAL transaction or the database header), or undefined when the
 * file is empty.
 * @throws the file system's errors (a missing database: ENOENT)
 */
export function fileDatabaseChecksum(path: string): bigint | undefined {
  const db = openSync(path, "r");
  let wal: number | undefined;
  try {
    const head = readAt(db, 0, DB_HEADER_SIZE);
    if (head.length < DB_HEADER_SIZE) return undefined;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const rawSize = view.getUint16(16);
    const pageSize = rawSize === 1 ? 65536 : rawSize;
    let commit = view.getUint32(28);
    if (commit === 0) commit = Math.floor(fstatSync(db).size / pageSize);
    let frames = new Map<number, number>();
    try {
      wal = openSync(`${path}-wal`, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (wal !== undefined) {
      const walFd = wal;
      const read = (o: number, n: number) => readAt(walFd, o, n);
      const hdr = decodeWalHeader(read(0, WAL_HEADER_SIZE));
      if (hdr && hdr.pageSize === pageSize) {
        const seg = readWalSegment(read, hdr, { offset: WAL_HEADER_SIZE, seed: hdr.checksum });
        if (seg.commit > 0) {
          frames = new Map(seg.pages);
          commit = seg.commit;
        }
      }
    }
    const sums = new PageChecksums(pageSize);
    const lock = lockPageNumber(pageSize);
    for (let pgno = 1; pgno <= commit; pgno++) {
      if (pgno === lock) continue;
      const off = frames.get(pgno);
      const data =
        off === undefined || wal === undefined
          ? readAt(db, (pgno - 1) * pageSize, pageSize)
          : readAt(wal, off + WAL_FRAME_HEADER_SIZE, pageSize);
      sums.set(pgno, data.length === pageSize ? data : padded(data, pageSize));
    }
    return sums.databaseChecksum();
  } finally {
    closeSync(db);
    if (wal !== undefined) closeSync(wal);
  }
}

/** A page the file ends inside of reads as zeros past its end, as SQLite reads it. */
function padded(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data);
  return out;
}
