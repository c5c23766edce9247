/**
 * Temporary directories for tests, removed on `await using` disposal.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary directory that is deleted, with its contents, on disposal. */
export interface TempDir extends AsyncDisposable {
  /** Absolute path of the directory. */
  readonly path: string;
}

/**
 * Creates a fresh directory under the OS temp dir, named `<prefix>XXXXXX`.
 *
 * @example
 * ```ts
 * await using dir = await makeTempDir("litefleet-");
 * ```
 */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    async [Symbol.asyncDispose]() {
      await rm(path, { recursive: true, force: true });
    },
  };
}
