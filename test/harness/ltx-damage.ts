/**
 * What the LTX corruption tests share: read a (possibly damaged) file with
 * the in-memory decoder, and check that a failure is one of the decoder's
 * own errors naming the file.
 *
 * @module
 */

import { expect } from "bun:test";
import { ChecksumMismatchError, CorruptFileError } from "../../src/errors.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";

/** Runs `verifyLtxFile` and returns the pages, or the error it threw. */
export function attemptInMemory(bytes: Uint8Array, path: string): Uint8Array[] | Error {
  try {
    return [...verifyLtxFile(bytes, { path }).pages()].map((p) => p.data);
  } catch (err) {
    return err as Error;
  }
}

/** Expects `result` to be a `CorruptFileError` (with an offset) or a `ChecksumMismatchError` naming `path`. */
export function expectDomainError(result: Uint8Array[] | Error, path: string): void {
  expect(result).toBeInstanceOf(Error);
  const err = result as Error;
  if (!(err instanceof CorruptFileError) && !(err instanceof ChecksumMismatchError)) {
    throw new Error(`Expected CorruptFileError or ChecksumMismatchError, got ${err.name}: ${err.message}`);
  }
  expect(err.path).toBe(path);
  if (err instanceof CorruptFileError) expect(err.offset).toBeNumber();
}
