/**
 * Reads the live database the way SQLite sees it, WAL included, one page at
 * a time, and computes its LTX page and database checksums. Memory is a
 * page plus 8 bytes per page (the checksums) and the WAL's page index,
 * whatever the database size.
 *
 * How the read stays consistent without copying the database: a read
 * transaction is held on a connection of our own while the pages are read
 * straight from the files, with our own index of the WAL (the latest
 * committed frame of each page, up to the wal-index's `mxFrame`, frames
 * validated by salts and cumulative checksums as SQLite does). The open
 * reader keeps checkpoints from writing database pages it might still read
 * and, when it uses the WAL, keeps the WAL from restarting. A WAL that
 * restarts anyway (possible when the reader needs no WAL frame) shows up as
 * changed salts in the header or in a frame read, and the read is retried.
 *
 * @module
 */

import { closeSync, existsSync, fstatSync, openSync } from "node:fs";
import { CorruptFileError } from "../errors.ts";
import { isValidPageSize } from "../ltx/header.ts";
import { lockPageNumber, pageChecksum, PageChecksums } from "../ltx/checksum.ts";
import { openFileReader } from "../platform/random-access.ts";
import { readAt } from "../platform/positional-io.ts";
import { openSqlConnection } from "../platform/sqlite.ts";
import { committedWalEnd } from "../sqlite/capture-connection.ts";
import {
  decodeWalHeader,
  readWalSegment,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalHeader,
} from "../sqlite/wal-reader.ts";

/** Reads tried before giving up when the WAL restarts under every one of them. */
const READ_ATTEMPTS = 5;

/** A consistent state of a database: its size and its LTX checksums. */
export interface LiveImage {
  readonly path: string;
  readonly pageSize: number;
  readonly pages: number;
  /** LTX database checksum (2^63 | XOR of page checksums), 0n when empty. */
  readonly checksum: bigint;
  /** Each page's LTX checksum, for a page-by-page comparison with a restored copy. */
  readonly pageChecksums: PageChecksums;
}

/** Thrown inside one read attempt when the WAL restarted under it. */
class WalMovedError extends Error {}

/**
 * Reads `path` read-only, page by page, in one read transaction (see the
 * module documentation). `onPage` sees each page (a view valid during the
 * call), in page order.
 *
 * @throws {CorruptFileError} when the database has no valid SQLite page size
 * @throws {Error} from SQLite when the file cannot be opened, or when the WAL restarts under every attempt
 */
export function readLiveImage(
  path: string,
  options: { onPage?: (pgno: number, page: Uint8Array) => void } = {},
): LiveImage {
  for (let attempt = 1; ; attempt++) {
    try {
      return readOnce(path, options.onPage);
    } catch (err) {
      if (!(err instanceof WalMovedError) || attempt >= READ_ATTEMPTS) throw err;
    }
  }
}

function readOnce(path: string, onPage: ((pgno: number, page: Uint8Array) => void) | undefined): LiveImage {
  const db = openSqlConnection(path, { readonly: true, busyTimeoutMs: 5000 });
  const fds: number[] = [];
  const open = (file: string): number | undefined => {
    if (!existsSync(file)) return undefined;
    try {
      const fd = openSync(file, "r");
      fds.push(fd);
      return fd;
    } catch {
      return undefined;
    }
  };
  try {
    // The read transaction starts at the first read and lasts until ROLLBACK.
    db.exec("BEGIN");
    db.get("SELECT COUNT(*) FROM sqlite_schema");
    const dbFd = open(path);
    if (dbFd === undefined) throw new Error(`Cannot read database '${path}': it disappeared`);
    const dbSize = fstatSync(dbFd).size;
    const walFd = open(`${path}-wal`);
    const shmFd = open(`${path}-shm`);
    const walHeader = walFd === undefined ? undefined : decodeWalHeader(readAt(walFd, 0, WAL_HEADER_SIZE));
    const pageSize = walHeader?.pageSize ?? headerPageSize(readAt(dbFd, 0, 100), dbSize, path);
    if (pageSize === 0) return empty(path);
    const frames = walFd !== undefined && walHeader !== undefined ? walIndex(walFd, shmFd, walHeader) : undefined;
    const pages = frames !== undefined && frames.commit > 0 ? frames.commit : Math.floor(dbSize / pageSize);
    const sums = new PageChecksums(pageSize);
    const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
    for (let pgno = 1; pgno <= pages; pgno++) {
      const frameOffset = frames?.pages.get(pgno);
      let page: Uint8Array;
      if (frameOffset !== undefined && walFd !== undefined && walHeader !== undefined) {
        const frame = readAt(walFd, frameOffset, frameSize);
        if (
          frame.length !== frameSize ||
          uint32(frame, 0) !== pgno ||
          uint32(frame, 8) !== walHeader.salt1 ||
          uint32(frame, 12) !== walHeader.salt2
        ) {
          throw new WalMovedError(`WAL of '${path}' changed at offset ${frameOffset}`);
        }
        page = frame.subarray(WAL_FRAME_HEADER_SIZE);
      } else {
        page = readAt(dbFd, (pgno - 1) * pageSize, pageSize);
        if (page.length < pageSize) {
          const full = new Uint8Array(pageSize);
          full.set(page);
          page = full;
        }
      }
      sums.set(pgno, page);
      onPage?.(pgno, page);
    }
    if (walFd !== undefined && walHeader !== undefined) {
      const now = decodeWalHeader(readAt(walFd, 0, WAL_HEADER_SIZE));
      if (now?.salt1 !== walHeader.salt1 || now.salt2 !== walHeader.salt2)
        throw new WalMovedError(`WAL of '${path}' restarted`);
    }
    return { path, pageSize, pages, checksum: sums.databaseChecksum(), pageChecksums: sums };
  } finally {
    for (const fd of fds) closeSync(fd);
    try {
      db.exec("ROLLBACK");
    } catch {
      // No transaction left to end (the open failed part way).
    }
    db.close();
  }
}

/** The committed frames of the WAL (latest per page), no further than what the wal-index publishes. */
function walIndex(
  walFd: number,
  shmFd: number | undefined,
  header: WalHeader,
): { pages: ReadonlyMap<number, number>; commit: number } {
  const until = shmFd === undefined ? undefined : committedWalEnd(shmFd, header);
  const segment = readWalSegment((offset, length) => readAt(walFd, offset, length), header, {
    offset: WAL_HEADER_SIZE,
    seed: header.checksum,
    ...(until === undefined ? {} : { until }),
  });
  return { pages: segment.pages, commit: segment.commit };
}

function empty(path: string): LiveImage {
  return { path, pageSize: 0, pages: 0, checksum: 0n, pageChecksums: new PageChecksums(4096) };
}

function uint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** The page size in a database header; 0 for an empty file. */
function headerPageSize(header: Uint8Array, fileSize: number, path: string): number {
  if (fileSize === 0) return 0;
  const raw = ((header[16] ?? 0) << 8) | (header[17] ?? 0);
  const size = raw === 1 ? 65536 : raw;
  if (!isValidPageSize(size) || fileSize % size !== 0) {
    throw new CorruptFileError(
      `Cannot read database '${path}': header page size ${raw} does not fit its ${fileSize} bytes`,
      { path },
    );
  }
  return size;
}

/** The LTX database checksum of a whole database image. */
export function imageChecksum(image: Uint8Array, pageSize: number): bigint {
  const sums = new PageChecksums(pageSize);
  const pages = image.length / pageSize;
  for (let p = 1; p <= pages; p++) sums.set(p, image.subarray((p - 1) * pageSize, p * pageSize));
  return sums.databaseChecksum();
}

/**
 * Compares two images page by page.
 * @returns the first page number that differs (or exists in only one), or undefined when equal
 */
export function firstDifferingPage(a: Uint8Array, b: Uint8Array, pageSize: number): number | undefined {
  const pages = Math.max(a.length, b.length) / pageSize;
  for (let p = 1; p <= Math.ceil(pages); p++) {
    const start = (p - 1) * pageSize;
    const x = a.subarray(start, start + pageSize);
    const y = b.subarray(start, start + pageSize);
    if (x.length !== y.length || !Buffer.from(x.buffer, x.byteOffset, x.length).equals(y)) return p;
  }
  return undefined;
}

/**
 * Compares the live state with the database file at `path` page by page,
 * by page checksum (the CRC-64 of page number and bytes, taken during the
 * live read), reading the file one page at a time.
 * @returns the first page number that differs (or exists in only one), or undefined when equal
 */
export function firstDifferingPageInFile(live: LiveImage, path: string, pageSize: number): number | undefined {
  const file = openFileReader(path);
  try {
    const filePages = Math.floor(file.size / pageSize);
    const lock = lockPageNumber(pageSize);
    for (let p = 1; p <= Math.min(live.pages, filePages); p++) {
      if (p === lock) continue; // never stored, no checksum
      if (pageChecksum(p, file.read((p - 1) * pageSize, pageSize)) !== live.pageChecksums.get(p)) return p;
    }
    return live.pages === filePages && file.size % pageSize === 0 ? undefined : Math.min(live.pages, filePages) + 1;
  } finally {
    file.close();
  }
}
