/**
 * The state of each database of a device, and of the device, as the
 * operator sees it (docs/FLEET.md "Device states"), derived from the
 * device's retained status (or Last Will) and from when it was last heard
 * from. This module holds the one severity order that `fleet status`, the
 * dashboard page and `/api/devices` sort by ({@linkcode FLEET_STATES}),
 * worst first:
 *
 * | rank | state | meaning |
 * |--:|---|---|
 * | 0 | `error` | a capture fails, or a replica fails |
 * | 1 | `conflict` | a replica has another writer (a second writer: a cloned image, a duplicated device id) |
 * | 2 | `offline` | the retained status says offline: the Will (connection lost) or a clean stop |
 * | 3 | `stale` | the retained status says online, but nothing was heard for 3 status intervals |
 * | 4 | `lagging` | the oldest change not yet in every replica waited longer than the RPO |
 * | 5 | `degraded` | a full disk (batches wait for space) or little free disk, lag within the RPO |
 * | 6 | `starting` | online, but no sync yet (or no database listed) |
 * | 7 | `pending` | changes wait for the batch policy, within the RPO: working as configured |
 * | 8 | `ok` | caught up |
 *
 * A database's state is the worst that applies to it. `offline` and `stale`
 * are about the device, not its data: they replace the state of every
 * database of the device (whose last data, whatever it said, is no longer
 * current; `problems` still lists what it said). Low free disk is about
 * the device too and applies to each of its databases. The device's state
 * is the worst of its databases'.
 *
 * @module
 */

import type { DbSummary } from "../protocol/messages.ts";

/** Every state, worst first: the order every fleet view sorts by. */
export const FLEET_STATES = [
  "error",
  "conflict",
  "offline",
  "stale",
  "lagging",
  "degraded",
  "starting",
  "pending",
  "ok",
] as const;

/** One of the states in the module documentation. */
export type DeviceHealth = (typeof FLEET_STATES)[number];

const RANK: Readonly<Record<DeviceHealth, number>> = Object.fromEntries(FLEET_STATES.map((s, i) => [s, i])) as Record<
  DeviceHealth,
  number
>;

/** The rank of `state` in {@linkcode FLEET_STATES}: 0 for `error` … 8 for `ok`. */
export function stateRank(state: DeviceHealth): number {
  return RANK[state];
}

/** Negative when `a` is worse than `b`, positive when better, 0 when equal. */
export function compareStates(a: DeviceHealth, b: DeviceHealth): number {
  return RANK[a] - RANK[b];
}

/** The worst of `states`, or `fallback` when there are none. */
export function worstState(states: Iterable<DeviceHealth>, fallback: DeviceHealth = "ok"): DeviceHealth {
  let worst: DeviceHealth | undefined;
  for (const s of states) if (worst === undefined || RANK[s] < RANK[worst]) worst = s;
  return worst ?? fallback;
}

/** Whether `text` names a state. */
export function isFleetState(text: string): text is DeviceHealth {
  return Object.hasOwn(RANK, text);
}

/** When working replication counts as a problem. */
export interface HealthThresholds {
  /**
   * The recovery point objective: a database whose oldest change not yet
   * in every replica waited longer than this (ms) is `lagging`. Above the
   * metered policy's 15 min maximum batch interval, so the policy working
   * as configured is not a problem.
   *
   * @default {1_800_000} (30 min)
   */
  readonly rpoMs: number;
  /**
   * Free space on the database's file system below this fraction of its
   * size is a problem (`degraded`).
   *
   * @default {0.05}
   */
  readonly lowDiskFraction: number;
}

/** The defaults of {@linkcode HealthThresholds}. */
export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { rpoMs: 30 * 60_000, lowDiskFraction: 0.05 };

/** A device that publishes no `intervalMs` (agents before issue #15) is assumed to use the default `status-interval`. */
export const DEFAULT_STATUS_INTERVAL_MS = 60_000;

/** Nothing heard for this many status intervals makes an online device `stale`. */
export const STALE_INTERVALS = 3;

/** What {@linkcode deviceHealth} reads: the device's last status, and whether it went silent. */
export interface HealthInput {
  readonly online: boolean;
  /** Online by its retained status, but not heard from for {@linkcode STALE_INTERVALS} intervals. */
  readonly stale?: boolean;
  /** Its status interval (ms), for the `stale` problem's sentence. */
  readonly intervalMs?: number;
  readonly dbs: readonly DbSummary[];
  readonly disk?: { readonly free: number; readonly total: number } | undefined;
}

/** One database's state and what makes it so. */
export interface DbHealth {
  readonly path: string;
  readonly state: DeviceHealth;
  /** Why it is not `ok` or `pending`, worst first, one sentence each (device-wide problems included). */
  readonly problems: readonly string[];
}

/** A device's state and what makes it so. */
export interface HealthReport {
  /** The worst state of `dbs` (with no database: `offline`, `stale` or `starting`). */
  readonly state: DeviceHealth;
  /** Every problem of the device, worst first, one sentence each (empty when ok). */
  readonly problems: readonly string[];
  /** Per database, in the order of the input. */
  readonly dbs: readonly DbHealth[];
}

/** Derives the states (see the module documentation). */
export function deviceHealth(
  input: HealthInput,
  thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS,
): HealthReport {
  const deviceProblems: string[] = [];
  const disk = input.disk;
  const lowDisk = disk !== undefined && disk.total > 0 && disk.free / disk.total < thresholds.lowDiskFraction;
  if (lowDisk) deviceProblems.push(`the disk has ${((100 * disk.free) / disk.total).toFixed(1)}% free`);
  const override: DeviceHealth | undefined = !input.online ? "offline" : input.stale ? "stale" : undefined;
  const silence =
    override === "stale"
      ? [
          `no status for over ${formatAge(STALE_INTERVALS * (input.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS))} (${STALE_INTERVALS} status intervals)`,
        ]
      : [];

  const own = input.dbs.map((db) => dbHealth(db, thresholds));
  const dbs = input.dbs.map((db, i): DbHealth => {
    const h = own[i]!;
    let state = h.state;
    if (lowDisk && stateRank(state) > stateRank("degraded")) state = "degraded";
    return { path: db.path, state: override ?? state, problems: [...silence, ...h.problems, ...deviceProblems] };
  });
  const problems = [...silence, ...own.flatMap((h) => h.problems), ...deviceProblems];
  const none: DeviceHealth = override ?? (lowDisk ? "degraded" : "starting");
  return {
    state: worstState(
      dbs.map((d) => d.state),
      none,
    ),
    problems,
    dbs,
  };
}

/** One database's own state, from its summary alone. */
function dbHealth(db: DbSummary, thresholds: HealthThresholds): { state: DeviceHealth; problems: string[] } {
  const name = `'${db.path}'`;
  const errors: string[] = [];
  const conflicts: string[] = [];
  const others: string[] = [];
  if (db.captureError !== null) errors.push(`capture of ${name} fails: ${db.captureError}`);
  for (const r of db.replicas) {
    if (r.lastError !== null) errors.push(`replica '${r.name}' of ${name} fails: ${r.lastError}`);
    if (r.conflict !== null) conflicts.push(`replica '${r.name}' of ${name} has another writer: ${r.conflict}`);
  }
  // Agents before 0.2 report neither capture errors nor replicas apart.
  if (db.captureError === null && db.replicas.length === 0 && (db.state === "error" || db.lastError !== null)) {
    errors.push(`${name} fails: ${db.lastError ?? "an upload failed"}`);
  }
  const lagging = db.lagMs > thresholds.rpoMs;
  if (lagging) others.push(`${name} is ${formatAge(db.lagMs)} behind its replicas`);
  const diskFull = db.diskFull && db.captureError === null;
  if (diskFull) others.push(`${name}: a disk is full (batches wait for space)`);
  const state: DeviceHealth =
    errors.length > 0
      ? "error"
      : conflicts.length > 0
        ? "conflict"
        : lagging
          ? "lagging"
          : diskFull
            ? "degraded"
            : db.txid === null || db.state === "starting"
              ? "starting"
              : db.pendingFiles > 0 || db.state === "pending"
                ? "pending"
                : "ok";
  return { state, problems: [...errors, ...conflicts, ...others] };
}

/** A duration for messages: "45 s", "12 min", "3 h", "2 d". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}
