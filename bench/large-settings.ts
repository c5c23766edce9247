/**
 * Every knob of the `large` benchmark (issue #13) in one place: the
 * database sizes, the generated data, how a first complete sync is
 * recognized, the memory limit and the time limits. The agents' shared
 * values (bucket, monitor interval, litefleet config keys) come from
 * `comparison-settings.ts`.
 *
 * @module
 */

import { SHARED_COMPARISON_SETTINGS, type SharedComparisonSettings } from "./comparison-settings.ts";

/** The replica kinds each size is replicated to, one case each. */
export const REPLICA_KINDS = ["s3", "file"] as const;

/** A replica kind: `s3` (the local s3rver) or `file` (a directory). */
export type ReplicaKind = (typeof REPLICA_KINDS)[number];

/** How the generated databases look. */
export interface LargeDatabaseSettings {
  /** `PRAGMA page_size`. */
  readonly pageSize: number;
  /** Random (incompressible) bytes per row, a BLOB column. */
  readonly randomBytesPerRow: number;
  /** Compressible text per row (templated telemetry lines), a TEXT column. */
  readonly textBytesPerRow: number;
  /** Seed of the data: the same seed and size give the same file. */
  readonly seed: number;
}

/** Settings of the `large` benchmark. */
export interface LargeSettings
  extends Pick<SharedComparisonSettings, "bucket" | "monitorInterval" | "litefleetConfigKeys"> {
  /** Database sizes replicated from scratch unless `--sizes` says otherwise, MB (10^6 bytes, as the issue writes them). */
  readonly defaultSizesMB: readonly number[];
  /** Sizes whose replicas are restored unless `--restore-sizes` says otherwise, MB. */
  readonly defaultRestoreSizesMB: readonly number[];
  /** `--quick`: the one size replicated and restored, MB. */
  readonly quickSizeMB: number;
  /** An agent or restore whose `VmRSS` goes above this is SIGKILLed unless `--rss-limit` says otherwise, MiB. */
  readonly defaultRssLimitMiB: number;
  /** How often each agent's memory, CPU and replica are polled, ms (also the RSS limit's reaction time). */
  readonly pollIntervalMs: number;
  /**
   * The first sync counts as complete once the agent's replica has not
   * changed, no request of it has been in flight, and the agent has used
   * less than {@linkcode LargeSettings.idleCpuFraction} of a core, for this
   * long, ms.
   */
  readonly quietMs: number;
  /** See {@linkcode LargeSettings.quietMs}: CPU seconds per second below which an agent counts as idle. */
  readonly idleCpuFraction: number;
  /** How long a first sync may take: this much, ms … */
  readonly syncTimeoutBaseMs: number;
  /** … plus this much per MB of database, ms. */
  readonly syncTimeoutPerMBMs: number;
  /** How long an agent may take to exit after SIGTERM before it is SIGKILLed, ms. */
  readonly stopTimeoutMs: number;
  /** How long one restore may take, ms. */
  readonly restoreTimeoutMs: number;
  /** The generated data. */
  readonly database: LargeDatabaseSettings;
  /** `sync-interval` of every replica (Litestream's default, for both). */
  readonly syncInterval: string;
  /**
   * Free space the run needs in its work dir, as a multiple of the largest
   * database: the database, two agents' copies, their local state and
   * replicas (file, or the s3rver's store), and two restores.
   */
  readonly diskFactor: number;
}

/** The settings the benchmark runs with. */
export const LARGE_SETTINGS: LargeSettings = {
  bucket: SHARED_COMPARISON_SETTINGS.bucket,
  monitorInterval: SHARED_COMPARISON_SETTINGS.monitorInterval,
  litefleetConfigKeys: SHARED_COMPARISON_SETTINGS.litefleetConfigKeys,
  defaultSizesMB: [300, 2048],
  defaultRestoreSizesMB: [300, 500],
  quickSizeMB: 64,
  defaultRssLimitMiB: 2048,
  pollIntervalMs: 100,
  quietMs: 5000,
  idleCpuFraction: 0.05,
  syncTimeoutBaseMs: 120_000,
  syncTimeoutPerMBMs: 500,
  stopTimeoutMs: 120_000,
  restoreTimeoutMs: 900_000,
  database: {
    pageSize: 4096,
    // One row per 4096-byte page (a record of ~3.9 KB stays on its leaf page):
    // half random bytes, half text that LZ4 shrinks several times over.
    randomBytesPerRow: 1950,
    textBytesPerRow: 1950,
    seed: 0x13,
  },
  syncInterval: "1s",
  diskFactor: 8,
};
