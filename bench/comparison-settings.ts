/**
 * The settings every benchmark that compares agents side by side (`batching`,
 * `footprint`) has, and the values they share: one bucket on one local
 * s3rver, the telemetry workload, the agents' default monitor interval, a
 * litefleet config without status server or compaction, and the same time
 * limits. Each benchmark's settings file spreads
 * {@linkcode SHARED_COMPARISON_SETTINGS} and adds (or overrides) its own knobs.
 *
 * @module
 */

import type { AgentRunSettings } from "./agent-run.ts";
import type { LitefleetConfigKeys } from "./litefleet-agent.ts";
import { TELEMETRY_WORKLOAD } from "./workload.ts";

/** Settings of a benchmark that runs several agents side by side against one s3rver. */
export interface ComparisonSettings extends AgentRunSettings {
  /** `monitor-interval` of every database (how often each agent polls its WAL). */
  readonly monitorInterval: string;
  /** Config keys that depend on the litefleet parser's progress. */
  readonly litefleetConfigKeys: LitefleetConfigKeys;
  /** The bucket all agents share (each under its own prefix). */
  readonly bucket: string;
  /** How long one restore may take, in ms. */
  readonly restoreTimeoutMs: number;
}

/** The part of {@linkcode ComparisonSettings} whose values every comparison shares. */
export type SharedComparisonSettings = Omit<ComparisonSettings, "settleSeconds" | "rssSampleIntervalMs">;

/**
 * The values every comparison runs with; `settleSeconds` and
 * `rssSampleIntervalMs` are each benchmark's own.
 */
export const SHARED_COMPARISON_SETTINGS: SharedComparisonSettings = {
  // Litestream's default and litefleet's default.
  monitorInterval: "1s",
  litefleetConfigKeys: {
    // No status server (`status.addr: ""`; several agents would compete for
    // its default port) and compaction off (`levels: []`). The parser
    // accepts both keys now; a benchmark of an older build overrides
    // `emitStatusAndLevels` with false in its own settings file.
    emitStatusAndLevels: true,
    levels: [],
  },
  workload: TELEMETRY_WORKLOAD,
  bucket: "bench",
  readyTimeoutMs: 30_000,
  stopTimeoutMs: 120_000,
  restoreTimeoutMs: 120_000,
};
