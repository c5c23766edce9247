/**
 * Writing a restored database safely, shared by the LTX and the Litestream
 * v0.3 appliers: refuse an existing output, build `<output>.tmp`, fsync,
 * run `PRAGMA integrity_check`, rename over `<output>`, fsync the
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
import { CorruptFileError } from "../errors.ts";
import { fsyncDir } from "../platform/atomic-write.ts";
import { localFileError } from "../platform/file-errors.ts";
import { openSqlConnection } from "../platform/sqlite.ts";

/**
 * Runs `write` on the descriptor of `<output>.tmp`, then commits the file as
 * described in the module documentation. Returns what `write` returned.
 * @throws {Error} when `output` exists
 * @throws {LocalFileError} when `output` cannot be written (its directory is missing, read-only, not ours …)
 * @throws {CorruptFileError} when the result fails `integrity_check`
 */
export async function writeStagedDatabase<T>(output: string, write: (fd: number) => Promise<T>): Promise<T> {
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
    checkIntegrity(tmp);
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
 * Runs `PRAGMA integrity_check` on `path` and removes the `-wal`/`-shm` it
 * leaves.
 * @throws {CorruptFileError} unless the result is "ok"
 */
export function checkIntegrity(path: string): void {
  const db = openSqlConnection(path, { busyTimeoutMs: 1000 });
  try {
    const rows = db.all<{ integrity_check: string }>("PRAGMA integrity_check");
    const result = rows.map((r) => r.integrity_check);
    if (result.length !== 1 || result[0] !== "ok") {
      throw new CorruptFileError(
        `Cannot restore: integrity_check failed on the restored database: ${result.slice(0, 5).join("; ")}`,
        { path },
      );
    }
  } finally {
    db.close();
  }
  for (const suffix of ["-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
}
