/**
 * The top-level `levels:` list: compaction levels L1..Ln, each given as
 * `{ interval: <duration> }`, the same shape as Litestream's.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import { configError, describeValue, fieldPath, type MapReader } from "./map-reader.ts";
import { type Config, DEFAULTS } from "./schema.ts";

/** The most compaction levels a config may list (L1..L8; L9 is the snapshot level). */
export const MAX_LEVELS = 8;

/**
 * Returns a fresh copy of `DEFAULTS.levels`.
 *
 * @returns the default compaction levels
 */
export function defaultLevels(): Config["levels"] {
  return DEFAULTS.levels.map(({ interval }) => ({ interval }));
}

/**
 * Reads `levels:`. Absent (or `levels:` with no value) means the defaults;
 * `levels: []` means no compaction.
 *
 * @param root the document root
 * @returns the levels, L1 first
 * @throws {ConfigError} for more than {@linkcode MAX_LEVELS} entries, an
 * entry without `interval` or with another key, an interval that is not a
 * duration > 0, or intervals that do not strictly increase
 */
export function readLevels(root: MapReader): Config["levels"] {
  const list = root.list("levels");
  if (list === undefined) return defaultLevels();
  const field = fieldPath(root.field, "levels");
  if (list.length > MAX_LEVELS) {
    throw configError(
      field,
      `'${field}' may list at most ${MAX_LEVELS} compaction levels (L1 to L${MAX_LEVELS}): received ${list.length}`,
    );
  }
  const levels: Config["levels"] = [];
  for (let i = 0; i < list.length; i++) {
    const r = root.item("levels", i);
    r.checkKeys(["interval"]);
    const intervalField = fieldPath(r.field, "interval");
    const interval = r.duration("interval", 1);
    if (interval === undefined) {
      throw configError(
        intervalField,
        `missing key '${intervalField}' (how often level L${i + 1} is compacted, e.g. '15m')`,
      );
    }
    const previous = levels[i - 1];
    if (previous !== undefined && interval <= previous.interval) {
      throw configError(
        intervalField,
        `'${intervalField}' must be longer than '${fieldPath(fieldPath(field, i - 1), "interval")}' (${formatDuration(
          previous.interval,
        )}): received ${describeValue(r.raw("interval"), false)}`,
        { value: r.raw("interval") },
      );
    }
    levels.push({ interval });
  }
  return levels;
}
