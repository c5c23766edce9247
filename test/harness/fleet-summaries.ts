/**
 * Database and replica summaries as a device's retained status carries
 * them (`DbSummary`, `ReplicaSummary`), healthy unless `overrides` say
 * otherwise, for tests of what the operator's side makes of them.
 *
 * @module
 */

import type { DbSummary, ReplicaSummary } from "../../src/protocol/messages.ts";

/** A replica that is caught up. */
export function replicaSummary(overrides: Partial<ReplicaSummary> = {}): ReplicaSummary {
  return { name: "s3", lastError: null, conflict: null, lagMs: 0, lastUploadAt: 1_000, ...overrides };
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
