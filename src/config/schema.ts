/**
 * The resolved configuration: what `parseConfig` returns after validation,
 * environment expansion, defaults and path normalization. Durations are in
 * milliseconds, sizes in bytes, and every path is absolute.
 *
 * {@linkcode DEFAULTS} is the single source of truth for default values;
 * `docs/CONFIG.md` documents the same values and a test keeps them in step.
 *
 * @module
 */

import type { ReplicaSpec } from "../replica/spec.ts";

/** Log verbosity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Log line format. Litestream's config key for it is `logging.type`. */
export type LogFormat = "text" | "json";

/** The whole agent configuration. */
export interface Config {
  /** Identity of this device in the fleet. */
  device: {
    /** From `device.id`, else env `DEVICE_ID`, else the caller's fallback (machine id or hostname). */
    id: string;
  };
  logging: {
    level: LogLevel;
    format: LogFormat;
  };
  /** Snapshot schedule, shared by every database (as in Litestream v0.5). */
  snapshot: {
    /** How often a full snapshot (level 9) is written, in ms. */
    interval: number;
    /** How long snapshots and the LTX files they cover are kept, in ms. */
    retention: number;
  };
  /** Databases to replicate; may be empty when the CLI names one. */
  dbs: DbConfig[];
}

/** One replicated SQLite database. */
export interface DbConfig {
  /** Absolute path of the database file. */
  path: string;
  /** Absolute directory for local state; default `<dir>/.<basename>-litefleet`. */
  metaPath: string;
  /** How often the WAL is checked for new frames, in ms (> 0). */
  monitorInterval: number;
  /** How often a PASSIVE checkpoint is attempted regardless of WAL size, in ms (> 0). */
  checkpointInterval: number;
  /** WAL size in pages that triggers a PASSIVE checkpoint (> 0). */
  minCheckpointPageCount: number;
  /** WAL size in pages that triggers a TRUNCATE checkpoint; 0 disables it. */
  truncatePageN: number;
  /** SQLite busy timeout for the agent's connection, in ms (>= 0). */
  busyTimeout: number;
  /** Where the database is replicated; at least one. Names are unique within the database. */
  replicas: ReplicaConfig[];
}

/** One destination of one database. */
export interface ReplicaConfig {
  /**
   * Name used in logs and status: `name:` from the config, else the type
   * (`file`, `s3`), or `<type>-<index>` when several unnamed replicas of the
   * database share a type.
   */
  name: string;
  /** Where the replica lives; credentials, when configured, are inside an S3 spec. */
  spec: ReplicaSpec;
  /** How often new LTX files are uploaded, in ms (> 0). */
  syncInterval: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Every default value. Nested objects mirror the config sections; `db`
 * holds per-database defaults and `replica` per-replica ones.
 */
export const DEFAULTS: {
  readonly logging: { readonly level: LogLevel; readonly format: LogFormat };
  readonly snapshot: { readonly interval: number; readonly retention: number };
  readonly db: {
    readonly monitorInterval: number;
    readonly checkpointInterval: number;
    readonly minCheckpointPageCount: number;
    readonly truncatePageN: number;
    readonly busyTimeout: number;
    /** Suffix of the default meta directory, `<dir>/.<basename><suffix>`. */
    readonly metaPathSuffix: string;
  };
  readonly replica: { readonly syncInterval: number };
} = deepFreeze({
  logging: { level: "info", format: "text" },
  snapshot: { interval: 24 * HOUR, retention: 24 * HOUR },
  db: {
    monitorInterval: 1 * SECOND,
    checkpointInterval: 1 * MINUTE,
    minCheckpointPageCount: 1000,
    truncatePageN: 121_359,
    busyTimeout: 1 * SECOND,
    metaPathSuffix: "-litefleet",
  },
  replica: { syncInterval: 1 * SECOND },
});

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === "object" && child !== null) deepFreeze(child);
  }
  return Object.freeze(value);
}
