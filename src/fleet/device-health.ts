/**
 * The state of a device as the operator sees it (docs/FLEET.md "Device
 * states"), derived from its retained status (or Last Will) alone:
 *
 * | state | meaning |
 * |---|---|
 * | `offline` | its retained status says offline: the Will (connection lost) or a clean stop |
 * | `error` | a database is not protected: a capture fails, a replica fails, or another writer uses a replica |
 * | `degraded` | replicating, but behind or limited: lag above the threshold, a full disk, little disk space left |
 * | `starting` | online, but a database has made no sync yet |
 * | `ok` | online, every database captured and its replicas within the lag threshold |
 *
 * Worst first: an offline device is `offline` whatever its last data said
 * (which `problems` still lists), then `error` > `degraded` > `starting` >
 * `ok`.
 *
 * @module
 */

import type { DbSummary } from "../protocol/messages.ts";

/** One of the device states in the module documentation. */
export type DeviceHealth = "starting" | "ok" | "degraded" | "error" | "offline";

/** When working replication counts as degraded. */
export interface HealthThresholds {
  /**
   * A database whose oldest change not yet in every replica waited longer
   * than this (ms) is behind. Above the metered policy's 15 min maximum
   * batch interval, so the policy working as configured is not a problem.
   *
   * @default {1_800_000} (30 min)
   */
  readonly degradedLagMs: number;
  /**
   * Free space on the database's file system below this fraction of its
   * size is a problem.
   *
   * @default {0.05}
   */
  readonly lowDiskFraction: number;
}

/** The defaults of {@linkcode HealthThresholds}. */
export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = { degradedLagMs: 30 * 60_000, lowDiskFraction: 0.05 };

/** What {@linkcode deviceHealth} reads: the device's last status. */
export interface HealthInput {
  readonly online: boolean;
  readonly dbs: readonly DbSummary[];
  readonly disk?: { readonly free: number; readonly total: number } | undefined;
}

/** A device's state and what makes it so. */
export interface HealthReport {
  readonly state: DeviceHealth;
  /** Why the data is not `ok`, worst first, one sentence each (empty when ok). */
  readonly problems: readonly string[];
}

/** Derives the device state (see the module documentation). */
export function deviceHealth(
  input: HealthInput,
  thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS,
): HealthReport {
  const errors: string[] = [];
  const degraded: string[] = [];
  let starting = input.dbs.length === 0;
  for (const db of input.dbs) {
    const name = `'${db.path}'`;
    if (db.captureError !== null) errors.push(`capture of ${name} fails: ${db.captureError}`);
    for (const r of db.replicas) {
      if (r.lastError !== null) errors.push(`replica '${r.name}' of ${name} fails: ${r.lastError}`);
      if (r.conflict !== null) errors.push(`replica '${r.name}' of ${name} has another writer: ${r.conflict}`);
    }
    // Agents before 0.2 report neither capture errors nor replicas apart.
    if (db.captureError === null && db.replicas.length === 0 && (db.state === "error" || db.lastError !== null)) {
      errors.push(`${name} fails: ${db.lastError ?? "an upload failed"}`);
    }
    if (db.diskFull && db.captureError === null) degraded.push(`${name}: a disk is full (batches wait for space)`);
    if (db.lagMs > thresholds.degradedLagMs) degraded.push(`${name} is ${formatAge(db.lagMs)} behind its replicas`);
    if (db.txid === null) starting = true;
  }
  const disk = input.disk;
  if (disk && disk.total > 0 && disk.free / disk.total < thresholds.lowDiskFraction) {
    degraded.push(`the disk has ${((100 * disk.free) / disk.total).toFixed(1)}% free`);
  }
  const problems = [...errors, ...degraded];
  if (!input.online) return { state: "offline", problems };
  if (errors.length > 0) return { state: "error", problems };
  if (degraded.length > 0) return { state: "degraded", problems };
  return { state: starting ? "starting" : "ok", problems };
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
