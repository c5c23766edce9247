/**
 * Every knob of the `batching` benchmark in one place: its own values here,
 * on top of the values every comparison shares (`comparison-settings.ts`),
 * any of which can be overridden here. The benchmark reads nothing else.
 *
 * @module
 */

import { SHARED_COMPARISON_SETTINGS, type ComparisonSettings } from "./comparison-settings.ts";

/** One agent of the comparison. Its key prefix is `<name>/app.db` and its database `<name>.db`. */
export interface BatchingAgent {
  readonly kind: "litestream" | "litefleet";
  /** Short name, used as row label, key prefix and file name. */
  readonly name: string;
  /** `sync-interval` (Litestream and litefleet both spell it so). */
  readonly syncInterval: string;
}

/** Settings of the batching benchmark. */
export interface BatchingSettings extends ComparisonSettings {
  /** The agents, in table order. */
  readonly agents: readonly BatchingAgent[];
  /** Agent whose row the ratios compare against. */
  readonly baseline: string;
}

/** The settings the benchmark runs with. */
export const BATCHING_SETTINGS: BatchingSettings = {
  ...SHARED_COMPARISON_SETTINGS,
  // To benchmark a build whose parser rejects the `status` and `levels` keys:
  // litefleetConfigKeys: { ...SHARED_COMPARISON_SETTINGS.litefleetConfigKeys, emitStatusAndLevels: false },
  agents: [
    { kind: "litestream", name: "ls-1s", syncInterval: "1s" },
    { kind: "litefleet", name: "lf-1s", syncInterval: "1s" },
    { kind: "litefleet", name: "lf-10s", syncInterval: "10s" },
    { kind: "litefleet", name: "lf-60s", syncInterval: "60s" },
  ],
  baseline: "ls-1s",
  settleSeconds: 3,
  rssSampleIntervalMs: 2000,
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
