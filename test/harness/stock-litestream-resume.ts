/**
 * A model of how stock Litestream v0.5 resumes replication of a database
 * whose file replica another tool (litefleet) wrote, re-implemented from
 * reading its `db.go` and `wal_reader.go` (issue #14): on start with an empty
 * local state it finds the database "behind" the replica and downloads the
 * replica's newest L0 file (`checkDatabaseBehindReplica`); `Pos()` then
 * verifies that file and takes its post-apply position; every sync's
 * `verify` opens the local L0 file named `TXID-TXID`, resumes at its
 * `WALOffset + WALSize` and checks the live `-wal` against it (salts, the
 * frame just before the offset and that page's bytes in the file, the
 * restart detection); `sync` then reads the WAL from there and writes the
 * next L0 file `TXID+1` (NoChecksum, with WAL fields).
 *
 * {@linkcode stockResume} answers what stock's first sync decides;
 * {@linkcode stockNextL0} performs its incremental write into the replica,
 * so a test can restore the result and compare it with the live database.
 * Both read and write a file replica directory; {@linkcode stockResumeVia}
 * and {@linkcode stockNextL0Via} do the same through a `ReplicaClient`
 * (an S3 replica: stock's `MaxLTXFileInfo`, `OpenLTXFile`, `WriteLTXFile`).
 *
 * @module
 */

import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { verifyLtxFile, type LtxFile } from "../../src/ltx/decoder.ts";
import { encodeLtxFile } from "../../src/ltx/encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "../../src/ltx/header.ts";
import { lockPageNumber } from "../../src/ltx/checksum.ts";
import { txid, type Txid } from "../../src/ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../../src/replica/client.ts";
import { walChecksum, type WalChecksum } from "../../src/sqlite/wal-reader.ts";

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

/** What stock Litestream's first sync after start decides. */
export interface StockResume {
  readonly decision: "incremental" | "snapshot" | "error";
  /** Why (stock's snapshot reason or error message); empty for an incremental resume. */
  readonly reason: string;
  /** WAL offset the next sync reads from. */
  readonly offset: number;
  /** The position: TXID of the newest L0 file, and the WAL salts the next read expects. */
  readonly txid: Txid;
  readonly salts: readonly [number, number];
  /** Database size in pages at that position (`prevCommit`). */
  readonly commit: number;
}

/** The replica's newest level-0 file (`MaxLTXFileInfo(0)`: the highest max TXID). */
function newestL0(replicaDir: string): { name: string; min: bigint; max: bigint } | undefined {
  const dir = join(replicaDir, "ltx", "0");
  if (!existsSync(dir)) return undefined;
  let best: { name: string; min: bigint; max: bigint } | undefined;
  for (const name of readdirSync(dir)) {
    const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/.exec(name);
    if (!m) continue;
    const min = BigInt(`0x${m[1]}`);
    const max = BigInt(`0x${m[2]}`);
    if (!best || max > best.max) best = { name, min, max };
  }
  return best;
}

function readAt(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const out = new Uint8Array(length);
    const n = readSync(fd, out, 0, length, offset);
    return out.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function fileSize(path: string): number {
  const fd = openSync(path, "r");
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
}

/** The replica's newest L0 file as stock downloads it: its name's TXID range and its bytes. */
interface DownloadedTip {
  readonly name: string;
  readonly min: bigint;
  readonly max: bigint;
  readonly bytes: Uint8Array;
}

/**
 * What stock Litestream v0.5 decides at its first sync of `dbPath` when it
 * starts with an empty local state on top of the file replica `replicaDir`.
 */
export function stockResume(dbPath: string, replicaDir: string): StockResume {
  // checkDatabaseBehindReplica: local position 0 < the replica's max ⇒ download its newest L0 `min-max`.
  const tip = newestL0(replicaDir);
  const bytes = tip && readFileSync(join(replicaDir, "ltx", "0", tip.name));
  return resumeFromTip(dbPath, tip && bytes ? { ...tip, bytes } : undefined);
}

/**
 * {@linkcode stockResume} over any replica (S3 included) through its
 * `ReplicaClient`, as stock does it: `MaxLTXFileInfo(0)` (the level-0 file
 * with the highest max TXID, from a listing), then `OpenLTXFile` of it into
 * the local L0 directory.
 */
export async function stockResumeVia(dbPath: string, client: ReplicaClient): Promise<StockResume> {
  let tip: LtxFileInfo | undefined;
  for await (const f of client.listLtxFiles(0)) if (!tip || f.maxTxid > tip.maxTxid) tip = f;
  if (!tip) return resumeFromTip(dbPath, undefined);
  const chunks: Uint8Array[] = [];
  for await (const chunk of await client.openLtxFile(tip)) chunks.push(chunk);
  return resumeFromTip(dbPath, {
    name: ltxName(tip.minTxid, tip.maxTxid),
    min: tip.minTxid,
    max: tip.maxTxid,
    bytes: Buffer.concat(chunks),
  });
}

function ltxName(min: bigint, max: bigint): string {
  return `${min.toString(16).padStart(16, "0")}-${max.toString(16).padStart(16, "0")}.ltx`;
}

/** Stock's first sync once the replica's newest L0 file (if any) is its local L0 file. */
function resumeFromTip(dbPath: string, tip: DownloadedTip | undefined): StockResume {
  const walPath = `${dbPath}-wal`;
  const none = { offset: WAL_HEADER, txid: txid(0), salts: [0, 0] as const, commit: 0 };
  if (!tip) return { decision: "snapshot", reason: "first sync", ...none };
  // Pos(): the newest local L0 file, fully verified (`dec.Verify()`), its post-apply TXID.
  let file: LtxFile;
  try {
    file = verifyLtxFile(tip.bytes, { path: tip.name });
  } catch (err) {
    return { decision: "error", reason: `pos: verify: ${String(err)}`, ...none };
  }
  const pos = file.header.maxTxid;
  // verifyWithExecutor: opens the local L0 named `TXID-TXID`.
  if (tip.min !== pos) {
    return {
      decision: "error",
      reason: `open ${ltxName(pos, pos)}: no such file`,
      ...none,
      txid: pos,
    };
  }
  const h = file.header;
  const pageSize = h.pageSize;
  const frameSize = FRAME_HEADER + pageSize;
  let offset = Number(h.walOffset + h.walSize);
  const base = { txid: pos, salts: [h.walSalt1, h.walSalt2] as const, commit: h.commit };
  // A fresh start has not synced to the WAL's end, so a shorter WAL is "truncated by another process".
  if (offset > fileSize(walPath)) {
    return { decision: "snapshot", reason: "wal truncated by another process", offset, ...base };
  }
  const hdr = readAt(walPath, 0, WAL_HEADER);
  if (hdr.length < WAL_HEADER) return { decision: "error", reason: "cannot read wal header", offset, ...base };
  const salt1 = u32(hdr, 16);
  const salt2 = u32(hdr, 20);
  const saltMatch = salt1 === h.walSalt1 && salt2 === h.walSalt2;
  if (offset === WAL_HEADER) {
    return saltMatch
      ? { decision: "incremental", reason: "", offset, ...base }
      : { decision: "snapshot", reason: "wal header salt reset, snapshotting", offset, ...base };
  }
  const prev = offset - frameSize;
  if (prev === WAL_HEADER) {
    return saltMatch
      ? { decision: "incremental", reason: "", offset, ...base }
      : { decision: "snapshot", reason: "wal header salt reset, snapshotting", offset, ...base };
  }
  if (prev < WAL_HEADER) {
    return { decision: "error", reason: `prev WAL offset is less than the header size: ${prev}`, offset, ...base };
  }
  // lastPageMatch: the frame before the offset carries the file's salts and its page is in the file, same bytes.
  const frame = readAt(walPath, prev, frameSize);
  if (frame.length < frameSize) {
    return { decision: "error", reason: "cannot read last synced wal page", offset, ...base };
  }
  const pgno = u32(frame, 0);
  let match = u32(frame, 8) === h.walSalt1 && u32(frame, 12) === h.walSalt2;
  if (match) {
    const data = frame.subarray(FRAME_HEADER);
    match = false;
    for (const p of file.pages()) if (p.pgno === pgno && Buffer.compare(p.data, data) === 0) match = true;
  }
  if (!match) {
    return {
      decision: "snapshot",
      reason: "last page does not exist in last ltx file, wal overwritten by another process",
      offset,
      ...base,
    };
  }
  if (!saltMatch) {
    // The WAL restarted: continue at its start unless a salt neither side knows shows a FULL/RESTART checkpoint.
    offset = WAL_HEADER;
    const known = [
      [salt1, salt2],
      [h.walSalt1, h.walSalt2],
    ] as const;
    const seen = frameSaltsUntil(walPath, pageSize, known[1]);
    for (const [a, b] of known) seen.delete(`${a}:${b}`);
    const restarted = { offset, txid: pos, salts: [salt1, salt2] as const, commit: h.commit };
    return seen.size >= 1
      ? { decision: "snapshot", reason: "full or restart checkpoint detected, snapshotting", ...restarted }
      : { decision: "incremental", reason: "", ...restarted };
  }
  return { decision: "incremental", reason: "", offset, ...base };
}

/** `FrameSaltsUntil`: every frame header's salts from offset 32 until `until` is seen (inclusive). */
function frameSaltsUntil(walPath: string, pageSize: number, until: readonly [number, number]): Set<string> {
  const seen = new Set<string>();
  const size = fileSize(walPath);
  for (let at = WAL_HEADER; at + FRAME_HEADER <= size; at += FRAME_HEADER + pageSize) {
    const fh = readAt(walPath, at, FRAME_HEADER);
    const s1 = u32(fh, 8);
    const s2 = u32(fh, 12);
    seen.add(`${s1}:${s2}`);
    if (s1 === until[0] && s2 === until[1]) break;
  }
  return seen;
}

/**
 * Stock's incremental sync after `resume`: reads the committed frames from
 * `resume.offset` (salts and cumulative checksums checked, as its
 * `WALReader` does; the checksum seeded from the previous frame, unverified),
 * and writes L0 `TXID+1` into the replica — NoChecksum, WAL fields of what it
 * read, the latest copy of each page plus the pages the database grew by
 * read from the database file. Returns the TXID written, or undefined when
 * there was nothing new (stock writes nothing then).
 */
export function stockNextL0(dbPath: string, replicaDir: string, resume: StockResume): Txid | undefined {
  const next = encodeNextL0(dbPath, resume);
  if (!next) return undefined;
  writeFileSync(join(replicaDir, "ltx", "0", ltxName(next.txid, next.txid)), next.bytes);
  return next.txid;
}

/**
 * {@linkcode stockNextL0} into any replica through its `ReplicaClient`
 * (stock's `WriteLTXFile` of the new L0 file; on S3 one PUT of
 * `<prefix>/0000/<TXID>-<TXID>.ltx`).
 */
export async function stockNextL0Via(
  dbPath: string,
  client: ReplicaClient,
  resume: StockResume,
): Promise<Txid | undefined> {
  const next = encodeNextL0(dbPath, resume);
  if (!next) return undefined;
  await client.writeLtxFile({ level: 0, minTxid: next.txid, maxTxid: next.txid }, next.bytes, {
    timestamp: new Date(next.timestamp),
  });
  return next.txid;
}

/** The bytes of stock's next L0 file after `resume` (see {@linkcode stockNextL0}), or undefined when nothing is new. */
function encodeNextL0(
  dbPath: string,
  resume: StockResume,
): { txid: Txid; bytes: Uint8Array; timestamp: number } | undefined {
  if (resume.decision !== "incremental") {
    throw new RangeError(`Cannot model stock's incremental write: stock decided '${resume.decision}'`);
  }
  const walPath = `${dbPath}-wal`;
  const hdr = readAt(walPath, 0, WAL_HEADER);
  const bigEndian = u32(hdr, 0) === 0x377f0683;
  const pageSize = u32(hdr, 8);
  const frameSize = FRAME_HEADER + pageSize;
  let salts: readonly [number, number] = [u32(hdr, 16), u32(hdr, 20)];
  let seed: WalChecksum = [u32(hdr, 24), u32(hdr, 28)];
  let offset = resume.offset;
  if (offset !== WAL_HEADER) {
    // NewWALReaderWithOffset: the given salts; the previous frame's stored checksum as the seed.
    const prev = readAt(walPath, offset - frameSize, FRAME_HEADER);
    if (u32(prev, 8) === resume.salts[0] && u32(prev, 12) === resume.salts[1]) {
      salts = resume.salts;
      seed = [u32(prev, 16), u32(prev, 20)];
    } else {
      offset = WAL_HEADER; // a previous-frame mismatch: stock reads the whole WAL again
    }
  }
  const size = fileSize(walPath);
  const committed = new Map<number, number>();
  let pending = new Map<number, number>();
  let commit = 0;
  let sum = seed;
  for (let at = offset; at + frameSize <= size; at += frameSize) {
    const frame = readAt(walPath, at, frameSize);
    if (u32(frame, 8) !== salts[0] || u32(frame, 12) !== salts[1]) break;
    sum = walChecksum(bigEndian, frame.subarray(0, 8), sum);
    sum = walChecksum(bigEndian, frame.subarray(FRAME_HEADER), sum);
    if (sum[0] !== u32(frame, 16) || sum[1] !== u32(frame, 20)) break;
    pending.set(u32(frame, 0), at);
    if (u32(frame, 4) !== 0) {
      for (const [p, o] of pending) committed.set(p, o);
      pending = new Map();
      commit = u32(frame, 4);
    }
  }
  for (const p of [...committed.keys()]) if (p > commit) committed.delete(p);
  if (committed.size === 0) return undefined;
  const end = Math.max(...committed.values()) + frameSize;
  const lock = lockPageNumber(pageSize);
  const pgnos = new Set(committed.keys());
  for (let p = resume.commit + 1; p <= commit; p++) if (p !== lock) pgnos.add(p);
  const next = txid(resume.txid + 1n);
  const timestamp = Date.now();
  const header = newLtxHeader({
    flags: HEADER_FLAG_NO_CHECKSUM,
    pageSize,
    commit,
    minTxid: next,
    maxTxid: next,
    timestamp,
    walOffset: BigInt(offset),
    walSize: BigInt(end - offset),
    walSalt1: salts[0],
    walSalt2: salts[1],
  });
  const pages = [...pgnos]
    .sort((a, b) => a - b)
    .map((pgno) => {
      const at = committed.get(pgno);
      const data =
        at === undefined
          ? readAt(dbPath, (pgno - 1) * pageSize, pageSize)
          : readAt(walPath, at + FRAME_HEADER, pageSize);
      return { pgno, data };
    });
  return { txid: next, bytes: encodeLtxFile(header, pages, 0n), timestamp };
}
