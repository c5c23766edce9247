/**
 * Bounds the capture spool (the L0 files in the state directory's `ltx/0`)
 * while no replica batches it, e.g. while an upload hangs on a slow or
 * dead link: captures keep landing every `monitor-interval`, and without
 * this they would pile up as one file each (issue #11).
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

import type { LtxFileInfo } from "../replica/client.ts";
import { mergeLocalLtx } from "./local-ltx.ts";
import type { LtxDir } from "./ltx-dir.ts";

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
