/**
 * The capture spool: the L0 files capture writes into the state
 * directory's `ltx/0` and the level-9 snapshot waiting in `ltx/9`, with
 * their index in memory (read from disk once, at the first use after
 * `LocalStore.open`; no tick lists the directory).
 *
 * `coalesce` bounds the spool while no replica batches it, e.g. while an
 * upload hangs on a slow or dead link: captures keep landing every
 * `monitor-interval`, and without this they would pile up as one file
 * each (issue #11).
 *
 * Spool files not yet batched by every replica are cut into segments at
 * every TXID a replica or a snapshot stands on (each replica's batched
 * position, its uploaded snapshot, the pending snapshot), so a merged file
 * never spans a point an uploader starts from or cuts at. A segment whose
 * files add up to more than `max(maxBytes, 2 × its largest file)` is merged
 * into one file (each page once, newest wins): merged, a segment holds
 * at most one copy of each page of the database, and merging again only
 * when it has doubled keeps the work linear. Nothing committed is dropped.
 *
 * @module
 */

import { SNAPSHOT_LEVEL, type LtxFileInfo } from "../replica/client.ts";
import type { ReplicaState } from "./local-store.ts";
import { mergeLocalLtx } from "./local-ltx.ts";
import { LtxDir } from "./ltx-dir.ts";

/** See the module documentation. */
export class Spool extends LtxDir {
  /** Captured files above `built` (a replica's batched position), ascending. */
  pendingFor(built: bigint): LtxFileInfo[] {
    return this.listMerged(0).filter((f) => f.maxTxid > built);
  }

  /** The newest captured file: it anchors the capture position. */
  lastCapture(): LtxFileInfo | undefined {
    return this.list(0).at(-1);
  }

  /** The level-9 snapshot waiting for upload (the newest, if several). */
  pendingSnapshot(): LtxFileInfo | undefined {
    return this.list(SNAPSHOT_LEVEL).at(-1);
  }

  /**
   * Removes what every replica in `states` has: captured files every one
   * has batched (keeping the newest, which anchors the position), and
   * snapshots every one has uploaded or a newer pending one replaces.
   * Does nothing while a replica's state is unknown.
   */
  prune(states: readonly (ReplicaState | undefined)[]): void {
    if (states.length === 0 || states.some((s) => s === undefined)) return;
    const built = states.map((s) => s?.built ?? 0n).reduce((a, b) => (a < b ? a : b));
    for (const f of this.list(0).slice(0, -1)) if (f.maxTxid <= built) this.remove(f);
    const snaps = this.list(SNAPSHOT_LEVEL);
    const snapDone = states.map((s) => s?.uploaded[SNAPSHOT_LEVEL] ?? 0n).reduce((a, b) => (a < b ? a : b));
    snaps.forEach((f, i) => {
      if (f.maxTxid <= snapDone || i < snaps.length - 1) this.remove(f);
    });
  }

  /**
   * Merges over-sized segments (see the module documentation) for the
   * replicas in `states`; `maxBytes` is the spool's byte bound.
   */
  coalesce(states: readonly (ReplicaState | undefined)[], maxBytes: number): SpoolCoalesced | undefined {
    const built = states.map((s) => s?.built ?? 0n);
    const floor = built.reduce((a, b) => (a < b ? a : b), built[0] ?? 0n);
    const cuts = new Set([
      ...built,
      ...states.map((s) => s?.uploaded[SNAPSHOT_LEVEL] ?? 0n),
      ...this.list(SNAPSHOT_LEVEL).map((f) => f.maxTxid),
    ]);
    return coalesceSpool(this, { floor, cuts, maxBytes });
  }
}

/** What {@linkcode coalesceSpool} merged. */
export interface SpoolCoalesced {
  readonly files: number;
  readonly before: number;
  readonly after: number;
}

/**
 * Merges the over-sized segments of `spool`'s L0 files above `floor`
 * (the lowest position every replica has batched), cut at `cuts`.
 */
export function coalesceSpool(
  spool: LtxDir,
  options: { floor: bigint; cuts: ReadonlySet<bigint>; maxBytes: number },
): SpoolCoalesced | undefined {
  const segments: LtxFileInfo[][] = [[]];
  for (const f of spool.listMerged(0)) {
    if (f.maxTxid <= options.floor) continue;
    segments[segments.length - 1]?.push(f);
    if (options.cuts.has(f.maxTxid)) segments.push([]);
  }
  let files = 0;
  let before = 0;
  let after = 0;
  for (const seg of segments) {
    if (seg.length < 2) continue;
    const bytes = seg.reduce((n, f) => n + f.size, 0);
    const largest = seg.reduce((m, f) => Math.max(m, f.size), 0);
    if (bytes <= Math.max(options.maxBytes, 2 * largest)) continue;
    const merged = mergeLocalLtx(spool, { files: seg, dst: spool, level: 0, dateByOldest: true });
    for (const f of seg) if (f.minTxid !== merged.minTxid || f.maxTxid !== merged.maxTxid) spool.remove(f);
    files += seg.length;
    before += bytes;
    after += merged.size;
  }
  return files === 0 ? undefined : { files, before, after };
}
