/**
 * Writing a restored database safely, shared by the LTX and the Litestream
 * v0.3 appliers: refuse an existing output, build `<output>.tmp`, fsync,
 * run `PRAGMA integrity_check` (or `quick_check`, or nothing: see
 * {@linkcode IntegrityCheck}), rename over `<output>`, fsync the
 * directory. A failure at any point removes the temp file and leaves
 * `<output>` untouched.
 *
 * @module
 */

import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { CorruptFileError, errorMessage } from "../errors.ts";
import { fsyncDir } from "../platform/atomic-write.ts";
import { localFileError } from "../platform/file-errors.ts";
import { openSqlConnection } from "../platform/sqlite.ts";

/**
 * How a restored database is checked before it replaces the output:
 * `full` runs `PRAGMA integrity_check` (litefleet's default), `quick` runs
 * `PRAGMA quick_check` (no index-content comparison: much faster on large
 * databases), `none` skips the check (the LTX checksums still verified
 * every page).
 */
export type IntegrityCheck = "none" | "quick" | "full";

/** The values of {@linkcode IntegrityCheck}, for option parsing. */
export const INTEGRITY_CHECKS: readonly IntegrityCheck[] = ["none", "quick", "full"];

/**
 * Runs `write` on the descriptor of `<output>.tmp`, then commits the file as
 * described in the module documentation. Returns what `write` returned.
 * `integrity` picks the check (default `full`).
 * @throws {Error} when `output` exists
 * @throws {LocalFileError} when `output` cannot be written (its directory is missing, read-only, not ours …)
 * @throws {CorruptFileError} when the result fails the integrity check
 */
export async function writeStagedDatabase<T>(
  output: string,
  write: (fd: number) => Promise<T>,
  options: { integrity?: IntegrityCheck } = {},
): Promise<T> {
  if (existsSync(output)) {
    throw new Error(`Cannot restore to '${output}': the file exists (choose another output path or remove it)`);
  }
  const tmp = `${output}.tmp`;
  const fd = outputStep(output, () => {
    rmSync(tmp, { force: true });
    return openSync(tmp, "w+", 0o644);
  });
  let open = true;
  let ok = false;
  try {
    const result = await write(fd);
    outputStep(output, () => fsyncSync(fd));
    closeSync(fd);
    open = false;
    checkIntegrity(tmp, options.integrity ?? "full");
    outputStep(output, () => renameSync(tmp, output));
    await fsyncDir(dirname(output));
    ok = true;
    return result;
  } finally {
    if (!ok) {
      if (open) closeSync(fd);
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${tmp}${suffix}`, { force: true });
    }
  }
}

/**
 * Checks, before anything is downloaded, that a restore can write
 * `output`: its directory exists and this process may create files there.
 * @throws {LocalFileError} naming the directory and what to do
 */
export function checkOutputDirectory(output: string): void {
  outputStep(output, () => {
    const dir = dirname(output);
    accessSync(dir, constants.W_OK);
    if (!statSync(dir).isDirectory())
      throw Object.assign(new Error(`'${dir}' is not a directory`), { code: "ENOTDIR" });
  });
}

/** Runs a file system step of writing `output`; a failure is explained as a `LocalFileError` naming the path. */
function outputStep<T>(output: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw localFileError(err, { action: `restore to '${output}'`, path: output }) ?? err;
  }
}

/** Writes all of `data` at `position`. */
export function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/**
 * Runs `PRAGMA integrity_check` (`full`, the default) or `PRAGMA
 * quick_check` (`quick`) on `path` and removes the `-wal`/`-shm` it
 * leaves; `none` does nothing.
 * @throws {CorruptFileError} unless the result is "ok"
 */
export function checkIntegrity(path: string, mode: IntegrityCheck = "full"): void {
  if (mode === "none") return;
  const pragma = mode === "quick" ? "quick_check" : "integrity_check";
  let result: string[];
  try {
    const db = openSqlConnection(path, { busyTimeoutMs: 1000 });
    try {
      result = db.all<Record<string, string>>(`PRAGMA ${pragma}`).map((r) => String(Object.values(r)[0]));
    } finally {
      db.close();
    }
  } catch (err) {
    // SQLite may refuse the file outright (a damaged schema or root page).
    if (!/malformed|not a database|SQLITE_CORRUPT|SQLITE_NOTADB/i.test(errorMessage(err))) throw err;
    result = [errorMessage(err)];
  }
  if (result.length !== 1 || result[0] !== "ok") {
    throw new CorruptFileError(
      `Cannot restore: ${pragma} failed on the restored database: ${result.slice(0, 5).join("; ")}`,
      { path },
    );
  }
  for (const suffix of ["-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
}
