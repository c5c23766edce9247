/**
 * Every knob of the `footprint` benchmark in one place: its own values here,
 * on top of the values every comparison shares (`comparison-settings.ts`),
 * any of which can be overridden here. The benchmark reads nothing else.
 *
 * @module
 */

import { SHARED_COMPARISON_SETTINGS, type ComparisonSettings } from "./comparison-settings.ts";

/** One agent process of the comparison, replicating several databases. */
export interface FootprintAgent {
  readonly kind: "litestream" | "litefleet";
  /**
   * Short name: row label, file names (`<name>.yml`, `<name>.log`,
   * `<name>/db-<i>.db`) and key prefix (`<name>/db-<i>.db`).
   */
  readonly name: string;
  /**
   * litefleet only. `sync-interval` (the default): every replica gets the
   * settings' `syncInterval`, as Litestream's do. `default`: no upload key
   * at all, so the agent runs litefleet's default upload policy
   * (`min-interval: 10s`, `max-interval: 1m`, docs/CONFIG.md), the case
   * of the issue's "at the default policy" target.
   */
  readonly policy?: "sync-interval" | "default";
}

/** Settings of the footprint benchmark. */
export interface FootprintSettings extends ComparisonSettings {
  /** The agents, in table order. */
  readonly agents: readonly FootprintAgent[];
  /** Databases each agent replicates (one config, one process). */
  readonly databasesPerAgent: number;
  /** `sync-interval` of every replica. */
  readonly syncInterval: string;
}

/** The settings the benchmark runs with. */
export const FOOTPRINT_SETTINGS: FootprintSettings = {
  ...SHARED_COMPARISON_SETTINGS,
  agents: [
    { kind: "litefleet", name: "litefleet" },
    // Same binary, litefleet's default upload policy (issue #13's second CPU target).
    { kind: "litefleet", name: "lf-default", policy: "default" },
    { kind: "litestream", name: "litestream" },
  ],
  databasesPerAgent: 3,
  // Litestream's default sync-interval, for both.
  syncInterval: "1s",
  // The "RSS after start" sample is taken this long after each agent is ready.
  settleSeconds: 5,
  rssSampleIntervalMs: 1000,
};
