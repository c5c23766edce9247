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

import { posix } from "node:path";
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
  /**
   * Compaction levels L1..Ln (n ≤ 8), each merging the level below every
   * `interval` ms (wall-clock aligned). Empty = no compaction.
   */
  levels: Array<{ interval: number }>;
  /** The agent's local status/control HTTP server (`litefleet status`, `litefleet sync`). */
  status: {
    /**
     * `host:port` to listen on (default loopback; the parser checks the form, not that the
     * host is local), or `undefined` when disabled (`addr: ""`).
     */
    addr: string | undefined;
  };
  /** Prometheus text exposition at `/metrics`. */
  metrics: {
    /** `host:port` to listen on, or `undefined` when off (the default). */
    addr: string | undefined;
  };
  /**
   * A command (the application) to run as a child once every database has
   * made its first sync; SIGINT/SIGTERM are forwarded, and the agent exits
   * with the child's code (Litestream's `exec`). `undefined` = none.
   */
  exec: string | undefined;
  /** Databases to replicate (the `dbs:` entries with `path:`); may be empty when the CLI names one. */
  dbs: DbConfig[];
  /**
   * The `dbs:` entries with `dir:`: directories whose matching databases are
   * found at start (and, with `watch`, while running); see `dir-entry.ts`.
   */
  dirs: DirEntryConfig[];
  /** The fleet link over MQTT (docs/FLEET.md); `undefined` = no MQTT. */
  mqtt: MqttConfig | undefined;
  /** Who may command this device and what commands may touch. */
  fleet: FleetConfig;
  /**
   * How long a graceful stop keeps retrying its final upload (and the
   * handover tip) before it leaves the rest in the spool, in ms (> 0;
   * Litestream's `shutdown-sync-timeout`).
   */
  shutdownSyncTimeout: number;
}

/** `mqtt:`. Durations in ms. */
export interface MqttConfig {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` broker URL. */
  url: string;
  username?: string;
  /** Never logged or echoed. */
  password?: string;
  /** PEM files for TLS: CA bundle, client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Default: the device id. */
  clientId: string;
  /** Default `litefleet/v1`. */
  topicRoot: string;
  /** How often the retained status and telemetry are republished. */
  statusInterval: number;
  keepalive: number;
  /** 5 (default) or 4 (MQTT 3.1.1). */
  protocolVersion: 4 | 5;
  /** MQTT 5 Will Delay: a drop shorter than this does not mark the device offline. */
  willDelay: number;
  /** Session counter, event outbox and command journal. */
  stateDir: string;
  /** Bound of the on-disk event outbox; the oldest events are dropped (and counted) beyond it. */
  outboxMaxBytes: number;
}

/**
 * `mqtt:` as the operator's commands read it (`parseConfig` with `mode:
 * "operator"`): `state-dir` is the agent's alone, so it may be absent.
 */
export type OperatorMqttConfig = Omit<MqttConfig, "stateDir"> & { stateDir: string | undefined };

/** A config read for the operator's commands (`fleet status`, `send`, `dashboard`): see {@linkcode OperatorMqttConfig}. */
export type OperatorConfig = Omit<Config, "mqtt"> & { mqtt: OperatorMqttConfig | undefined };

/** `fleet:`. */
export interface FleetConfig {
  /** Pinned operator public keys (`ed25519:…`); commands signed by none of them are rejected. */
  operatorKeys: string[];
  /** Directories a remote restore may write to, besides the configured database paths. */
  restoreDirs: string[];
  /** How long a live restore waits for the application to release the database (ms). */
  quiesceTimeout: number;
  /**
   * How long a live restore may keep the application locked out once it let
   * go (ms): the last pre-restore upload, the swap and the health check; past
   * it the restore rolls back and releases the lock (docs/FLEET.md).
   */
  swapTimeout: number;
  /** SQL that must succeed on a restored database before it is committed (health probe). */
  probe: string | undefined;
}

/** A time of day range in local time, minutes since midnight; `end < start` wraps past midnight. */
export interface TimeWindow {
  /** Minutes since local midnight, 0..1439. */
  start: number;
  /** Minutes since local midnight, 0..1440 (exclusive end). */
  end: number;
}

/** When and how fast a replica uploads. */
export interface UploadPolicy {
  /** Never upload batches more often than this, in ms (an explicit sync pre-empts it). */
  minInterval: number;
  /** Upload a captured change at most this long after capture (the RPO bound), in ms (>= minInterval). */
  maxInterval: number;
  /** Upload as soon as `minInterval` allows once this many bytes are pending; also the size cap of one merged upload. */
  maxBatchBytes: number;
  /** Wire bytes per second for every upload (batches, snapshots, compactions, multipart parts); 0 = unlimited. */
  bandwidth: number;
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
  /** Bounds of the local spool (captured files not yet uploaded to every replica). */
  spool: {
    /** When pending files exceed this many bytes they are coalesced (merged, newest page wins). */
    maxBytes: number;
    /** When the oldest pending file is older than this (ms), pending files are coalesced. */
    maxAge: number;
  };
  /**
   * When the database file does not exist at start, restore it from its
   * first replica before replicating (a no-op when the replica is empty).
   */
  restoreIfDbNotExists: boolean;
  /** Where the database is replicated; at least one. Names are unique within the database. */
  replicas: ReplicaConfig[];
}

/**
 * A `dbs:` entry naming a directory: each SQLite database under `dir` whose
 * file name matches `pattern` is replicated with `settings`, its path
 * relative to `dir` appended to each replica's path (`dirDbConfig`).
 */
export interface DirEntryConfig {
  /** Position in `dbs:`, for messages (`dbs[2]`). */
  index: number;
  /** Absolute directory path. */
  dir: string;
  /** Glob on the file name (`*`, `?`, `[a-z]`, `[!a-z]`, `\\` escapes), e.g. `*.db`. */
  pattern: string;
  /** Whether subdirectories are searched (and watched) too. */
  recursive: boolean;
  /** Whether databases created (or removed) later are picked up (or stopped) while running. */
  watch: boolean;
  /** Absolute directory the state of each found database goes under (by relative path); `undefined` = beside each database. */
  metaDir: string | undefined;
  /** Every per-database setting; replica paths are the bases each found database's relative path is appended to. */
  settings: Omit<DbConfig, "path" | "metaPath">;
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
  /** The normal upload policy (config `min-interval`, `max-interval`, … or Litestream's `sync-interval`). */
  upload: UploadPolicy;
  /**
   * Times of day when bulk work (level-9 snapshots, compaction uploads) may
   * run; empty = any time. Batch uploads of captured changes are never held back.
   */
  windows: TimeWindow[];
  /** `auto` probes NetworkManager; `yes` / `no` override the probe. */
  metered: "auto" | "yes" | "no";
  /** The policy while the link is metered (`metered-policy:` keys override the normal ones). */
  meteredUpload: UploadPolicy;
  /** Whether level-9 snapshots may be uploaded while metered (`metered-policy.snapshots`). */
  meteredSnapshots: boolean;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Every default value. Nested objects mirror the config sections; `db`
 * holds per-database defaults, `spool` the per-database spool bounds, and
 * `upload` / `metered` the per-replica upload policy (a replica with no
 * `windows` may do bulk work at any time: the default list is empty).
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
  readonly levels: ReadonlyArray<{ readonly interval: number }>;
  readonly status: { readonly addr: string };
  readonly mqtt: {
    readonly topicRoot: string;
    readonly statusInterval: number;
    readonly keepalive: number;
    readonly protocolVersion: 4 | 5;
    readonly willDelay: number;
    readonly outboxMaxBytes: number;
  };
  readonly fleet: { readonly quiesceTimeout: number; readonly swapTimeout: number; readonly maxSwapTimeout: number };
  readonly shutdownSyncTimeout: number;
  readonly spool: { readonly maxBytes: number; readonly maxAge: number };
  readonly upload: Readonly<UploadPolicy>;
  readonly metered: {
    readonly mode: "auto" | "yes" | "no";
    /** Keys of the metered policy that differ from the normal one by default. */
    readonly minInterval: number;
    readonly maxInterval: number;
    readonly snapshots: boolean;
  };
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
  // Off by default: every level re-sends the pages changed in its interval
  // (bytes a cellular device pays for), and a day of 60 s batches restores
  // in about 1,440 small GETs without it. See docs/COSTS.md.
  levels: [],
  status: { addr: "127.0.0.1:9397" },
  mqtt: {
    topicRoot: "litefleet/v1",
    statusInterval: 60 * SECOND,
    keepalive: 60 * SECOND,
    protocolVersion: 5,
    willDelay: 30 * SECOND,
    outboxMaxBytes: 1024 * 1024,
  },
  fleet: { quiesceTimeout: 60 * SECOND, swapTimeout: 60 * SECOND, maxSwapTimeout: 3600 * SECOND },
  shutdownSyncTimeout: 30 * SECOND,
  spool: { maxBytes: 256 * 1024 * 1024, maxAge: 24 * HOUR },
  upload: { minInterval: 10 * SECOND, maxInterval: 60 * SECOND, maxBatchBytes: 16 * 1024 * 1024, bandwidth: 0 },
  metered: { mode: "auto", minInterval: 5 * MINUTE, maxInterval: 15 * MINUTE, snapshots: false },
});

/**
 * Returns the default meta directory of a database: `<dir>/.<basename>-litefleet`.
 *
 * @example
 * ```ts
 * defaultMetaPath("/var/lib/app.db"); // "/var/lib/.app.db-litefleet"
 * ```
 *
 * @param dbPath absolute database path
 * @returns the meta directory path
 */
export function defaultMetaPath(dbPath: string): string {
  return posix.join(posix.dirname(dbPath), `.${posix.basename(dbPath)}${DEFAULTS.db.metaPathSuffix}`);
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === "object" && child !== null) deepFreeze(child);
  }
  return Object.freeze(value);
}
