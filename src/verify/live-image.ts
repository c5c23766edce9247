/**
 * Reads the live database the way SQLite sees it, WAL included, in one
 * consistent read transaction, and computes its LTX database checksum.
 *
 * Uses `SqlConnection.serialize()` (sqlite3_serialize), which reads every
 * page through the pager inside a single read transaction: concurrent
 * writers and checkpoints cannot tear the image.
 *
 * The image is held in memory (the database's size), which suits the
 * few-hundred-MB databases of edge devices.
 *
 * @module
 */

import { CorruptFileError } from "../errors.ts";
import { isValidPageSize } from "../ltx/header.ts";
import { PageChecksums } from "../ltx/checksum.ts";
import { openFileReader } from "../platform/random-access.ts";
import { openSqlConnection } from "../platform/sqlite.ts";

/** A consistent image of a database and its LTX checksum. */
export interface LiveImage {
  readonly path: string;
  readonly image: Uint8Array;
  readonly pageSize: number;
  readonly pages: number;
  /** LTX database checksum (2^63 | XOR of page checksums), 0n when empty. */
  readonly checksum: bigint;
}

/**
 * Reads `path` read-only in one read transaction.
 *
 * @throws {CorruptFileError} when the image has no valid SQLite page size
 * @throws {Error} from SQLite when the file cannot be opened
 */
export function readLiveImage(path: string): LiveImage {
  const db = openSqlConnection(path, { readonly: true, busyTimeoutMs: 5000 });
  let image: Uint8Array;
  try {
    image = db.serialize();
  } finally {
    db.close();
  }
  if (image.length === 0) return { path, image, pageSize: 0, pages: 0, checksum: 0n };
  const pageSize = sqlitePageSize(image, path);
  return { path, image, pageSize, pages: image.length / pageSize, checksum: imageChecksum(image, pageSize) };
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
 * Compares an image with the database file at `path` page by page, reading
 * the file one page at a time (never whole).
 * @returns the first page number that differs (or exists in only one), or undefined when equal
 */
export function firstDifferingPageInFile(image: Uint8Array, path: string, pageSize: number): number | undefined {
  const file = openFileReader(path);
  try {
    const pages = Math.ceil(Math.max(image.length, file.size) / pageSize);
    for (let p = 1; p <= pages; p++) {
      const start = (p - 1) * pageSize;
      const x = image.subarray(start, start + pageSize);
      const y = file.read(Math.min(start, file.size), Math.max(0, Math.min(pageSize, file.size - start)));
      if (x.length !== y.length || !Buffer.from(x.buffer, x.byteOffset, x.length).equals(y)) return p;
    }
    return undefined;
  } finally {
    file.close();
  }
}

function sqlitePageSize(image: Uint8Array, path: string): number {
  const raw = ((image[16] ?? 0) << 8) | (image[17] ?? 0);
  const size = raw === 1 ? 65536 : raw;
  if (!isValidPageSize(size) || image.length % size !== 0) {
    throw new CorruptFileError(`Cannot read database '${path}': header page size ${raw} does not fit its ${image.length} bytes`, { path });
  }
  return size;
}
