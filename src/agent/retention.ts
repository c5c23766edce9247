/**
 * Remote retention: which files no promised restore point needs.
 *
 * The promise (docs/CONFIG.md, "retention"): after retention runs, the
 * replica still restores
 * - its latest state,
 * - every restore point (the end TXID of any file) whose file was made
 *   within `retentionMs`, and
 * - the state at the window's start: the highest restore point made before it.
 *
 * Retention is proved per point, not assumed from levels: for every promised
 * TXID it finds a restore plan (a snapshot, then a contiguous chain of
 * files, as the restore planner does) and keeps every file of that plan.
 * A file goes only when no kept plan uses it and it is itself older than
 * the window. So a snapshot taken in the middle of a batch, a compacted
 * file that straddles a snapshot, or a clock step that makes every file
 * look old can cost storage, never a promised restore point.
 *
 * Ages come from the files' LTX timestamps, i.e. the device's wall clock
 * when each was made; a file stamped in the future counts as young.
 *
 * @module
 */

import { SNAPSHOT_LEVEL, type LtxFileInfo } from "../replica/client.ts";
import { couldBeLtxFile } from "../restore/planner.ts";

/** Options of {@linkcode planRetention}. */
export interface RetentionOptions {
  /** Wall-clock time (Unix ms). */
  readonly now: number;
  readonly retentionMs: number;
}

/**
 * Returns the files to delete. Deletes nothing when the latest state has no
 * restore plan (a replica that cannot be restored is left as it is for an
 * operator to look at).
 */
export function planRetention(files: readonly LtxFileInfo[], options: RetentionOptions): LtxFileInfo[] {
  const cutoff = options.now - options.retentionMs;
  const targets = promisedTxids(files, cutoff);
  const latest = targets[0];
  if (latest === undefined) return [];
  const keep = new Set<LtxFileInfo>();
  // Plans only over what restore would use (not objects too small to be LTX files).
  const plans = new RestorePlans(files.filter(couldBeLtxFile));
  for (const t of targets) {
    const plan = plans.plan(t);
    if (plan === undefined) {
      // Nothing can restore the latest state: delete nothing.
      if (t === latest) return [];
      continue; // already unrestorable before this run; nothing to protect
    }
    for (const f of plan) keep.add(f);
  }
  return files.filter((f) => !keep.has(f) && f.createdAt.getTime() < cutoff);
}

/**
 * The TXIDs retention must keep restorable, latest first: the latest,
 * every file end made at or after `cutoff`, and the highest end made
 * before it.
 */
export function promisedTxids(files: readonly LtxFileInfo[], cutoff: number): bigint[] {
  let latest: bigint | undefined;
  let windowStart: bigint | undefined;
  const inside = new Set<bigint>();
  for (const f of files) {
    if (latest === undefined || f.maxTxid > latest) latest = f.maxTxid;
    if (f.createdAt.getTime() >= cutoff) inside.add(f.maxTxid);
    else if (windowStart === undefined || f.maxTxid > windowStart) windowStart = f.maxTxid;
  }
  if (latest === undefined) return [];
  const out = new Set<bigint>([latest]);
  if (windowStart !== undefined) out.add(windowStart);
  for (const t of [...inside].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))) out.add(t);
  return [...out];
}

/**
 * Restore plans over one listing: for each start (a file beginning at
 * TXID 1: a snapshot or the first file), one breadth-first search gives the
 * fewest-file chain to every TXID it reaches; a TXID is planned from the
 * newest start at or below it that reaches it.
 */
class RestorePlans {
  readonly #starts: LtxFileInfo[];
  readonly #byMin = new Map<bigint, LtxFileInfo[]>();
  readonly #trees = new Map<LtxFileInfo, Map<bigint, LtxFileInfo>>();

  constructor(files: readonly LtxFileInfo[]) {
    this.#starts = files
      .filter((f) => f.minTxid === 1n)
      .sort((a, b) => (a.maxTxid > b.maxTxid ? -1 : a.maxTxid < b.maxTxid ? 1 : b.level - a.level));
    for (const f of files) {
      if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n) continue;
      const list = this.#byMin.get(f.minTxid) ?? [];
      list.push(f);
      this.#byMin.set(f.minTxid, list);
    }
  }

  /** The files that restore exactly `target`, or undefined when none do. */
  plan(target: bigint): LtxFileInfo[] | undefined {
    for (const start of this.#starts) {
      if (start.maxTxid > target) continue;
      if (start.maxTxid === target) return [start];
      const tree = this.#tree(start);
      if (!tree.has(target)) continue;
      const chain: LtxFileInfo[] = [];
      for (let at = target; at !== start.maxTxid; ) {
        const f = tree.get(at) as LtxFileInfo;
        chain.push(f);
        at = f.minTxid - 1n;
      }
      return [start, ...chain.reverse()];
    }
    return undefined;
  }

  /** For each TXID reachable from `start`: the last file of a shortest chain to it. */
  #tree(start: LtxFileInfo): Map<bigint, LtxFileInfo> {
    let tree = this.#trees.get(start);
    if (tree) return tree;
    tree = new Map();
    let frontier: bigint[] = [start.maxTxid];
    while (frontier.length > 0) {
      const next: bigint[] = [];
      for (const pos of frontier) {
        for (const f of this.#byMin.get(pos + 1n) ?? []) {
          if (f.maxTxid === start.maxTxid || tree.has(f.maxTxid)) continue;
          tree.set(f.maxTxid, f);
          next.push(f.maxTxid);
        }
      }
      frontier = next;
    }
    this.#trees.set(start, tree);
    return tree;
  }
}
