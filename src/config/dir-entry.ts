/**
 * Directory entries at run time: which paths a `dbs:` entry with `dir:`
 * claims, and the per-database config of one it found. Pure (no file
 * system): the agent's scanner (`agent/dir-watcher.ts`) decides what exists
 * and is a database; the CLI resolves a `DB_PATH` through the same rules.
 *
 * A path under `dir` (any depth with `recursive`, else a direct child) is
 * claimed when its file name matches `pattern` and neither it nor a
 * directory between `dir` and it is one of litefleet's or SQLite's own
 * names: starting with `.` (meta directories, staged and rollback copies),
 * containing `litefleet`, or ending in `-wal`, `-shm`, `-journal` or `.tmp`.
 *
 * @module
 */

import { posix } from "node:path";
import type { ReplicaSpec } from "../replica/spec.ts";
import { compileDbPattern } from "./db-pattern.ts";
import { type Config, type DbConfig, DEFAULTS, defaultMetaPath, type DirEntryConfig } from "./schema.ts";

const OWN_SUFFIXES = ["-wal", "-shm", "-journal", ".tmp"];

/**
 * Whether a file or directory name is SQLite's or litefleet's own (never a
 * database to replicate, never a directory to search).
 */
export function isOwnStateName(name: string): boolean {
  return name.startsWith(".") || name.includes("litefleet") || OWN_SUFFIXES.some((s) => name.endsWith(s));
}

/**
 * The path of `path` relative to `entry.dir` when the entry claims it (see
 * the module documentation), else `undefined`.
 *
 * @example
 * ```ts
 * const entry = { dir: "/data", pattern: "*.db", recursive: true } as DirEntryConfig;
 * claimedPath(entry, "/data/sub/app.db"); // "sub/app.db"
 * claimedPath(entry, "/data/.app.db-litefleet/x.db"); // undefined
 * ```
 */
export function claimedPath(
  entry: Pick<DirEntryConfig, "dir" | "pattern" | "recursive" | "metaDir">,
  path: string,
): string | undefined {
  const rel = posix.relative(entry.dir, path);
  if (rel === "" || rel.startsWith("../") || rel === ".." || posix.isAbsolute(rel)) return undefined;
  if (entry.metaDir !== undefined && !posix.relative(entry.metaDir, path).startsWith("..")) return undefined;
  const parts = rel.split("/");
  if (!entry.recursive && parts.length > 1) return undefined;
  if (parts.some(isOwnStateName)) return undefined;
  return compileDbPattern(entry.pattern)(parts[parts.length - 1]!) ? rel : undefined;
}

/**
 * The config of the database at `path`, found by `entry`: the entry's
 * settings, each replica's path with the relative path appended
 * (`s3://b/prefix` + `sub/app.db` = `s3://b/prefix/sub/app.db`, as stock
 * Litestream does), and the meta directory `<meta-dir>/<rel>-litefleet`, or
 * the default beside the database without `meta-dir`.
 *
 * @throws {RangeError} when the entry does not claim `path`
 */
export function dirDbConfig(entry: DirEntryConfig, path: string): DbConfig {
  const rel = claimedPath(entry, path);
  if (rel === undefined) {
    throw new RangeError(`Cannot use '${path}': it is not a '${entry.pattern}' database under '${entry.dir}'`);
  }
  const metaPath =
    entry.metaDir === undefined
      ? defaultMetaPath(path)
      : posix.join(entry.metaDir, `${rel}${DEFAULTS.db.metaPathSuffix}`);
  return {
    ...entry.settings,
    path,
    metaPath,
    replicas: entry.settings.replicas.map((r) => ({ ...r, spec: appendPath(r.spec, rel) })),
  };
}

/**
 * The configured database at `path`: a `path:` entry, else the one a
 * directory entry claims (the first, in config order).
 */
export function findConfiguredDb(config: Pick<Config, "dbs" | "dirs">, path: string): DbConfig | undefined {
  const db = config.dbs.find((d) => d.path === path);
  if (db) return db;
  const entry = config.dirs.find((e) => claimedPath(e, path) !== undefined);
  return entry && dirDbConfig(entry, path);
}

function appendPath(spec: ReplicaSpec, rel: string): ReplicaSpec {
  if (spec.type === "file") return { ...spec, path: posix.join(spec.path, rel) };
  return { ...spec, path: spec.path === "" ? rel : `${spec.path}/${rel}` };
}
