/**
 * Database and replica summaries as a device's retained status carries
 * them (`DbSummary`, `ReplicaSummary`), healthy unless `overrides` say
 * otherwise, for tests of what the operator's side makes of them; and the
 * operator's views of devices (`DeviceView`, `DbRow`) for tests of what is
 * shown.
 *
 * @module
 */

import { worstState } from "../../src/fleet/device-health.ts";
import type { DbRow, DeviceView } from "../../src/fleet/fleet-view.ts";
import type { DbSummary, ReplicaSummary } from "../../src/protocol/messages.ts";

/** A replica that is caught up. */
export function replicaSummary(overrides: Partial<ReplicaSummary> = {}): ReplicaSummary {
  return {
    name: "s3",
    lastError: null,
    conflict: null,
    lagMs: 0,
    lastUploadAt: 1_000,
    projectedPerMonth: null,
    ...overrides,
  };
}

/** A database that is caught up, with no replica unless given. */
export function dbSummary(overrides: Partial<DbSummary> = {}): DbSummary {
  return {
    path: "/data/app.db",
    txid: "0000000000000001",
    state: "ok",
    pendingFiles: 0,
    pendingBytes: 0,
    lagMs: 0,
    lastUploadAt: 1_000,
    lastError: null,
    size: 4096,
    captureError: null,
    diskFull: false,
    replicas: [],
    ...overrides,
  };
}

/** A row of the fleet views (`DbRow`): a caught-up database unless `overrides` say otherwise. */
export function dbRow(overrides: Partial<DbRow> = {}): DbRow {
  return {
    db: "/data/app.db",
    state: "ok",
    problems: [],
    txid: "0000000000000001",
    lagMs: 0,
    pendingFiles: 0,
    pendingBytes: 0,
    lastUploadAt: 1_000,
    size: 4096,
    projectedPerMonth: null,
    ...overrides,
  };
}

/**
 * A device as `FleetView` shows it (`DeviceView`): online, heard at 1 000,
 * with `rows` (default one ok row) and its state the worst of them unless
 * given.
 */
export function deviceView(overrides: Partial<DeviceView> & { device: string }): DeviceView {
  const rows = overrides.rows ?? [dbRow()];
  return {
    state: worstState(rows.map((r) => r.state)),
    problems: rows.flatMap((r) => r.problems),
    online: true,
    reason: null,
    session: 1,
    lastSeen: 1_000,
    heardAt: 1_000,
    stale: false,
    intervalMs: 60_000,
    disk: null,
    projectedPerMonth: null,
    dataAt: 1_000,
    agent: "0.1.0",
    dbs: [],
    dbState: null,
    maxLagMs: 0,
    pendingFiles: 0,
    pendingBytes: 0,
    lastUploadAt: null,
    lastError: null,
    ...overrides,
    rows,
  };
}
