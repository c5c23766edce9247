/**
 * Remote retention: which files no restore inside the retention window
 * needs. Keeps every snapshot made within `retentionMs`, plus the newest
 * older one (so the window's start can still be restored), and every file
 * above the oldest kept snapshot. What goes: files at or below that
 * snapshot that are themselves older than the window (a young file below a
 * young snapshot is still a point in time inside the window).
 *
 * @module
 */

import { SNAPSHOT_LEVEL, type LtxFileInfo } from "../replica/client.ts";

/** Returns the files to delete. Never deletes anything when there is no snapshot. */
export function planRetention(files: readonly LtxFileInfo[], options: { now: number; retentionMs: number }): LtxFileInfo[] {
  const snapshots = files
    .filter((f) => f.level === SNAPSHOT_LEVEL)
    .sort((a, b) => (a.maxTxid < b.maxTxid ? 1 : a.maxTxid > b.maxTxid ? -1 : 0));
  if (snapshots.length === 0) return [];
  const cutoff = options.now - options.retentionMs;
  const keep: LtxFileInfo[] = [];
  for (const s of snapshots) {
    keep.push(s);
    if (s.createdAt.getTime() < cutoff) break;
  }
  const floor = keep[keep.length - 1] as LtxFileInfo;
  return files.filter((f) =>
    f.level === SNAPSHOT_LEVEL ? !keep.includes(f) : f.maxTxid <= floor.maxTxid && f.createdAt.getTime() < cutoff,
  );
}
