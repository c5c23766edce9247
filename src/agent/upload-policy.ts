/**
 * The batch policy of one replica, as pure functions: when a batch is due,
 * whether bulk work may run now (time windows), and which policy applies
 * (normal or metered).
 *
 * @module
 */

import type { ReplicaConfig, TimeWindow, UploadPolicy } from "../config/schema.ts";

/** What the uploader knows when it asks whether to send a batch. */
export interface BatchState {
  readonly now: number;
  /** When the last batch went out (0 = never since start). */
  readonly lastUploadAt: number;
  /** Capture time of the oldest file not yet sent (undefined = nothing pending). */
  readonly oldestPendingAt: number | undefined;
  readonly pendingBytes: number;
  /** An explicit `litefleet sync` (or remote command) asked for it. */
  readonly explicit: boolean;
}

/**
 * A batch is due when something is pending and either it was asked for, or
 * `min-interval` has passed since the last batch and the oldest pending
 * change has waited `max-interval` (the RPO bound) or `max-batch-bytes` are
 * pending.
 */
export function isBatchDue(state: BatchState, policy: UploadPolicy): boolean {
  if (state.oldestPendingAt === undefined) return false;
  if (state.explicit) return true;
  if (state.now - state.lastUploadAt < policy.minInterval) return false;
  return state.now - state.oldestPendingAt >= policy.maxInterval || state.pendingBytes >= policy.maxBatchBytes;
}

/**
 * Milliseconds until a batch can become due on time alone (for the loop's
 * sleep); 0 when due now.
 */
export function msUntilDue(state: BatchState, policy: UploadPolicy): number {
  if (state.oldestPendingAt === undefined) return policy.minInterval;
  const byMin = state.lastUploadAt + policy.minInterval - state.now;
  const byMax = state.oldestPendingAt + policy.maxInterval - state.now;
  return Math.max(0, byMin, state.pendingBytes >= policy.maxBatchBytes ? 0 : byMax);
}

/** True when `date` (local time) falls in one of `windows`; no windows = always. */
export function inWindow(windows: readonly TimeWindow[], date: Date): boolean {
  if (windows.length === 0) return true;
  const minute = date.getHours() * 60 + date.getMinutes();
  return windows.some((w) =>
    w.start < w.end ? minute >= w.start && minute < w.end : minute >= w.start || minute < w.end,
  );
}

/** The policy in force for a replica given whether the link is metered. */
export function activePolicy(replica: Pick<ReplicaConfig, "upload" | "meteredUpload">, metered: boolean): UploadPolicy {
  return metered ? replica.meteredUpload : replica.upload;
}
