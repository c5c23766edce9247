/**
 * Expected values and error capture for config tests.
 *
 * @module
 */

import { DEFAULTS, type ReplicaConfig } from "../../src/config/schema.ts";
import { ConfigError } from "../../src/errors.ts";
import type { ReplicaSpec } from "../../src/replica/spec.ts";

/** A replica as `parseConfig` resolves it when the config sets no upload keys. */
export function defaultReplica(name: string, spec: ReplicaSpec): ReplicaConfig {
  return {
    name,
    spec,
    upload: { ...DEFAULTS.upload },
    windows: [],
    metered: DEFAULTS.metered.mode,
    meteredUpload: {
      ...DEFAULTS.upload,
      minInterval: DEFAULTS.metered.minInterval,
      maxInterval: DEFAULTS.metered.maxInterval,
    },
    meteredSnapshots: DEFAULTS.metered.snapshots,
  };
}

/** Runs `parse` and returns the `ConfigError` it throws; fails the test when it throws nothing or something else. */
export function thrownConfigError(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected parseConfig() to throw a ConfigError");
}

/**
 * The `dbs:` section of a fast test config: one database polled every
 * 100 ms, replicated to a file replica every 200 ms.
 */
export function fastDbYaml(db: string, replicaDir: string): string[] {
  return [
    "dbs:",
    `  - path: ${db}`,
    "    monitor-interval: 100ms",
    "    replica:",
    `      path: ${replicaDir}`,
    "      sync-interval: 200ms",
  ];
}
