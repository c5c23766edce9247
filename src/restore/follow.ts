/**
 * A continuously updated read copy (`restore --follow`): a restored
 * database that new LTX files are applied to as the replica gets them,
 * safely for readers in other processes.
 *
 * Each new file is downloaded to `<output>-follow.download` (disk, not
 * memory) and verified completely before any page of it is written: the
 * decoder's file checksum and page index, and the pre- and post-apply
 * database checksums against the copy's own page checksums (the applier's
 * `ChainedDatabase`, run on a `fork()` of them without writing). Only then
 * is it applied, under SQLite's own lock: the copy's header says rollback
 * journal (page 1 bytes 18–19 = 1, so SQLite readers take SHARED locks on
 * the file itself rather than use a `-shm`), and an apply holds an
 * EXCLUSIVE lock taken through a SQLite connection (`BEGIN EXCLUSIVE`:
 * readers finish first, new ones wait) while the pages are written through
 * a separate descriptor, the file truncated to the commit, the file change
 * counter (bytes 24–27) bumped so other connections drop their cache, and
 * the file fsynced; `ROLLBACK` releases the lock. Every descriptor of the
 * copy stays open until `close()`, since closing any of them would drop the
 * process's POSIX locks.
 *
 * Crash safety: `follow-state.ts` records the file being applied before its
 * first page is written. A resume finds the copy torn, re-applies that file
 * (every one of its pages is rewritten and the truncate repeated) without
 * the pre-apply check, and checks the post-apply checksum instead.
 *
 * @module
 */

import { closeSync, createReadStream, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CorruptFileError, NoRestorePointError } from "../errors.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { fsyncDir } from "../platform/atomic-write.ts";
import { openFileReader, type RandomAccessReader } from "../platform/random-access.ts";
import { openSqlConnection, type SqlConnection } from "../platform/sqlite.ts";
import type { DatabaseChecksums } from "../ltx/no-checksum.ts";
import {
  SNAPSHOT_LEVEL,
  type LtxFileBody,
  type LtxFileInfo,
  type LtxFileKey,
  type ReplicaClient,
} from "../replica/client.ts";
import { describe, listAllLtxFiles } from "../replica/ltx-files.ts";
import type { IntegrityCheck } from "../sqlite/staged-database.ts";
import { applyRestorePlan, ChainedDatabase, type LtxSource } from "./applier.ts";
import {
  applyingKey,
  readFollowState,
  readTxidFile,
  followStatePath,
  txidPath,
  writeFollowState,
  writeTxidFile,
} from "./follow-state.ts";
import { chainFrom, type RestorePlan } from "./planner.ts";

/** Page-1 offsets of the bytes the copy changes: journal mode (18, 19) and file change counter (24–27). */
const PAGE1_BYTES = [18, 19, 24, 25, 26, 27] as const;

/** How long an apply waits for readers to finish before it gives up (and retries at the next poll). */
export const APPLY_LOCK_TIMEOUT_MS = 10_000;

/** Test seams (in-process only). */
export interface FollowHooks {
  /** Called under the lock after a file's pages are written, before the header is fixed up (a crash there). */
  readonly afterPages?: (info: LtxFileInfo) => void;
}

/** A read copy being kept up to date; see the module documentation. */
export class FollowCopy {
  readonly output: string;
  readonly #fd: number;
  readonly #sql: SqlConnection;
  readonly #db: ChainedDatabase;
  readonly #hooks: FollowHooks;
  /** The source's page-1 bytes at `PAGE1_BYTES`, as the LTX files carry them. */
  #page1: Uint8Array;
  /** The file whose apply was interrupted (the copy may be torn), until it is applied again. */
  #torn: LtxFileKey | undefined;
  #txid: Txid;

  private constructor(
    output: string,
    parts: { fd: number; db: ChainedDatabase; page1: Uint8Array; txid: Txid; torn: LtxFileKey | undefined },
    hooks: FollowHooks,
  ) {
    this.output = output;
    this.#fd = parts.fd;
    this.#db = parts.db;
    this.#page1 = parts.page1;
    this.#txid = parts.txid;
    this.#torn = parts.torn;
    this.#hooks = hooks;
    try {
      this.#sql = openSqlConnection(output, { busyTimeoutMs: APPLY_LOCK_TIMEOUT_MS });
    } catch (err) {
      closeSync(parts.fd);
      throw err;
    }
  }

  /** The TXID the copy is at. */
  get txid(): Txid {
    return this.#txid;
  }

  /** Pages in the copy. */
  get pages(): number {
    return this.#db.commit;
  }

  /** True while the copy may be torn by an interrupted apply (until that file is applied again). */
  get torn(): boolean {
    return this.#torn !== undefined;
  }

  /**
   * Restores `plan` into `output` as `restore` does (staged, verified,
   * checked), switches the copy's header to rollback journal, writes the
   * sidecars, and only then renames it into place.
   */
  static async create(
    client: ReplicaClient,
    plan: RestorePlan,
    options: {
      output: string;
      integrity: IntegrityCheck;
      parallelism: number;
      signal?: AbortSignal;
      hooks?: FollowHooks;
    },
  ): Promise<FollowCopy> {
    const { output } = options;
    const stage = `${output}.follow-restore`;
    rmSync(stage, { force: true });
    const result = await applyRestorePlan(client, plan, {
      output: stage,
      integrity: options.integrity,
      parallelism: options.parallelism,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const db = ChainedDatabase.fromFile(stage, result.pageSize);
    const fd = openSync(stage, "r+");
    try {
      const page1 = readPage1(fd);
      writePatchedHeader(fd, counterOf(page1) + 1);
      fsyncSync(fd);
      await writeFollowState(output, { page1: Buffer.from(page1).toString("hex") });
      await writeTxidFile(output, plan.txid);
      renameSync(stage, output);
      await fsyncDir(dirname(output));
      return new FollowCopy(output, { fd, db, page1, txid: plan.txid, torn: undefined }, options.hooks ?? {});
    } catch (err) {
      closeSync(fd);
      rmSync(stage, { force: true });
      throw err;
    }
  }

  /**
   * Opens a copy an earlier `restore --follow` left at `output`, after
   * checking that the replica still continues from its TXID.
   * @throws {NoRestorePointError} when the sidecars are missing or the TXID is no longer reachable (both files named)
   */
  static async resume(
    client: ReplicaClient,
    output: string,
    options: { files: readonly LtxFileInfo[]; hooks?: FollowHooks },
  ): Promise<FollowCopy> {
    const txid = readTxidFile(output);
    const remove = `delete '${output}' and '${txidPath(output)}' to restore again`;
    if (txid === undefined) {
      throw new NoRestorePointError(
        `Cannot resume follow mode: '${output}' exists but '${txidPath(output)}' does not; delete the database to restore again, or choose another -o`,
      );
    }
    const state = readFollowState(output);
    if (state === undefined) {
      throw new NoRestorePointError(
        `Cannot resume follow mode: '${output}' has no '${followStatePath(output)}' (it was not made by litefleet restore --follow); ${remove}`,
      );
    }
    await checkReachable(client, options.files, txid, remove);
    const page1 = new Uint8Array(Buffer.from(state.page1, "hex"));
    const reader = openFileReader(output);
    let db: ChainedDatabase;
    try {
      const header = reader.read(16, 2);
      const raw = ((header[0] ?? 0) << 8) | (header[1] ?? 0);
      db = ChainedDatabase.fromReader(sourcePage1Reader(reader, page1), raw === 1 ? 65536 : raw);
    } finally {
      reader.close();
    }
    const fd = openSync(output, "r+");
    return new FollowCopy(output, { fd, db, page1, txid, torn: applyingKey(state) }, options.hooks ?? {});
  }

  /**
   * Downloads `info` (the file right after the copy's TXID), verifies it,
   * and applies it under the lock; see the module documentation.
   * @throws {CorruptFileError} / {ChecksumMismatchError} when the file is damaged or does not fit the copy
   * @throws the storage's error when the download fails (nothing was applied)
   * @throws SQLite's `SQLITE_BUSY` when readers kept the copy longer than `APPLY_LOCK_TIMEOUT_MS` (nothing was applied)
   */
  async apply(client: ReplicaClient, info: LtxFileInfo, options: { signal?: AbortSignal } = {}): Promise<void> {
    const torn = this.#torn;
    if (info.minTxid !== this.#txid + 1n) {
      throw new Error(`Cannot apply '${describe(client, info)}': the copy is at TXID ${formatTxid(this.#txid)}`);
    }
    if (torn !== undefined && info.maxTxid < torn.maxTxid) {
      throw new CorruptFileError(
        `Cannot repair '${this.output}': an apply of ${describe(client, torn)} was interrupted and the replica's next file ${describe(client, info)} does not cover it; delete '${this.output}' and '${txidPath(this.output)}' to restore again`,
        { path: this.output },
      );
    }
    const download = `${this.output}-follow.download`;
    const checksums = await downloadTo(client, info, download, options.signal);
    try {
      const local: LtxSource = {
        location: client.location,
        openLtxFile: async () => {
          const stream = createReadStream(download, { highWaterMark: 1024 * 1024 });
          return { checksums, [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator]() };
        },
      };
      // Checked whole first: a damaged file fails here, with nothing written.
      await this.#db.fork().apply(local, info, undefined, { first: torn !== undefined });
      this.#sql.exec("BEGIN EXCLUSIVE");
      try {
        await this.#applyLocked(local, info, torn !== undefined);
      } finally {
        this.#sql.exec("ROLLBACK");
      }
      this.#txid = info.maxTxid;
      this.#torn = undefined;
      await writeTxidFile(this.output, info.maxTxid);
      await writeFollowState(this.output, { page1: Buffer.from(this.#page1).toString("hex") });
    } finally {
      rmSync(download, { force: true });
    }
  }

  /** The apply proper, under the EXCLUSIVE lock. */
  async #applyLocked(local: LtxSource, info: LtxFileInfo, resume: boolean): Promise<void> {
    const fd = this.#fd;
    await writeFollowState(this.output, {
      page1: Buffer.from(this.#page1).toString("hex"),
      applying: { level: info.level, minTxid: formatTxid(info.minTxid), maxTxid: formatTxid(info.maxTxid) },
    });
    const counter = counterOf(readPage1(fd)) + 1;
    // 0 in bytes 18-19 (no real header has it) tells afterwards whether the file rewrote page 1.
    writeSync(fd, new Uint8Array([0, 0]), 0, 2, 18);
    try {
      await this.#db.apply(local, info, fd, { first: resume });
      this.#hooks.afterPages?.(info);
      const after = readPage1(fd);
      if (after[0] !== 0 || after[1] !== 0) this.#page1 = after;
    } finally {
      // Whatever happened, readers must find a valid rollback-journal header and a new counter.
      writePatchedHeader(fd, counter);
      fsyncSync(fd);
    }
  }

  /** Closes the SQLite connection, then the descriptor. */
  close(): void {
    this.#sql.close();
    closeSync(this.#fd);
  }
}

/**
 * The files to apply next to a copy at `txid`: the contiguous level-0
 * files after it (one listing from `txid + 1`). When level 0 does not
 * continue from there (its files were compacted away, or none are newer)
 * and `bridge` is set, the fewest files of any level 0–8 that reach
 * furthest from `txid` (the planner's chain search, over one listing of
 * every level).
 */
export async function nextFiles(
  client: ReplicaClient,
  txid: Txid,
  options: { bridge: boolean; signal?: AbortSignal },
): Promise<LtxFileInfo[]> {
  const signal = options.signal ? { signal: options.signal } : {};
  const run: LtxFileInfo[] = [];
  let at = txid;
  let gap = false;
  for await (const f of client.listLtxFiles(0, { seek: (txid + 1n) as Txid, ...signal })) {
    if (f.maxTxid <= at) continue;
    if (f.minTxid !== at + 1n) {
      gap = run.length === 0;
      break;
    }
    run.push(f);
    at = f.maxTxid;
  }
  if (run.length > 0 || (!gap && !options.bridge)) return run;
  const files = (await listAllLtxFiles(client, signal)).filter((f) => f.level < SNAPSHOT_LEVEL && f.minTxid > 1n);
  const furthest = furthestFrom(files, txid);
  if (furthest === txid) return [];
  return (await chainFrom(files, txid, furthest)) ?? [];
}

/** The highest TXID a chain of `files` reaches from `txid`. */
function furthestFrom(files: readonly LtxFileInfo[], txid: Txid): Txid {
  const byMin = new Map<bigint, LtxFileInfo[]>();
  for (const f of files) byMin.set(f.minTxid, [...(byMin.get(f.minTxid) ?? []), f]);
  let best = txid;
  const seen = new Set<bigint>([txid]);
  let frontier: bigint[] = [txid];
  while (frontier.length > 0) {
    const next: bigint[] = [];
    for (const pos of frontier) {
      for (const f of byMin.get(pos + 1n) ?? []) {
        if (seen.has(f.maxTxid)) continue;
        seen.add(f.maxTxid);
        next.push(f.maxTxid);
        if (f.maxTxid > best) best = f.maxTxid;
      }
    }
    frontier = next;
  }
  return best;
}

/**
 * Checks that the replica continues from `txid` (equal to its newest TXID,
 * or a chain of level 0–8 files leads on from it).
 * @throws {NoRestorePointError} naming the copy, its sidecar and what to do
 */
async function checkReachable(
  client: ReplicaClient,
  files: readonly LtxFileInfo[],
  txid: Txid,
  remove: string,
): Promise<void> {
  const newest = files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
  if (txid === newest) return;
  const prefix = `Cannot resume follow mode at TXID ${formatTxid(txid)}`;
  if (txid > newest) {
    throw new NoRestorePointError(
      `${prefix}: it is past the newest TXID of '${client.location}' (${formatTxid(newest as Txid)}): the replica was reset or holds another database; ${remove}`,
    );
  }
  const incremental = files.filter((f) => f.level < SNAPSHOT_LEVEL && f.minTxid > 1n);
  if (furthestFrom(incremental, txid) > txid) return;
  throw new NoRestorePointError(
    `${prefix}: no file of '${client.location}' continues from it (the history after it was pruned); ${remove}`,
  );
}

/**
 * Streams `info` into `path` (replaced), fsync not needed: it is read back at once and removed.
 * @returns the checksum record the object carries, for the checks of the local copy
 */
async function downloadTo(
  client: ReplicaClient,
  info: LtxFileInfo,
  path: string,
  signal?: AbortSignal,
): Promise<DatabaseChecksums | undefined> {
  const fd = openSync(path, "w", 0o600);
  let body: LtxFileBody;
  try {
    body = await client.openLtxFile(info, signal ? { signal } : {});
    for await (const chunk of body) {
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
    }
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
  closeSync(fd);
  return body.checksums;
}

/** The copy's page-1 bytes at `PAGE1_BYTES`. */
function readPage1(fd: number): Uint8Array {
  const head = new Uint8Array(28);
  readSync(fd, head, 0, 28, 0);
  return new Uint8Array(PAGE1_BYTES.map((o) => head[o] ?? 0));
}

/** The file change counter in `PAGE1_BYTES`-ordered bytes. */
function counterOf(bytes: Uint8Array): number {
  return ((bytes[2] ?? 0) * 2 ** 24 + ((bytes[3] ?? 0) << 16) + ((bytes[4] ?? 0) << 8) + (bytes[5] ?? 0)) >>> 0;
}

/** Writes rollback journal (18–19 = 1) and the file change counter `counter` (mod 2^32) into page 1. */
function writePatchedHeader(fd: number, counter: number): void {
  writeSync(fd, new Uint8Array([1, 1]), 0, 2, 18);
  const c = new Uint8Array(4);
  new DataView(c.buffer).setUint32(0, counter >>> 0);
  writeSync(fd, c, 0, 4, 24);
}

/** `reader` with page 1's changed bytes put back to the source's `page1`, for its checksum. */
function sourcePage1Reader(reader: RandomAccessReader, page1: Uint8Array): RandomAccessReader {
  return {
    size: reader.size,
    read(offset, length) {
      const bytes = reader.read(offset, length);
      if (offset > 27) return bytes;
      const copy = new Uint8Array(bytes);
      for (const [i, o] of PAGE1_BYTES.entries())
        if (o >= offset && o < offset + length) copy[o - offset] = page1[i] ?? 0;
      return copy;
    },
    close: () => reader.close(),
  };
}
