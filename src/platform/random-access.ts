/**
 * Synchronous random-access reads of a body of known size: bytes already in
 * memory, or a local file read at offsets through its descriptor, so a
 * decoder can read a file's ends and index up front and each frame when it
 * needs it without ever holding the whole file.
 *
 * @module
 */

import { closeSync, fstatSync, openSync } from "node:fs";
import { readAt } from "./positional-io.ts";

/** A body of known size read at offsets. */
export interface RandomAccessReader {
  /** Total bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset`. The result may be a view that
   * the caller must not modify.
   * @throws {RangeError} when the range is outside the body, or the file got shorter
   */
  read(offset: number, length: number): Uint8Array;
  /** Releases the descriptor, if any; calling it again does nothing. */
  close(): void;
}

function checkRange(size: number, offset: number, length: number, what: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new RangeError(`Cannot read ${length} bytes at ${offset} of ${what}: it has ${size} bytes`);
  }
}

/** A reader over bytes in memory (reads are views, no copies). */
export function bytesReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    read(offset, length) {
      checkRange(bytes.length, offset, length, "an in-memory body");
      return bytes.subarray(offset, offset + length);
    },
    close() {},
  };
}

/**
 * Opens `path` for reading at offsets; the size is the file's at opening.
 * The file must not change while it is read (local LTX files never do once
 * written).
 * @throws the file system's error when the file cannot be opened
 */
export function openFileReader(path: string): RandomAccessReader {
  const fd = openSync(path, "r");
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let closed = false;
  return {
    size,
    read(offset, length) {
      if (closed) throw new RangeError(`Cannot read '${path}': it is closed`);
      checkRange(size, offset, length, `'${path}'`);
      const bytes = readAt(fd, offset, length);
      if (bytes.length !== length) {
        throw new RangeError(`Cannot read '${path}': it ended at ${offset + bytes.length} of ${size} bytes`);
      }
      return bytes;
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}
