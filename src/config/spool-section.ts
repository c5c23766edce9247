/**
 * The `spool:` section, at the top level (defaults for every database) and
 * on each database (overriding them key by key): bounds of the local files
 * captured but not yet uploaded to every replica.
 *
 * @module
 */

import type { MapReader } from "./map-reader.ts";
import { type DbConfig, DEFAULTS } from "./schema.ts";

/** The `spool:` keys of one mapping, not yet resolved. */
export interface SpoolLayer {
  readonly maxBytes: number | undefined;
  readonly maxAge: number | undefined;
}

/**
 * Reads the `spool:` section of `r` (the document root or a database entry).
 *
 * @param r the mapping that may hold `spool:`
 * @returns its keys, or `undefined` when absent
 * @throws {ConfigError} for an unknown key, or a value that is not a byte
 * size / duration greater than 0
 */
export function readSpool(r: MapReader): SpoolLayer | undefined {
  const spool = r.map("spool");
  if (spool === undefined) return undefined;
  spool.checkKeys(["max-bytes", "max-age"]);
  return { maxBytes: spool.byteSize("max-bytes", 1), maxAge: spool.duration("max-age", 1) };
}

/**
 * Resolves a database's spool bounds: `DEFAULTS.spool` ← top-level `spool:`
 * ← the database's `spool:`.
 *
 * @param global the top-level section, if any
 * @param db the database's section, if any
 * @returns a fresh object
 */
export function resolveSpool(global: SpoolLayer | undefined, db: SpoolLayer | undefined): DbConfig["spool"] {
  return {
    maxBytes: db?.maxBytes ?? global?.maxBytes ?? DEFAULTS.spool.maxBytes,
    maxAge: db?.maxAge ?? global?.maxAge ?? DEFAULTS.spool.maxAge,
  };
}
