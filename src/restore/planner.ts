/**
 * Restore planning: the TXID to reach (the target TXID, the latest, or the
 * newest state whose LTX header timestamp is at or before the target time),
 * then the newest snapshot at or below it and the chain of files with the
 * fewest files from there (compacted levels first).
 *
 * Works over any `ReplicaClient`.
 *
 * @module
 */

import { decodeHeader, HEADER_SIZE, TRAILER_SIZE } from "../ltx/header.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { NoRestorePointError } from "../errors.ts";
import { describe, listAllLtxFiles } from "../replica/ltx-files.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type ReplicaClient, type SignalOptions } from "../replica/client.ts";

/** What to restore to. Neither set = the latest state. */
export interface RestoreTarget {
  readonly txid?: Txid;
  /** Restore the last state whose LTX header timestamp is at or before this time. */
  readonly timestamp?: Date;
}

/** Files to apply, in order. */
export interface RestorePlan {
  readonly files: readonly LtxFileInfo[];
  /** The TXID the database will be at. */
  readonly txid: Txid;
  /** For a timestamp target, the LTX timestamp (ms) of the state restored. */
  readonly timestamp: number | undefined;
}

// Moved (architecture-next move 1); re-exported so callers outside this change keep their import.
export { NoRestorePointError } from "../errors.ts";
export { describe, listAllLtxFiles } from "../replica/ltx-files.ts";

/**
 * Plans a restore. For a timestamp target, the TXID to reach is the newest
 * one whose state's LTX header timestamp is at or before the target (see
 * `wantedTxid`); listed object times are never trusted for that.
 * @throws {NoRestorePointError} when nothing fits or the chain has a gap before the target;
 *   for a `txid` target that no plan reaches exactly, the message names the
 *   restore points around it (see `notRestorable`)
 */
export async function planRestore(
  client: ReplicaClient,
  target: RestoreTarget,
  options: SignalOptions & { files?: readonly LtxFileInfo[] } = {},
): Promise<RestorePlan> {
  const files = options.files ?? (await listAllLtxFiles(client, options));
  // An object too small to hold a header and a trailer is not an LTX file
  // (a storage that kept part of a failed upload): plan around it where
  // another chain reaches the target, else keep it in the plan, so that
  // applying it names the damaged object.
  const usable = files.filter(couldBeLtxFile);
  if (usable.length < files.length) {
    try {
      return await planOver(client, target, usable, options);
    } catch (err) {
      if (!(err instanceof NoRestorePointError)) throw err;
    }
  }
  return planOver(client, target, files, options);
}

async function planOver(
  client: ReplicaClient,
  target: RestoreTarget,
  files: readonly LtxFileInfo[],
  options: SignalOptions,
): Promise<RestorePlan> {
  if (files.length === 0) {
    throw new NoRestorePointError(`Cannot restore from '${client.location}': the replica holds no LTX files`);
  }
  const wanted = await wantedTxid(client, files, target, options);
  if (wanted.txid === undefined) {
    throw new NoRestorePointError(
      `Cannot restore from '${client.location}': no LTX file at or before ${describeTarget(target)}`,
    );
  }
  const snapshots = files
    .filter((f) => f.minTxid === 1n && (wanted.txid === undefined || f.maxTxid <= wanted.txid))
    .sort((a, b) => cmp(b.maxTxid, a.maxTxid) || b.level - a.level);
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) {
    if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n) continue;
    if (wanted.txid !== undefined && f.maxTxid > wanted.txid) continue;
    const list = byMin.get(f.minTxid) ?? [];
    list.push(f);
    byMin.set(f.minTxid, list);
  }
  let furthest = 0n;
  let plan: LtxFileInfo[] | undefined;
  for (const s of snapshots) {
    const chain = await shortestChain(s, { byMin, wanted: wanted.txid ?? s.maxTxid });
    if (chain.plan) {
      plan = chain.plan;
      break;
    }
    if (chain.furthest > furthest) furthest = chain.furthest;
  }
  if (!plan) {
    if (target.txid !== undefined) throw await notRestorable(client, files, target.txid, options);
    if (snapshots.length === 0 || furthest === 0n) {
      throw new NoRestorePointError(
        `Cannot restore from '${client.location}': no snapshot at or before ${describeTarget(target)}`,
      );
    }
    throw new NoRestorePointError(
      `Cannot restore TXID ${formatTxid(wanted.txid as Txid)} from '${client.location}': the chain of files ends at ` +
        `${formatTxid(furthest as Txid)} (file ${formatTxid((furthest + 1n) as Txid)} is missing); restore an earlier --txid or repair the replica`,
    );
  }
  const pos = (plan[plan.length - 1] as LtxFileInfo).maxTxid;
  return { files: plan, txid: pos as Txid, timestamp: wanted.timestamp };
}

/**
 * Every TXID a plan can reach exactly, ascending: the ends of files that a
 * contiguous chain from some snapshot leads to. A TXID inside a file (a
 * batch of transactions uploaded as one file, or a compaction) is not one.
 */
export function restorePoints(files: readonly LtxFileInfo[]): Txid[] {
  const byMin = new Map<bigint, LtxFileInfo[]>();
  const reached = new Set<bigint>();
  let frontier: bigint[] = [];
  for (const f of files) {
    if (f.minTxid === 1n) {
      if (!reached.has(f.maxTxid)) frontier.push(f.maxTxid);
      reached.add(f.maxTxid);
    } else if (f.level !== SNAPSHOT_LEVEL) {
      const list = byMin.get(f.minTxid) ?? [];
      list.push(f);
      byMin.set(f.minTxid, list);
    }
  }
  while (frontier.length > 0) {
    const next: bigint[] = [];
    for (const pos of frontier) {
      for (const f of byMin.get(pos + 1n) ?? []) {
        if (reached.has(f.maxTxid)) continue;
        reached.add(f.maxTxid);
        next.push(f.maxTxid);
      }
    }
    frontier = next;
  }
  return ([...reached] as Txid[]).sort(cmp);
}

/**
 * Why no plan reaches exactly `wanted`, with the restore points around it
 * (TXID and LTX header time): `wanted` lies inside a batch, past the end of
 * the replica, before its earliest restore point, or behind a gap in the
 * chain (only the last is damage, and only it says to repair the replica).
 */
async function notRestorable(
  client: ReplicaClient,
  files: readonly LtxFileInfo[],
  wanted: Txid,
  options: SignalOptions,
): Promise<NoRestorePointError> {
  const prefix = `Cannot restore TXID ${formatTxid(wanted)} from '${client.location}'`;
  const points = restorePoints(files);
  const latest = points.at(-1);
  if (latest === undefined) {
    return new NoRestorePointError(
      `${prefix}: the replica holds no snapshot (no file starts at TXID ${formatTxid(1n as Txid)}); repair the replica`,
    );
  }
  const above = points.find((p) => p > wanted);
  const below = points.filter((p) => p < wanted).at(-1);
  const point = (t: Txid) => describePoint(client, files, t, options);
  const newest = files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
  if (wanted > newest) {
    const end =
      latest < newest
        ? `; the chain of files ends there (file ${formatTxid((latest + 1n) as Txid)} is missing, so the files up to ${formatTxid(newest as Txid)} cannot be applied): restore --txid ${formatTxid(latest)} or repair the replica`
        : `: restore it with --txid ${formatTxid(latest)}, or leave out --txid for the latest state`;
    return new NoRestorePointError(
      `${prefix}: it is past the end of the replica; the latest restore point is ${await point(latest)}${end}`,
    );
  }
  if (below === undefined) {
    const earliest = above as Txid;
    return new NoRestorePointError(
      `${prefix}: it is not a restore point: it is older than the replica's earliest restore point ${await point(earliest)} (no snapshot at or before it is kept); restore --txid ${formatTxid(earliest)} or later`,
    );
  }
  const batch = files
    .filter((f) => f.minTxid === below + 1n && f.level !== SNAPSHOT_LEVEL && f.maxTxid > wanted)
    .sort((a, b) => cmp(a.maxTxid, b.maxTxid))[0];
  if (batch) {
    return new NoRestorePointError(
      `${prefix}: it is not a restore point: TXIDs ${formatTxid(batch.minTxid)}-${formatTxid(batch.maxTxid)} were replicated ` +
        `together in one file (level ${batch.level}), so the replica holds no state between them; the nearest restore points are ` +
        `${await point(below)} and ${await point(above as Txid)}: restore one of them with --txid`,
    );
  }
  // Nothing starts right after `below` (a file ending in (below, wanted]
  // would be a nearer restore point): the chain is broken there.
  const after = above === undefined ? "" : ` and, after the gap, ${await point(above)}`;
  return new NoRestorePointError(
    `${prefix}: the chain of files ends at ${formatTxid(below)} (file ${formatTxid((below + 1n) as Txid)} is missing); ` +
      `the nearest restore points are ${await point(below)}${after}: restore one of them with --txid or repair the replica`,
  );
}

/**
 * A restore point for messages: its TXID and the time of the state there
 * (the earliest LTX header timestamp among the files ending at it, as
 * `--timestamp` dates it), when a file there can be read.
 */
async function describePoint(
  client: ReplicaClient,
  files: readonly LtxFileInfo[],
  at: Txid,
  options: SignalOptions,
): Promise<string> {
  const ending = files.filter((f) => f.maxTxid === at && couldBeLtxFile(f)).slice(0, HEADER_READ_CONCURRENCY);
  if (ending.length === 0) return formatTxid(at);
  const times = await Promise.all(ending.map((f) => headerTimestamp(client, f, options)));
  return `${formatTxid(at)} (${new Date(Math.min(...times)).toISOString()})`;
}

/** How many LTX headers a timestamp restore reads at once. */
export const HEADER_READ_CONCURRENCY = 16;

/**
 * The TXID a plan must reach, and for a timestamp target the LTX timestamp
 * of the state there.
 *
 * A file's time is its LTX header timestamp (Unix ms, stamped by the
 * device's clock when the file was made); the time of the state at TXID x
 * is the earliest timestamp among the files ending at x (a level-9
 * snapshot of x is made later than the level-0 file that reached x, a
 * compaction takes its last input's timestamp). Listed times are never
 * used: S3's `LastModified` is the storage's clock at upload, truncated to
 * whole seconds (issue #11: a file stamped 20:18:52.465 listed as
 * 20:18:52), and a file replica's mtime is only as exact as the file
 * system and whatever copied the files keep it. So the headers of the files
 * ending at each TXID are read, newest TXID first, `HEADER_READ_CONCURRENCY`
 * at a time, until a state at or before the target turns up.
 *
 * Only this TXID depends on time: the database at a TXID is the same
 * whichever files lead there, so snapshots and chain files are not checked
 * against the target.
 */
async function wantedTxid(
  client: ReplicaClient,
  files: readonly LtxFileInfo[],
  target: RestoreTarget,
  options: SignalOptions,
): Promise<{ txid: Txid | undefined; timestamp: number | undefined }> {
  const candidates = files.filter((f) => target.txid === undefined || f.maxTxid <= target.txid);
  if (target.timestamp === undefined) {
    if (target.txid !== undefined) return { txid: target.txid, timestamp: undefined };
    const newest = candidates.reduce<Txid | undefined>(
      (m, f) => (m === undefined || f.maxTxid > m ? f.maxTxid : m),
      undefined,
    );
    return { txid: newest, timestamp: undefined };
  }
  const limit = target.timestamp.getTime();
  // Newest TXID first; within one TXID, levels below 9 first (a snapshot is stamped later).
  const order = [...candidates].sort((a, b) => cmp(b.maxTxid, a.maxTxid) || a.level - b.level);
  const times = new Map<LtxFileInfo, number>();
  let at = 0;
  while (at < order.length) {
    // Read whole TXID groups, at least HEADER_READ_CONCURRENCY files per round.
    let end = Math.min(order.length, at + HEADER_READ_CONCURRENCY);
    while (end < order.length && (order[end] as LtxFileInfo).maxTxid === (order[end - 1] as LtxFileInfo).maxTxid) end++;
    const batch = order.slice(at, end);
    for (let i = 0; i < batch.length; i += HEADER_READ_CONCURRENCY) {
      const part = batch.slice(i, i + HEADER_READ_CONCURRENCY);
      const read = await Promise.all(part.map((f) => headerTimestamp(client, f, options)));
      for (const [j, f] of part.entries()) times.set(f, read[j] as number);
    }
    // Stop at the first TXID whose state is at or before the target; a TXID
    // group cut by `end` is complete because `end` never splits one.
    for (const f of batch) {
      const t = times.get(f) as number;
      if (t > limit) continue;
      const group = batch.filter((g) => g.maxTxid === f.maxTxid);
      const earliest = Math.min(...group.map((g) => times.get(g) as number));
      return { txid: f.maxTxid, timestamp: earliest };
    }
    at = end;
  }
  return { txid: undefined, timestamp: undefined };
}

/** The LTX header timestamp of `f` (one ranged read of `HEADER_SIZE` bytes). */
export async function headerTimestamp(client: ReplicaClient, f: LtxFileInfo, options: SignalOptions): Promise<number> {
  const bytes = await client.readLtxFile(f, { offset: 0, size: HEADER_SIZE, ...sig(options) });
  return decodeHeader(bytes, { path: describe(client, f) }).timestamp;
}

/**
 * The fewest files that bring a database at TXID `from` to `wanted`
 * (snapshots excluded: they restart the chain), or undefined when the
 * replica has no contiguous chain from there (retention removed it).
 */
export async function chainFrom(
  files: readonly LtxFileInfo[],
  from: Txid,
  wanted: Txid,
): Promise<LtxFileInfo[] | undefined> {
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) {
    if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n || f.maxTxid > wanted) continue;
    const list = byMin.get(f.minTxid) ?? [];
    list.push(f);
    byMin.set(f.minTxid, list);
  }
  const start = { level: 0, minTxid: from, maxTxid: from, size: 0, createdAt: new Date(0) } as LtxFileInfo;
  const chain = await shortestChain(start, { byMin, wanted });
  return chain.plan?.slice(1);
}

/**
 * Breadth-first search over TXID positions from `start` to `wanted`, each
 * step a file with `min = pos + 1`: the chain with the fewest files (so
 * compacted levels are preferred), never a dead end a greedy choice could
 * walk into.
 */
async function shortestChain(
  start: LtxFileInfo,
  ctx: { byMin: ReadonlyMap<bigint, LtxFileInfo[]>; wanted: bigint },
): Promise<{ plan: LtxFileInfo[] | undefined; furthest: bigint }> {
  const prev = new Map<bigint, LtxFileInfo>();
  let frontier: bigint[] = [start.maxTxid];
  let furthest: bigint = start.maxTxid;
  const seen = new Set<bigint>([start.maxTxid]);
  while (frontier.length > 0 && !seen.has(ctx.wanted)) {
    const next: bigint[] = [];
    for (const pos of frontier) {
      for (const f of ctx.byMin.get(pos + 1n) ?? []) {
        if (seen.has(f.maxTxid)) continue;
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

/** False for a listed object too small to be an LTX file (smaller than a header and a trailer). */
export function couldBeLtxFile(f: LtxFileInfo): boolean {
  return f.size >= HEADER_SIZE + TRAILER_SIZE;
}
