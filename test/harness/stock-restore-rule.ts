/**
 * A model of how stock Litestream v0.5.16 `restore` treats a replica, built
 * from its sources (`CalcRestorePlan` and `Replica.Restore` in
 * litestream's `replica.go`, `Compactor.Compact` and the encoder's trailer
 * check in superfly/ltx) with this project's own decoder and encoder, so a
 * test can tell whether stock restore would take a replica without a Go
 * toolchain here:
 *
 * - the plan: the newest snapshot at or before the target, then, from every
 *   level 8 down to 0, the file that extends the TXID range furthest
 *   (ties: the lower MinTXID, then the higher level, then the older
 *   file), until the target; for the latest state a file starting past the
 *   range is a gap;
 * - the plan runs through one compaction whose output has the NoChecksum
 *   flag, the first input's pre-apply checksum, the last input's commit and
 *   the **last input's post-apply checksum**, which the encoder refuses on a
 *   NoChecksum file ("post-apply checksum not allowed");
 * - each input's own file checksum (and a checked snapshot's post-apply
 *   checksum) is verified as it is read, as ltx's decoder does;
 * - the output must be a snapshot; its pages are the database.
 *
 * @module
 */

import { LtxEncoder } from "../../src/ltx/encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader, type LtxHeader, type LtxTrailer } from "../../src/ltx/header.ts";
import { decodeLtxFile } from "../../src/ltx/decoder.ts";
import { decodeLtxStream } from "../../src/ltx/stream-decoder.ts";
import type { Txid } from "../../src/ltx/txid.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type ReplicaClient } from "../../src/replica/client.ts";

/** What stock restore is asked for: the latest state, a TXID, or a time (exclusive). */
export interface StockTarget {
  readonly txid?: Txid;
  readonly timestamp?: Date;
}

/** A refusal of stock restore, with the message stock prints. */
export class StockRestoreError extends Error {
  override name = "StockRestoreError";
}

/** `restoreCandidateBetter`: whether `next` beats `curr`. */
function better(curr: LtxFileInfo, next: LtxFileInfo): boolean {
  if (next.maxTxid !== curr.maxTxid) return next.maxTxid > curr.maxTxid;
  if (next.minTxid !== curr.minTxid) return next.minTxid < curr.minTxid;
  if (next.level !== curr.level) return next.level > curr.level;
  return next.createdAt.getTime() < curr.createdAt.getTime();
}

async function listLevel(client: ReplicaClient, level: number): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.listLtxFiles(level)) out.push(f);
  return out;
}

/** One level's files with a read position and the best file found so far. */
class Cursor {
  at = 0;
  candidate: LtxFileInfo | undefined;
  constructor(readonly files: LtxFileInfo[]) {}

  /** The next unread file. */
  get current(): LtxFileInfo | undefined {
    return this.files[this.at];
  }

  /** Reads every file that could continue `currentMax`, keeping the best that fits the target. */
  refresh(currentMax: bigint, target: StockTarget): void {
    if (this.candidate !== undefined && this.candidate.maxTxid <= currentMax) this.candidate = undefined;
    for (let info = this.current; info !== undefined && info.minTxid <= currentMax + 1n; info = this.current) {
      this.at++;
      if (info.maxTxid <= currentMax) continue;
      if (target.txid !== undefined && info.maxTxid > target.txid) continue;
      if (target.timestamp !== undefined && !(info.createdAt.getTime() < target.timestamp.getTime())) continue;
      if (this.candidate === undefined || better(this.candidate, info)) this.candidate = info;
    }
  }
}

/**
 * The files stock restore would apply, in order (`CalcRestorePlan`).
 * @throws {StockRestoreError} when stock finds no plan
 */
export async function stockRestorePlan(client: ReplicaClient, target: StockTarget = {}): Promise<LtxFileInfo[]> {
  const plan: LtxFileInfo[] = [];
  let snapshot: LtxFileInfo | undefined;
  for (const info of await listLevel(client, SNAPSHOT_LEVEL)) {
    if (target.txid !== undefined && info.maxTxid > target.txid) continue;
    if (target.timestamp !== undefined && !(info.createdAt.getTime() < target.timestamp.getTime())) continue;
    snapshot = info;
  }
  if (snapshot !== undefined) plan.push(snapshot);
  let currentMax: bigint = snapshot?.maxTxid ?? 0n;
  if (target.txid !== undefined && currentMax >= target.txid) return plan;
  const cursors: Cursor[] = [];
  for (let level = SNAPSHOT_LEVEL - 1; level >= 0; level--) cursors.push(new Cursor(await listLevel(client, level)));
  for (;;) {
    let next: Cursor | undefined;
    for (const c of cursors) {
      c.refresh(currentMax, target);
      if (c.candidate !== undefined && (next === undefined || better(next.candidate!, c.candidate))) next = c;
    }
    if (next === undefined) break;
    const chosen = next.candidate!;
    next.candidate = undefined;
    if (chosen.maxTxid <= currentMax) continue;
    plan.push(chosen);
    currentMax = chosen.maxTxid;
    if (target.txid !== undefined && currentMax >= target.txid) break;
  }
  if (plan.length > 0 && target.txid === undefined && target.timestamp === undefined) {
    for (const c of cursors) {
      const cur = c.current;
      if (cur !== undefined && cur.minTxid > currentMax + 1n) {
        throw new StockRestoreError(
          `cannot calc restore plan: non-contiguous ltx files: have up to ${currentMax} but next file starts at ${cur.minTxid}`,
        );
      }
    }
  }
  if (plan.length === 0 || (target.txid !== undefined && currentMax < target.txid)) {
    throw new StockRestoreError("cannot calc restore plan: transaction not available");
  }
  return plan;
}

/**
 * The database stock restore would write for `plan`: the plan compacted
 * into one NoChecksum file (checked as stock's encoder checks it), decoded.
 * @throws {StockRestoreError} with stock's message where stock refuses
 * @throws {CorruptFileError|ChecksumMismatchError} when an input fails its own checks
 */
export async function stockRestore(client: ReplicaClient, plan: readonly LtxFileInfo[]): Promise<Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  let first: LtxHeader | undefined;
  let last: { header: LtxHeader; trailer: LtxTrailer } | undefined;
  for (const info of plan) {
    const file = await decodeLtxStream(await client.openLtxFile(info), { path: `${info.level}/${info.minTxid}` });
    const h = file.header;
    if (last !== undefined) {
      if (h.pageSize !== last.header.pageSize) throw new StockRestoreError("input files have mismatched page sizes");
      if (!(h.minTxid <= last.header.maxTxid + 1n && h.maxTxid > last.header.maxTxid)) {
        throw new StockRestoreError("non-contiguous transaction ids in input files");
      }
    }
    // Later inputs win a page (the compactor reads every input at each page number and keeps the newest).
    for await (const { pgno, data } of file.pages()) pages.set(pgno, data.slice());
    first ??= h;
    last = { header: h, trailer: file.trailer };
  }
  if (first === undefined || last === undefined) throw new StockRestoreError("no matching backup files available");
  const header = newLtxHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize: first.pageSize,
    commit: last.header.commit,
    minTxid: first.minTxid,
    maxTxid: last.header.maxTxid,
    timestamp: last.header.timestamp,
    preApplyChecksum: first.preApplyChecksum,
  });
  const chunks: Uint8Array[] = [];
  let enc: LtxEncoder;
  try {
    enc = new LtxEncoder(header, (c) => chunks.push(c.slice()));
  } catch (err) {
    throw new StockRestoreError(`decode database: write header: ${(err as Error).message}`);
  }
  for (const pgno of [...pages.keys()].sort((a, b) => a - b)) {
    if (pgno <= header.commit) enc.encodePage(pgno, pages.get(pgno)!);
  }
  try {
    enc.finish(last.trailer.postApplyChecksum);
  } catch (err) {
    // Our encoder checks the trailer as ltx's does, in its own words.
    if (/post-apply checksum is not allowed with NoChecksum/.test((err as Error).message)) {
      throw new StockRestoreError("decode database: close encoder: validate trailer: post-apply checksum not allowed");
    }
    throw err;
  }
  const bytes = Buffer.concat(chunks);
  const out = decodeLtxFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { path: "compacted" });
  if (out.header.minTxid !== 1n) {
    throw new StockRestoreError("decode database: cannot decode non-snapshot LTX file to SQLite database");
  }
  const db = new Uint8Array(out.header.commit * out.header.pageSize);
  for (const pgno of out.pageNumbers) db.set(out.page(pgno), (pgno - 1) * out.header.pageSize);
  return db;
}
