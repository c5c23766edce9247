/**
 * Every knob of the `footprint` benchmark in one place. Change values here;
 * the benchmark reads nothing else.
 *
 * @module
 */

import type { AgentRunSettings } from "./agent-run.ts";
import type { LitefleetConfigKeys } from "./litefleet-agent.ts";
import { TELEMETRY_WORKLOAD } from "./workload.ts";

/** One agent process of the comparison, replicating several databases. */
export interface FootprintAgent {
  readonly kind: "litestream" | "litefleet";
  /**
   * Short name: row label, file names (`<name>.yml`, `<name>.log`,
   * `<name>/db-<i>.db`) and key prefix (`<name>/db-<i>.db`).
   */
  readonly name: string;
}

/** Settings of the footprint benchmark. */
export interface FootprintSettings extends AgentRunSettings {
  /** The agents, in table order. */
  readonly agents: readonly FootprintAgent[];
  /** Databases each agent replicates (one config, one process). */
  readonly databasesPerAgent: number;
  /** `sync-interval` of every replica. */
  readonly syncInterval: string;
  /** `monitor-interval` of every database. */
  readonly monitorInterval: string;
  /** Config keys that depend on the litefleet parser's progress. */
  readonly litefleetConfigKeys: LitefleetConfigKeys;
  /** The bucket all agents share (each under its own prefix). */
  readonly bucket: string;
  /** How long one restore may take, in ms. */
  readonly restoreTimeoutMs: number;
}

/** The settings the benchmark runs with. */
export const FOOTPRINT_SETTINGS: FootprintSettings = {
  agents: [
    { kind: "litefleet", name: "litefleet" },
    { kind: "litestream", name: "litestream" },
  ],
  databasesPerAgent: 3,
  // Litestream's default sync-interval, for both.
  syncInterval: "1s",
  // Litestream's default and litefleet's default.
  monitorInterval: "1s",
  litefleetConfigKeys: {
    // No status server (`status.addr: ""`), compaction off (`levels: []`).
    emitStatusAndLevels: true,
    levels: [],
  },
  workload: TELEMETRY_WORKLOAD,
  bucket: "bench",
  // The "RSS after start" sample is taken this long after each agent is ready.
  settleSeconds: 5,
  readyTimeoutMs: 30_000,
  stopTimeoutMs: 120_000,
  rssSampleIntervalMs: 1000,
  restoreTimeoutMs: 120_000,
};
