/**
 * The directory form of a `dbs:` entry: `dir`, `pattern`, `recursive`,
 * `watch` and `meta-dir` (instead of `path` and `meta-path`), and the checks
 * that keep entries from claiming the same database or state directory.
 * What an entry claims at run time is in `dir-entry.ts`.
 *
 * @module
 */

import { posix } from "node:path";
import { errorMessage } from "../errors.ts";
import { compileDbPattern } from "./db-pattern.ts";
import { claimedPath, isOwnStateName } from "./dir-entry.ts";
import { configError, fieldPath, type MapReader } from "./map-reader.ts";
import type { DbConfig, DirEntryConfig } from "./schema.ts";

/** Keys only a directory entry takes. */
export const DIR_ONLY_KEYS = ["dir", "pattern", "recursive", "watch", "meta-dir"] as const;

/**
 * Reads a `dbs:` entry that has `dir:`.
 *
 * @param ctx `settings` reads the entry's per-database settings (after the entry's own keys are checked)
 * @throws {ConfigError} when `path` or `meta-path` is also given, `pattern`
 * is missing or invalid, or `meta-dir` is inside a directory the entry searches
 */
export function readDirEntry(
  r: MapReader,
  ctx: { base: string; index: number; settings: () => DirEntryConfig["settings"] },
): DirEntryConfig {
  if (r.has("path")) {
    throw configError(
      r.field,
      `'${r.field}' has both 'path' and 'dir' (one database file, or a directory of them: use one)`,
    );
  }
  if (r.has("meta-path")) {
    const field = fieldPath(r.field, "meta-path");
    throw configError(
      field,
      `'${field}' names the state of one database; with 'dir' use 'meta-dir' (each found database's state goes under it by relative path)`,
    );
  }
  const dir = r.path("dir", ctx.base)!;
  const pattern = r.string("pattern");
  const patternField = fieldPath(r.field, "pattern");
  if (pattern === undefined) {
    throw configError(
      patternField,
      `missing key '${patternField}': 'dir' needs a pattern of database file names, e.g. '*.db'`,
    );
  }
  try {
    compileDbPattern(pattern);
  } catch (cause) {
    throw configError(patternField, `'${patternField}' is not a valid pattern: ${errorMessage(cause)}`, {
      value: pattern,
      cause,
    });
  }
  const recursive = r.boolean("recursive") ?? false;
  const metaDir = r.path("meta-dir", ctx.base);
  if (metaDir !== undefined && claimsDirectory({ dir, recursive }, metaDir)) {
    const field = fieldPath(r.field, "meta-dir");
    throw configError(
      field,
      `'${field}' must not be a directory '${r.field}' searches for databases ('${dir}'${recursive ? " and below" : ""}); use a hidden name such as '${posix.join(dir, ".litefleet-meta")}' or a directory elsewhere`,
      { value: metaDir },
    );
  }
  return {
    index: ctx.index,
    dir,
    pattern,
    recursive,
    watch: r.boolean("watch") ?? false,
    metaDir,
    settings: ctx.settings(),
  };
}

/**
 * Rejects a `path:` entry some directory entry also claims, two directory
 * entries with the same pattern searching the same directory, and two
 * directory entries sharing a `meta-dir`.
 *
 * @throws {ConfigError} naming both entries
 */
export function checkDirEntries(
  dbs: readonly DbConfig[],
  dbIndexes: readonly number[],
  dirs: readonly DirEntryConfig[],
): void {
  dbs.forEach((db, i) => {
    const entry = dirs.find((e) => claimedPath(e, db.path) !== undefined);
    if (entry === undefined) return;
    const field = `dbs[${dbIndexes[i]}].path`;
    throw configError(
      field,
      `'${field}' is the database '${db.path}', which 'dbs[${entry.index}]' (dir '${entry.dir}', pattern '${entry.pattern}') also replicates; remove one of them`,
      { value: db.path },
    );
  });
  dirs.forEach((b, j) => {
    for (const a of dirs.slice(0, j)) {
      const overlap =
        a.pattern === b.pattern && (a.dir === b.dir || claimsDirectory(a, b.dir) || claimsDirectory(b, a.dir));
      if (overlap) {
        const field = `dbs[${b.index}].dir`;
        throw configError(
          field,
          `'${field}' ('${b.dir}') and 'dbs[${a.index}].dir' ('${a.dir}') would both replicate the '${a.pattern}' databases they share; give them distinct patterns or directories`,
          { value: b.dir },
        );
      }
      if (a.metaDir !== undefined && a.metaDir === b.metaDir) {
        const field = `dbs[${b.index}].meta-dir`;
        throw configError(field, `'${field}' repeats the meta dir '${b.metaDir}' of 'dbs[${a.index}]'`, {
          value: b.metaDir,
        });
      }
    }
  });
}

/** Whether `entry` searches directory `path` (its own dir, or below it when recursive). */
function claimsDirectory(entry: Pick<DirEntryConfig, "dir" | "recursive">, path: string): boolean {
  const rel = posix.relative(entry.dir, path);
  if (rel === "") return true;
  if (rel.startsWith("..") || !entry.recursive) return false;
  return !rel.split("/").some(isOwnStateName);
}
