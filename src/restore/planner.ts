/**
 * Restore planning, as Litestream v0.5 does it: the newest snapshot that
 * fits the target, then a contiguous chain of files from there, taking at
 * each step the file that reaches furthest (compacted levels first), up to
 * the target TXID or time.
 *
 * Works over any `ReplicaClient`.
 *
 * @module
 */

import { decodeHeader, HEADER_SIZE } from "../ltx/header.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type ReplicaClient, type SignalOptions } from "../replica/client.ts";

/** What to restore to. Neither set = the latest state. */
export interface RestoreTarget {
  readonly txid?: Txid;
  /** Restore the last state made at or before this time. */
  readonly timestamp?: Date;
}

/** Files to apply, in order. */
export interface RestorePlan {
  readonly files: readonly LtxFileInfo[];
  /** The TXID the database will be at. */
  readonly txid: Txid;
  /** The LTX timestamp of the last file (ms), when known. */
  readonly timestamp: number | undefined;
}

/** The replica holds nothing that fits the target. */
export class NoRestorePointError extends Error {
  override name = "NoRestorePointError";
}

/** Lists every LTX file of every level (0..9): in one listing where the backend can, else level by level. */
export async function listAllLtxFiles(client: ReplicaClient, options: SignalOptions = {}): Promise<LtxFileInfo[]> {
  const all: LtxFileInfo[] = [];
  if (client.listAllLevels) {
    for await (const f of client.listAllLevels(options)) all.push(f);
    return all;
  }
  for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
    for await (const f of client.listLtxFiles(level, options)) all.push(f);
  }
  return all;
}

/**
 * Plans a restore.
 * @throws {NoRestorePointError} when nothing fits or the chain has a gap before the target
 */
export async function planRestore(
  client: ReplicaClient,
  target: RestoreTarget,
  options: SignalOptions & { files?: readonly LtxFileInfo[] } = {},
): Promise<RestorePlan> {
  const files = options.files ?? (await listAllLtxFiles(client, options));
  if (files.length === 0) {
    throw new NoRestorePointError(`Cannot restore from '${client.location}': the replica holds no LTX files`);
  }
  const times = new Map<LtxFileInfo, number>();
  async function timeOf(f: LtxFileInfo): Promise<number> {
    let t = times.get(f);
    if (t === undefined) {
      const bytes = await client.readLtxFile(f, { offset: 0, size: HEADER_SIZE, ...sig(options) });
      t = decodeHeader(bytes, { path: describe(client, f) }).timestamp;
      times.set(f, t);
    }
    return t;
  }
  async function fits(f: LtxFileInfo): Promise<boolean> {
    if (target.txid !== undefined && f.maxTxid > target.txid) return false;
    if (target.timestamp === undefined) return true;
    const limit = target.timestamp.getTime();
    // Objects are written after their LTX timestamp, so an older
    // last-modified time proves the file fits without reading its header.
    if (f.createdAt.getTime() <= limit) return true;
    return (await timeOf(f)) <= limit;
  }

  // The TXID to reach: a gap must never silently yield an older database.
  let wanted = target.txid;
  if (wanted === undefined) {
    for (const f of [...files].sort((a, b) => cmp(b.maxTxid, a.maxTxid))) {
      if (await fits(f)) {
        wanted = f.maxTxid;
        break;
      }
    }
  }
  const snapshots = files
    .filter((f) => f.minTxid === 1n && (wanted === undefined || f.maxTxid <= wanted))
    .sort((a, b) => cmp(b.maxTxid, a.maxTxid) || b.level - a.level);
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) {
    if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n) continue;
    if (wanted !== undefined && f.maxTxid > wanted) continue;
    const list = byMin.get(f.minTxid) ?? [];
    list.push(f);
    byMin.set(f.minTxid, list);
  }
  let furthest = 0n;
  let plan: LtxFileInfo[] | undefined;
  for (const s of snapshots) {
    if (!(await fits(s))) continue;
    const chain = await shortestChain(s, { byMin, fits, wanted: wanted ?? s.maxTxid });
    if (chain.plan) {
      plan = chain.plan;
      break;
    }
    if (chain.furthest > furthest) furthest = chain.furthest;
  }
  if (!plan) {
    if (snapshots.length === 0 || furthest === 0n) {
      throw new NoRestorePointError(
        `Cannot restore from '${client.location}': no snapshot at or before ${describeTarget(target)}`,
      );
    }
    throw new NoRestorePointError(
      `Cannot restore TXID ${formatTxid(wanted as Txid)} from '${client.location}': the chain of files ends at ` +
        `${formatTxid(furthest as Txid)} (file ${formatTxid((furthest + 1n) as Txid)} is missing); restore an earlier --txid or repair the replica`,
    );
  }
  const pos = (plan[plan.length - 1] as LtxFileInfo).maxTxid;
  const last = plan[plan.length - 1] as LtxFileInfo;
  return { files: plan, txid: pos as Txid, timestamp: times.get(last) };
}

/**
 * The fewest files that bring a database at TXID `from` to `wanted`
 * (snapshots excluded: they restart the chain), or undefined when the
 * replica has no contiguous chain from there (retention removed it).
 */
export async function chainFrom(files: readonly LtxFileInfo[], from: Txid, wanted: Txid): Promise<LtxFileInfo[] | undefined> {
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) {
    if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n || f.maxTxid > wanted) continue;
    const list = byMin.get(f.minTxid) ?? [];
    list.push(f);
    byMin.set(f.minTxid, list);
  }
  const start = { level: 0, minTxid: from, maxTxid: from, size: 0, createdAt: new Date(0) } as LtxFileInfo;
  const chain = await shortestChain(start, { byMin, fits: () => Promise.resolve(true), wanted });
  return chain.plan?.slice(1);
}

/** A message-friendly name for one file of a replica. */
export function describe(client: ReplicaClient, f: LtxFileInfo | { level: number; minTxid: Txid; maxTxid: Txid }): string {
  return `${client.location} level ${f.level} ${formatLtxFileName(f.minTxid, f.maxTxid)}`;
}

/**
 * Breadth-first search over TXID positions from `start` to `wanted`, each
 * step a file with `min = pos + 1`: the chain with the fewest files (so
 * compacted levels are preferred), never a dead end a greedy choice could
 * walk into.
 */
async function shortestChain(
  start: LtxFileInfo,
  ctx: { byMin: ReadonlyMap<bigint, LtxFileInfo[]>; fits: (f: LtxFileInfo) => Promise<boolean>; wanted: bigint },
): Promise<{ plan: LtxFileInfo[] | undefined; furthest: bigint }> {
  const prev = new Map<bigint, LtxFileInfo>();
  let frontier: bigint[] = [start.maxTxid];
  let furthest: bigint = start.maxTxid;
  const seen = new Set<bigint>([start.maxTxid]);
  while (frontier.length > 0 && !seen.has(ctx.wanted)) {
    const next: bigint[] = [];
    for (const pos of frontier) {
      for (const f of ctx.byMin.get(pos + 1n) ?? []) {
        if (seen.has(f.maxTxid) || !(await ctx.fits(f))) continue;
        seen.add(f.maxTxid);
        prev.set(f.maxTxid, f);
        next.push(f.maxTxid);
        if (f.maxTxid > furthest) furthest = f.maxTxid;
      }
    }
    frontier = next;
  }
  if (!seen.has(ctx.wanted)) return { plan: undefined, furthest };
  const plan: LtxFileInfo[] = [];
  for (let at = ctx.wanted; at !== start.maxTxid; ) {
    const f = prev.get(at) as LtxFileInfo;
    plan.unshift(f);
    at = f.minTxid - 1n;
  }
  return { plan: [start, ...plan], furthest };
}

function describeTarget(t: RestoreTarget): string {
  if (t.txid !== undefined) return `TXID ${formatTxid(t.txid)}`;
  if (t.timestamp) return t.timestamp.toISOString();
  return "the latest TXID";
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sig(o: SignalOptions): SignalOptions {
  return o.signal ? { signal: o.signal } : {};
}
