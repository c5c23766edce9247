/**
 * What the LTX corruption tests share: the golden files, reading a
 * (possibly damaged) file with the in-memory decoder, and checking that a
 * failure is one of the decoder's own errors naming the file.
 *
 * @module
 */

import { expect } from "bun:test";
import { ChecksumMismatchError, CorruptFileError } from "../../src/errors.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";

/** The golden LTX files of the reference implementation (`../shared/fixtures/ltx/`, listed in its README). */
export const GOLDEN_LTX_DIR = new URL("../../../shared/fixtures/ltx/", import.meta.url);

/** The golden files every decoder is checked against, whole and damaged. */
export const GOLDEN_LTX_NAMES = [
  "snapshot.ltx",
  "snapshot-nochecksum.ltx",
  "incremental.ltx",
  "shrink.ltx",
  "compacted-1-3.ltx",
  "snapshot-1k.ltx",
] as const;

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
