/**
 * The chaos benchmark's schedule: from one seed, everything that happens to
 * one run of the agent — its config, the writers, the timed events (kill -9
 * of the agent or a writer, outages, clock steps, a full state directory)
 * and the per-request S3 faults. The same seed always draws the same
 * schedule; per-request faults are drawn from their own seeded stream in
 * request order.
 *
 * @module
 */

import { mulberry32 } from "../test/harness/prng.ts";
import { FAULT_KINDS, type Fault, type FaultKind, type ProxiedRequest } from "../test/harness/s3-fault-proxy.ts";

/** A timed event of a run. Times are seconds from the agent's first start. */
export type ChaosEvent =
  /** SIGKILL the agent, start it again `downSeconds` later. */
  | { readonly kind: "agent-kill"; readonly at: number; readonly downSeconds: number }
  /** SIGKILL writer `db`, start it again `downSeconds` later. */
  | { readonly kind: "writer-kill"; readonly at: number; readonly db: number; readonly downSeconds: number }
  /** Every S3 connection reset for `seconds`. */
  | { readonly kind: "outage"; readonly at: number; readonly seconds: number }
  /** The agent's wall clock jumps to `offset` (libfaketime syntax: `+1d`, `-1h`, `+0`) relative to real time. */
  | { readonly kind: "clock-step"; readonly at: number; readonly offset: string }
  /** Database 0's state directory (a tmpfs) is filled to the last byte for `seconds`. */
  | { readonly kind: "enospc"; readonly at: number; readonly seconds: number };

/** Everything one seed decides. */
export interface ChaosSchedule {
  readonly seed: number;
  /** Seconds the faults run, from the agent's first start to the drain. */
  readonly durationSeconds: number;
  /** Databases in the agent's config, each with its own writer process. */
  readonly dbs: number;
  /** Mean pause between a writer's commits, ms. */
  readonly writerIntervalMs: number;
  /** The replicas' `sync-interval`, ms (every batch is a restore point). */
  readonly syncIntervalMs: number;
  /** `spool.max-bytes`, or undefined for the default. */
  readonly spoolMaxBytes: string | undefined;
  /** `snapshot.interval`. */
  readonly snapshotInterval: string;
  /** `levels` intervals (empty: no compaction). */
  readonly levels: readonly string[];
  /** Probability that one S3 request gets a fault. */
  readonly faultRate: number;
  /** Relative weight of each fault kind. */
  readonly faultWeights: Readonly<Record<FaultKind, number>>;
  /** Longest stall, ms. */
  readonly maxStallMs: number;
  /** The timed events, by time. */
  readonly events: readonly ChaosEvent[];
  /** True when one outage is a long one (a minute or more). */
  readonly longOutage: boolean;
}

/** How long outages are chosen: never, in about 1 seed of 25, or in every seed. */
export type LongOutageMode = "off" | "auto" | "on";

/** Options of {@linkcode drawSchedule}. */
export interface DrawOptions {
  /** Seconds of faults (before any long outage is added). */
  readonly durationSeconds: number;
  readonly longOutages: LongOutageMode;
  /** Longest long outage, seconds. @default 180 */
  readonly maxLongOutageSeconds?: number | undefined;
  /** False when the tmpfs for the ENOSPC event cannot be mounted here. */
  readonly enospc: boolean;
}

/** Draws the schedule of `seed`. */
export function drawSchedule(seed: number, options: DrawOptions): ChaosSchedule {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const between = (lo: number, hi: number): number => lo + rand() * (hi - lo);
  const round1 = (x: number): number => Math.round(x * 10) / 10;

  let duration = options.durationSeconds;
  const events: ChaosEvent[] = [];
  const longOutage = options.longOutages === "on" || (options.longOutages === "auto" && rand() < 0.04);
  if (longOutage) {
    const seconds = Math.round(between(60, options.maxLongOutageSeconds ?? 180));
    const at = round1(between(3, Math.max(3.5, duration / 2)));
    events.push({ kind: "outage", at, seconds });
    duration = Math.max(duration, at + seconds + 8);
  }
  const latest = Math.max(2, duration - 3);
  const when = (): number => round1(between(1.5, latest));

  const dbs = 1 + Math.floor(rand() * 3);
  for (let i = Math.floor(rand() * 4); i > 0; i--)
    events.push({ kind: "agent-kill", at: when(), downSeconds: round1(between(0.1, 3)) });
  for (let i = Math.floor(rand() * 3); i > 0; i--)
    events.push({
      kind: "writer-kill",
      at: when(),
      db: Math.floor(rand() * dbs),
      downSeconds: round1(between(0.1, 2)),
    });
  for (let i = Math.floor(rand() * 3); i > 0; i--) {
    const at = when();
    events.push({ kind: "outage", at, seconds: round1(Math.min(between(1, 12), duration - at)) });
  }
  if (rand() < 0.5) {
    for (let i = 1 + Math.floor(rand() * 2); i > 0; i--)
      events.push({ kind: "clock-step", at: when(), offset: pick(["+1d", "-1h", "+10m", "-10m", "+0"]) });
  }
  if (options.enospc && rand() < 0.4) {
    const at = when();
    events.push({ kind: "enospc", at, seconds: round1(Math.min(between(2, 8), duration - at)) });
  }
  events.sort((a, b) => a.at - b.at);

  const faultWeights = Object.fromEntries(FAULT_KINDS.map((k) => [k, rand() < 0.25 ? 0 : 1 + rand() * 3])) as Record<
    FaultKind,
    number
  >;
  return {
    seed,
    durationSeconds: duration,
    dbs,
    writerIntervalMs: pick([50, 100, 200]),
    syncIntervalMs: pick([500, 1000, 2000]),
    spoolMaxBytes: rand() < 0.3 ? pick(["256KiB", "1MiB"]) : undefined,
    snapshotInterval: pick(["24h", "10s", "30s"]),
    levels: rand() < 0.3 ? ["5s", "15s"] : [],
    faultRate: round1(rand() * 30) / 100,
    faultWeights,
    maxStallMs: pick([2000, 5000, 10000]),
    events,
    longOutage,
  };
}

/**
 * The proxy's decider for `schedule`: each request gets a fault with
 * probability `faultRate`, its kind drawn by weight.
 */
export function requestDecider(schedule: ChaosSchedule): (request: ProxiedRequest) => Fault | undefined {
  const rand = mulberry32((schedule.seed ^ 0x5bd1e995) >>> 0);
  const kinds = FAULT_KINDS.filter((k) => schedule.faultWeights[k] > 0);
  const total = kinds.reduce((s, k) => s + schedule.faultWeights[k], 0);
  return () => {
    if (total === 0 || rand() >= schedule.faultRate) return undefined;
    let r = rand() * total;
    for (const kind of kinds) {
      r -= schedule.faultWeights[kind];
      if (r <= 0)
        return kind === "stall" ? { kind, stallMs: Math.round(500 + rand() * (schedule.maxStallMs - 500)) } : { kind };
    }
    return undefined;
  };
}

/** One line naming the seed's events, for the summary table. */
export function describeEvents(schedule: ChaosSchedule): string {
  const n = (k: ChaosEvent["kind"]): number => schedule.events.filter((e) => e.kind === k).length;
  const parts = [`${schedule.dbs} db`, `faults ${Math.round(schedule.faultRate * 100)}%`];
  if (n("agent-kill")) parts.push(`agent-kill×${n("agent-kill")}`);
  if (n("writer-kill")) parts.push(`writer-kill×${n("writer-kill")}`);
  if (n("outage")) parts.push(`outage×${n("outage")}${schedule.longOutage ? " (long)" : ""}`);
  if (n("clock-step"))
    parts.push(`clock ${schedule.events.flatMap((e) => (e.kind === "clock-step" ? [e.offset] : [])).join(",")}`);
  if (n("enospc")) parts.push("enospc");
  return parts.join(", ");
}
