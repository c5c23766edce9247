/**
 * Every knob of the `batching` benchmark in one place. Change values here;
 * the benchmark reads nothing else.
 *
 * @module
 */

import type { LitefleetConfigKeys } from "./litefleet-agent.ts";
import { TELEMETRY_WORKLOAD, type WorkloadSettings } from "./workload.ts";

/** One agent of the comparison. Its key prefix is `<name>/app.db` and its database `<name>.db`. */
export interface BatchingAgent {
  readonly kind: "litestream" | "litefleet";
  /** Short name, used as row label, key prefix and file name. */
  readonly name: string;
  /** `sync-interval` (Litestream and litefleet both spell it so). */
  readonly syncInterval: string;
}

/** Settings of the batching benchmark. */
export interface BatchingSettings {
  /** The agents, in table order. */
  readonly agents: readonly BatchingAgent[];
  /** `monitor-interval` of every agent (how often each polls its WAL). */
  readonly monitorInterval: string;
  /** Config keys that depend on the litefleet parser's progress. */
  readonly litefleetConfigKeys: LitefleetConfigKeys;
  /** The workload every database receives. */
  readonly workload: WorkloadSettings;
  /** The bucket all agents share (each under its own prefix). */
  readonly bucket: string;
  /** Agent whose row the ratios compare against. */
  readonly baseline: string;
  /** Seconds from each agent being ready to the first transaction (initial snapshots settle); see `agent-run.ts`. */
  readonly settleSeconds: number;
  /** How long an agent may take to log that it is ready, in ms. */
  readonly readyTimeoutMs: number;
  /** How long an agent may take to exit after SIGTERM before it is SIGKILLed, in ms. */
  readonly stopTimeoutMs: number;
  /** How often `VmRSS` of every agent is sampled, in ms. */
  readonly rssSampleIntervalMs: number;
  /** How long one restore may take, in ms. */
  readonly restoreTimeoutMs: number;
}

/** The settings the benchmark runs with. */
export const BATCHING_SETTINGS: BatchingSettings = {
  agents: [
    { kind: "litestream", name: "ls-1s", syncInterval: "1s" },
    { kind: "litefleet", name: "lf-1s", syncInterval: "1s" },
    { kind: "litefleet", name: "lf-10s", syncInterval: "10s" },
    { kind: "litefleet", name: "lf-60s", syncInterval: "60s" },
  ],
  // Litestream's default and litefleet's default.
  monitorInterval: "1s",
  litefleetConfigKeys: {
    // The parser accepts both keys now; set false to benchmark an older build.
    emitStatusAndLevels: true,
    // Compaction off for this benchmark.
    levels: [],
  },
  workload: TELEMETRY_WORKLOAD,
  bucket: "bench",
  baseline: "ls-1s",
  settleSeconds: 3,
  readyTimeoutMs: 30_000,
  stopTimeoutMs: 120_000,
  rssSampleIntervalMs: 2000,
  restoreTimeoutMs: 120_000,
};

/**
 * Returns a Go-style duration of the settings (`500ms`, `10s`, `1m`, `1h`) in seconds.
 *
 * @throws {RangeError} for any other form
 */
export function durationSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!m?.[1] || !m[2]) throw new RangeError(`Cannot read duration '${text}': expected e.g. 500ms, 10s, 1m or 1h`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}
