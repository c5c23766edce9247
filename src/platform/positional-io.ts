/**
 * Reads and writes at a file offset through a descriptor, looping over
 * short reads and writes.
 *
 * @module
 */

import { readSync, writeSync } from "node:fs";

/** Reads `length` bytes at `offset`; fewer (a shorter view) only at end of file. */
export function readAt(fd: number, offset: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Reads into all of `out` from `offset`; returns the bytes read, fewer only at end of file. */
export function readInto(fd: number, offset: number, out: Uint8Array): number {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `bytes` at `offset`. */
export function writeAt(fd: number, offset: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
}
