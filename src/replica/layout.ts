/**
 * Where LTX files live in each backend (Litestream v0.5 layout), and the
 * argument checks every backend applies to levels and keys.
 *
 * | Backend | Key for level L |
 * |---|---|
 * | `s3` | `<prefix>/<L as %04x>/<min>-<max>.ltx` |
 * | `file` | `<dir>/ltx/<L decimal>/<min>-<max>.ltx` |
 *
 * @module
 */

import { join } from "node:path";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { SNAPSHOT_LEVEL, type LtxFileKey } from "./client.ts";

/**
 * Checks that `level` is an integer from 0 to `SNAPSHOT_LEVEL`.
 * @throws {RangeError} when it is not
 */
export function assertLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > SNAPSHOT_LEVEL) {
    throw new RangeError(`Cannot use LTX level '${level}': level must be an integer from 0 to ${SNAPSHOT_LEVEL}`);
  }
}

/**
 * Checks a key's level and that `minTxid <= maxTxid`, and returns its file
 * name `<min>-<max>.ltx`.
 * @throws {RangeError} when the level or TXID range is invalid
 */
export function ltxFileNameOf(key: LtxFileKey): string {
  assertLevel(key.level);
  if (key.minTxid > key.maxTxid) {
    throw new RangeError(`Cannot name LTX file: min TXID '${key.minTxid}' is greater than max TXID '${key.maxTxid}'`);
  }
  return formatLtxFileName(key.minTxid, key.maxTxid);
}

/** The directory holding one level of a file replica: `<dir>/ltx/<level>`. */
export function fileLevelDir(dir: string, level: number): string {
  return join(dir, "ltx", String(level));
}

/**
 * The key prefix of one level of an S3 replica, with a trailing slash:
 * `<prefix>/<level %04x>/`, or `<level %04x>/` when the prefix is empty.
 */
export function s3LevelPrefix(prefix: string, level: number): string {
  const dir = level.toString(16).padStart(4, "0");
  return prefix === "" ? `${dir}/` : `${prefix}/${dir}/`;
}
