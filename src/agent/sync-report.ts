/**
 * What stands between an explicit sync and its end, read from the status
 * object: which capture or replica fails and why, or what is still on its
 * way. Shared by the local `POST /sync` (`litefleet sync`) and the remote
 * `sync` command, so both name the failing replica the same way; and the
 * deadline of `POST /sync`, so a sync the agent cannot finish (a replica
 * that never answers) is answered anyway.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { raceTimeout, TIMED_OUT } from "../platform/clock.ts";
import type { AgentStatus, ReplicaStatus } from "../protocol/agent-status.ts";

/** One thing that keeps a database from being synced. */
export interface SyncFailure {
  readonly db: string;
  /** The replica's name, or null when the capture fails. */
  readonly replica: string | null;
  /** The replica's location (URL without secrets), or null for the capture. */
  readonly location: string | null;
  readonly error: string;
}

/** A replica as read here: agents that detect another writer report `conflict`. */
type ReplicaWithConflict = ReplicaStatus & { readonly conflict?: string | null };

/** Captures and replicas of `dbs` (default: all) that currently fail, in status order. */
export function syncFailures(status: AgentStatus, dbs?: readonly string[]): SyncFailure[] {
  const out: SyncFailure[] = [];
  for (const db of status.dbs) {
    if (dbs !== undefined && !dbs.includes(db.path)) continue;
    if (db.captureError !== null)
      out.push({
        db: db.path,
        replica: null,
        location: null,
        error: `${db.diskFull ? "disk full: " : ""}${db.captureError}`,
      });
    for (const r of db.replicas as readonly ReplicaWithConflict[]) {
      if (r.lastError !== null) out.push({ db: db.path, replica: r.name, location: r.location, error: r.lastError });
      const conflict = r.conflict ?? null;
      if (conflict !== null)
        out.push({ db: db.path, replica: r.name, location: r.location, error: `another writer: ${conflict}` });
    }
  }
  return out;
}

/** "replica 's3' of '/data/app.db' fails: …; capture of '/data/b.db' fails: …" (the location is in `failures`, and in most replica errors). */
export function describeSyncFailures(failures: readonly SyncFailure[]): string {
  return failures
    .map((f) => `${f.replica === null ? "capture" : `replica '${f.replica}'`} of '${f.db}' fails: ${f.error}`)
    .join("; ");
}

/**
 * What a sync of `dbs` (default: all) is waiting for: the failures, else
 * the databases whose capture has not started and the replicas with
 * changes still pending.
 */
export function describeSyncWait(status: AgentStatus, dbs?: readonly string[]): string {
  const failures = syncFailures(status, dbs);
  if (failures.length > 0) return describeSyncFailures(failures);
  const waits: string[] = [];
  for (const db of status.dbs) {
    if (dbs !== undefined && !dbs.includes(db.path)) continue;
    if (db.txid === null)
      waits.push(
        `capture of '${db.path}' has not started (it waits for the database file to exist, or for its replicas' positions)`,
      );
    for (const r of db.replicas) {
      if (r.pending.files > 0)
        waits.push(`replica '${r.name}' of '${db.path}' still has ${r.pending.files} file(s) to upload`);
    }
  }
  return waits.length > 0 ? waits.join("; ") : "no replica reported an error";
}

/** What `POST /sync` answers. */
export interface SyncAnswer {
  /** 200 synced, 502 failed, 504 deadline passed. */
  readonly httpStatus: 200 | 502 | 504;
  readonly body: Record<string, unknown>;
}

/**
 * Runs `source.syncNow()` for at most `timeoutMs` and describes the end:
 * `{ok: true, …status}`; or `{ok: false, timedOut, error, failures}` where
 * `error` names each failing capture and replica.
 */
export async function syncWithDeadline(
  source: { status(): AgentStatus; syncNow(): Promise<void> },
  timeoutMs: number,
): Promise<SyncAnswer> {
  let outcome: "deadline" | { error: unknown } | undefined;
  try {
    outcome = (await raceTimeout(source.syncNow(), timeoutMs)) === TIMED_OUT ? "deadline" : undefined;
  } catch (error) {
    outcome = { error };
  }
  const status = source.status();
  if (outcome === undefined) return { httpStatus: 200, body: { ok: true, ...status } };
  const failures = syncFailures(status);
  if (outcome === "deadline") {
    const error = `Cannot sync within ${Math.round(timeoutMs / 100) / 10} s: ${describeSyncWait(status)}`;
    return { httpStatus: 504, body: { ok: false, timedOut: true, error, failures } };
  }
  const cause = errorMessage(outcome.error);
  const error =
    failures.length > 0
      ? `Cannot sync: ${describeSyncFailures(failures)}`
      : cause.startsWith("Cannot sync")
        ? cause
        : `Cannot sync: ${cause}`;
  return { httpStatus: 502, body: { ok: false, timedOut: false, error, failures } };
}
