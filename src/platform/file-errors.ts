/**
 * Local file system failures explained: which path is at fault, why, and
 * what to do, as a `LocalFileError`, instead of Node's "ENOENT: no such
 * file or directory, open '/x/db.tmp'" or SQLite's "unable to open
 * database file" (issue #12).
 *
 * @module
 */

import { accessSync, constants, statSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage, LocalFileError } from "../errors.ts";

/** System error codes this module explains. */
const EXPLAINED = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT"]);

/** What a path is needed for: the hints name the access that is missing (`create`: files in a directory). */
export type Access = "read" | "write" | "create";

/** The permission a hint asks for, by access. */
const ALLOWED: Readonly<Record<Access, string>> = { read: "read", write: "read and write", create: "create files in" };

/**
 * Explains a Node system error (`code`, `syscall`, `path`) as a
 * `LocalFileError`: `Cannot <action>: <why>`. `action` defaults to the
 * system call on the error's path (`open '/x'`); `path` to the error's.
 * A `LocalFileError` is returned as it is; undefined for any other error.
 */
export function localFileError(
  err: unknown,
  options: { action?: string; path?: string; access?: Access } = {},
): LocalFileError | undefined {
  if (err instanceof LocalFileError) return err;
  const e = err as { code?: unknown; syscall?: unknown; path?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const raw = typeof e?.syscall === "string" && typeof e.path === "string";
  const path = options.path ?? (raw ? (e?.path as string) : undefined);
  if (code === undefined || path === undefined || !EXPLAINED.has(code)) return undefined;
  const action = options.action ?? `${verb(typeof e?.syscall === "string" ? e.syscall : "")} '${path}'`;
  const why = explainCode(code, path, options.access ?? "write");
  return new LocalFileError(`Cannot ${action}: ${why.state}`, { path: why.path, code, hint: why.hint, cause: err });
}

/**
 * Why SQLite could not open the database at `path` ("unable to open
 * database file", "disk I/O error"): the directory, the file and the
 * access it needs are checked in turn. A `LocalFileError` naming the path
 * at fault when one of them is the reason, else an `Error` naming `path`
 * with SQLite's message.
 */
export function databaseOpenError(path: string, err: unknown, options: { write: boolean; create: boolean }): Error {
  const action = `open database '${path}'`;
  const dir = dirname(path);
  const access: Access = options.write ? "write" : "read";
  const found = firstFailure([
    () => {
      if (!statSync(dir).isDirectory())
        throw Object.assign(new Error("not a directory"), { code: "ENOTDIR", path: dir });
    },
    () => {
      if (options.create) return;
      if (statSync(path).isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR", path });
    },
    () => options.create || accessSync(path, constants.R_OK | (options.write ? constants.W_OK : 0)),
  ]);
  if (found) return localFileError(found, { action, access, path }) ?? wrapped();
  // The file is usable; SQLite also creates files beside it (`-wal`, `-shm`, or the new database).
  const dirFailure = firstFailure([() => accessSync(dir, constants.W_OK)]);
  if (dirFailure) {
    const why = explainCode((dirFailure as { code: string }).code, dir, "create");
    return new LocalFileError(
      `Cannot ${action}: SQLite cannot create its '-wal' and '-shm' files (or the database) in '${dir}': ${why.state}`,
      {
        path: dir,
        code: (dirFailure as { code: string }).code,
        hint: why.hint,
        cause: err,
      },
    );
  }
  return wrapped();

  function wrapped(): Error {
    return new Error(`Cannot ${action}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The first of `checks` that throws a system error we explain, or
 * undefined. The checks only look for a reason: one that fails otherwise
 * (ELOOP …) is passed over, and the caller reports the original error.
 */
function firstFailure(checks: ReadonlyArray<() => unknown>): unknown {
  for (const check of checks) {
    try {
      check();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && EXPLAINED.has(code)) return err;
    }
  }
  return undefined;
}

/**
 * What `code` on `path` means and what to do. Access and space problems
 * name `path` when it exists, else its directory (where it was to be made).
 */
function explainCode(code: string, path: string, access: Access): { state: string; path: string; hint: string } {
  const target = deniedAt(path);
  switch (code) {
    case "ENOENT": {
      const missing = missingAncestor(path);
      if (missing === path) return { state: `'${path}' does not exist`, path, hint: "correct the path" };
      return {
        state: `the directory '${missing}' does not exist`,
        path: missing,
        hint: `create it (mkdir -p '${dirname(path)}'), or correct the path`,
      };
    }
    case "ENOTDIR": {
      const file = notDirectoryAncestor(path);
      return { state: `'${file}' is not a directory`, path: file, hint: "correct the path" };
    }
    case "EISDIR":
      return { state: `'${path}' is a directory, not a file`, path, hint: "give the path of the file itself" };
    case "EACCES":
    case "EPERM":
      return {
        state: `permission denied on '${target}' (${code})`,
        path: target,
        hint:
          target === path
            ? `check that the user running litefleet (uid ${uid()}) may ${ALLOWED[access]} '${path}'`
            : `check that the user running litefleet (uid ${uid()}) may ${target === dirname(path) && access !== "read" ? "create files in" : "enter"} '${target}'`,
      };
    case "EROFS":
      return {
        state: `the file system holding '${target}' is read-only (EROFS)`,
        path: target,
        hint: "remount it read-write, or choose a path on a writable file system",
      };
    default:
      return {
        state: `no space left on the file system holding '${target}' (${code})`,
        path: target,
        hint: `free space on the file system holding '${target}'`,
      };
  }
}

/**
 * Where access to `path` stops: the first directory above it this process
 * cannot enter, else `path` when it exists, else its directory (where it
 * was to be created).
 */
function deniedAt(path: string): string {
  const dirs: string[] = [];
  for (let at = dirname(path); at !== dirname(at); at = dirname(at)) dirs.unshift(at);
  for (const dir of dirs) {
    try {
      accessSync(dir, constants.X_OK);
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ENOENT") return dir;
      break;
    }
  }
  return exists(path) ? path : dirname(path);
}

/** The highest ancestor of `path` (or `path` itself) that does not exist. */
function missingAncestor(path: string): string {
  let missing = path;
  for (let at = dirname(path); at !== missing && !exists(at); at = dirname(at)) missing = at;
  return missing;
}

/** The nearest ancestor of `path` that exists but is not a directory (else `dirname(path)`). */
function notDirectoryAncestor(path: string): string {
  for (let at = dirname(path); at !== dirname(at); at = dirname(at)) {
    try {
      if (!statSync(at).isDirectory()) return at;
    } catch {
      // Missing or unreadable: keep walking up.
    }
  }
  return dirname(path);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code !== "ENOENT";
  }
}

function verb(syscall: string): string {
  switch (syscall) {
    case "mkdir":
      return "create directory";
    case "scandir":
    case "opendir":
      return "list directory";
    case "rm":
    case "unlink":
    case "rmdir":
      return "remove";
    case "rename":
      return "rename";
    case "stat":
    case "lstat":
    case "access":
      return "read";
    default:
      return "open";
  }
}

function uid(): string {
  return String(process.getuid?.() ?? "?");
}
