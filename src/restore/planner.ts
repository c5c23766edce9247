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

/** Lists every LTX file of every level (0..9). */
export async function listAllLtxFiles(client: ReplicaClient, options: SignalOptions = {}): Promise<LtxFileInfo[]> {
  const all: LtxFileInfo[] = [];
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

  const snapshots = files
    .filter((f) => f.minTxid === 1n)
    .sort((a, b) => cmp(b.maxTxid, a.maxTxid) || b.level - a.level);
  let start: LtxFileInfo | undefined;
  for (const s of snapshots) {
    if (await fits(s)) {
      start = s;
      break;
    }
  }
  if (!start) {
    throw new NoRestorePointError(
      `Cannot restore from '${client.location}': no snapshot at or before ${describeTarget(target)}`,
    );
  }
  const plan: LtxFileInfo[] = [start];
  let pos = start.maxTxid;
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) {
    if (f.level === SNAPSHOT_LEVEL || f.minTxid === 1n) continue;
    const list = byMin.get(f.minTxid) ?? [];
    list.push(f);
    byMin.set(f.minTxid, list);
  }
  for (;;) {
    const next = (byMin.get(pos + 1n) ?? []).sort((a, b) => cmp(b.maxTxid, a.maxTxid) || b.level - a.level);
    let chosen: LtxFileInfo | undefined;
    for (const f of next) {
      if (await fits(f)) {
        chosen = f;
        break;
      }
    }
    if (!chosen) break;
    plan.push(chosen);
    pos = chosen.maxTxid;
  }
  // A gap must never silently yield an older database: the plan has to reach
  // the newest file that fits the target.
  let wanted = target.txid;
  if (wanted === undefined && target.timestamp === undefined) wanted = maxTxidOf(files);
  if (wanted === undefined) {
    for (const f of [...files].sort((a, b) => cmp(b.maxTxid, a.maxTxid))) {
      if (f.maxTxid <= pos) break;
      if (await fits(f)) {
        wanted = f.maxTxid;
        break;
      }
    }
  }
  if (wanted !== undefined && pos !== wanted) {
    throw new NoRestorePointError(
      `Cannot restore TXID ${formatTxid(wanted)} from '${client.location}': the chain of files ends at ` +
        `${formatTxid(pos)} (file ${formatTxid(pos + 1n as Txid)} is missing); restore an earlier --txid or repair the replica`,
    );
  }
  const last = plan[plan.length - 1] as LtxFileInfo;
  return { files: plan, txid: pos, timestamp: times.get(last) };
}

/** A message-friendly name for one file of a replica. */
export function describe(client: ReplicaClient, f: LtxFileInfo | { level: number; minTxid: Txid; maxTxid: Txid }): string {
  return `${client.location} level ${f.level} ${formatLtxFileName(f.minTxid, f.maxTxid)}`;
}

function maxTxidOf(files: readonly LtxFileInfo[]): Txid {
  return files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), files[0]?.maxTxid ?? (0n as Txid));
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
