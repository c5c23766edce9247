/**
 * Converts a Litestream v0.3 replica into LTX files on a v0.5 replica,
 * following a {@linkcode MigrationPlan}.
 *
 * Each generation is rebuilt in a staging file under `workDir`: its
 * snapshot, then its WAL segments replayed one by one (`wal-replay.ts`).
 * At each restore point the pages written since the previous point become
 * one LTX file with the next TXID and the point's time as its timestamp:
 *
 * - the first point of all: the level-9 snapshot `1-1`;
 * - the first point of a later generation: a level-0 file holding every
 *   page (its pre-apply checksum is the previous state's, so one checksum
 *   chain runs through every generation), or a level-9 snapshot when the
 *   page size changed;
 * - every later point: a level-0 file of the changed pages;
 * - at the end, a level-9 snapshot `1-<last>` so the latest state restores
 *   from one file.
 *
 * Every file carries pre- and post-apply checksums computed from the staged
 * pages, and each generation's last state must pass `integrity_check`.
 * The destination must hold no LTX files; on failure every file written so
 * far is deleted again. The v0.3 replica is only read.
 *
 * @module
 */

import { closeSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import { encodeLtxFile } from "../ltx/encoder.ts";
import { newLtxHeader } from "../ltx/header.ts";
import { txid, type Txid } from "../ltx/txid.ts";
import { SNAPSHOT_LEVEL, type LtxFileKey, type ReplicaClient } from "../replica/client.ts";
import { describe, listAllLtxFiles, NoRestorePointError } from "../restore/planner.ts";
import { checkIntegrity, writeAll } from "../restore/staged-database.ts";
import { snapshotPageSize, V3ObjectReader } from "../restore/v3/applier.ts";
import { segmentPath, snapshotPath, type V3Storage } from "../restore/v3/storage.ts";
import { WalReplayer } from "../restore/v3/wal-replay.ts";
import type { MigrationGeneration, MigrationPlan } from "./plan.ts";

/** Progress after each restore point. */
export interface MigrationProgress {
  readonly generation: string;
  readonly pointsDone: number;
  readonly pointsTotal: number;
  /** LTX files and bytes written so far. */
  readonly files: number;
  readonly bytes: number;
}

/** Where one generation landed. */
export interface MigratedGeneration {
  readonly generation: string;
  readonly firstTxid: Txid;
  readonly lastTxid: Txid;
  /** Restore points written (points without a new commit are folded into the previous one). */
  readonly points: number;
}

/** The outcome. */
export interface MigrationResult {
  readonly generations: readonly MigratedGeneration[];
  /** The TXID of the latest state. */
  readonly txid: Txid;
  readonly pageSize: number;
  /** LTX files and bytes written. */
  readonly files: number;
  readonly bytes: number;
  /** v0.3 objects and compressed bytes read. */
  readonly readFiles: number;
  readonly readBytes: number;
}

/** Options of {@linkcode migrateV3Replica}. */
export interface MigrateOptions {
  /** A directory for the staging files (one database at a time). */
  readonly workDir: string;
  readonly onProgress?: (p: MigrationProgress) => void;
  /** Told about the cleanup after a failure. */
  readonly onCleanup?: (message: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Runs `plan` from `source` into `dest`.
 * @throws {Error} when `dest` already holds LTX files
 * @throws {CorruptFileError|ChecksumMismatchError} when a v0.3 object is damaged or a rebuilt state fails `integrity_check`
 */
export async function migrateV3Replica(
  source: V3Storage,
  dest: ReplicaClient,
  plan: MigrationPlan,
  options: MigrateOptions,
): Promise<MigrationResult> {
  await dest.init(sig(options));
  const existing = await listAllLtxFiles(dest, sig(options));
  if (existing.length > 0) {
    throw new Error(
      `Cannot migrate into '${dest.location}': it already holds ${existing.length} LTX files (e.g. ${describe(dest, existing[0]!)}); ` +
        "migrate into an empty replica, or remove its ltx/ folder if it is a failed earlier attempt",
    );
  }
  const writer = new MigrationWriter(source, dest, options);
  try {
    for (const g of plan.generations) await writer.generation(g, g === plan.generations.at(-1));
  } catch (err) {
    await writer.rollback();
    throw err;
  }
  return writer.result();
}

/** The state carried from one restore point to the next. */
class MigrationWriter {
  readonly #source: V3ObjectReader;
  readonly #dest: ReplicaClient;
  readonly #o: MigrateOptions;
  readonly #written: LtxFileKey[] = [];
  readonly #generations: MigratedGeneration[] = [];
  #bytes = 0;
  #txid = 0n;
  /** Post-apply checksum and page size of the last point written. */
  #post = 0n;
  #pageSize = 0;
  #commit = 0;
  /** Whether the last file written is the snapshot `1-<txid>`. */
  #lastIsSnapshot = false;

  constructor(source: V3Storage, dest: ReplicaClient, options: MigrateOptions) {
    this.#source = new V3ObjectReader(source);
    this.#dest = dest;
    this.#o = options;
  }

  /** Replays one generation, writing its points; with `last`, also the final snapshot. */
  async generation(g: MigrationGeneration, last: boolean): Promise<void> {
    const path = join(this.#o.workDir, `${g.generation}.db`);
    const fd = openSync(path, "w+", 0o600);
    let open = true;
    try {
      const staged = new StagedGeneration(fd, g, this.#source);
      await staged.start();
      const firstTxid = this.#txid + 1n;
      let sums: PageChecksums | undefined;
      let points = 0;
      for (const [n, point] of g.points.entries()) {
        this.#o.signal?.throwIfAborted();
        const changed = await staged.advanceTo(point.after);
        const { pageSize, commit } = staged;
        if (commit > 0 && (!sums || changed.transactions > 0)) {
          const full = !sums;
          if (!sums) sums = new PageChecksums(pageSize);
          const pages = full ? allPages(commit, pageSize) : changed.pages.filter((p) => p <= commit && p !== lockPageNumber(pageSize));
          await this.#writePoint(fd, sums, { pages, pageSize, commit, timestamp: point.timestamp, full });
          points++;
        }
        this.#o.onProgress?.({ generation: g.generation, pointsDone: n + 1, pointsTotal: g.points.length, files: this.#written.length, bytes: this.#bytes });
      }
      closeSync(fd);
      open = false;
      if (!sums) return; // an empty database throughout: nothing to restore
      checkIntegrity(path);
      this.#generations.push({ generation: g.generation, firstTxid: txid(firstTxid), lastTxid: txid(this.#txid), points });
      if (last && !this.#lastIsSnapshot) await this.#writeFinalSnapshot(path, g.points.at(-1)!.timestamp);
    } finally {
      if (open) closeSync(fd);
      rmSync(path, { force: true });
    }
  }

  /** Writes the next TXID from the staged pages `pages` (ascending). */
  async #writePoint(
    fd: number,
    sums: PageChecksums,
    p: { pages: readonly number[]; pageSize: number; commit: number; timestamp: number; full: boolean },
  ): Promise<void> {
    const id = txid(this.#txid + 1n);
    const data = p.pages.map((pgno) => {
      const page = readPage(fd, pgno, p.pageSize);
      sums.set(pgno, page);
      return { pgno, data: page };
    });
    sums.truncate(p.commit);
    const post = sums.databaseChecksum();
    // A new generation continues the chain unless the page size changed,
    // which only a new snapshot can express.
    const snapshot = id === 1n || (p.full && p.pageSize !== this.#pageSize);
    const key: LtxFileKey = snapshot ? { level: SNAPSHOT_LEVEL, minTxid: txid(1n), maxTxid: id } : { level: 0, minTxid: id, maxTxid: id };
    const header = newLtxHeader({
      pageSize: p.pageSize,
      commit: p.commit,
      minTxid: key.minTxid,
      maxTxid: key.maxTxid,
      timestamp: p.timestamp,
      preApplyChecksum: snapshot ? 0n : this.#post,
    });
    await this.#put(key, encodeLtxFile(header, data, post), p.timestamp);
    this.#txid = id;
    this.#post = post;
    this.#pageSize = p.pageSize;
    this.#commit = p.commit;
    this.#lastIsSnapshot = snapshot;
  }

  /** The level-9 snapshot `1-<last>` of the staged database at `path`. */
  async #writeFinalSnapshot(path: string, timestamp: number): Promise<void> {
    const fd = openSync(path, "r");
    try {
      const pageSize = this.#pageSize;
      const commit = this.#commit;
      const pages = allPages(commit, pageSize).map((pgno) => ({ pgno, data: readPage(fd, pgno, pageSize) }));
      const id = txid(this.#txid);
      const header = newLtxHeader({ pageSize, commit, minTxid: txid(1n), maxTxid: id, timestamp });
      await this.#put({ level: SNAPSHOT_LEVEL, minTxid: txid(1n), maxTxid: id }, encodeLtxFile(header, pages, this.#post), timestamp);
    this.#lastIsSnapshot = true;
    } finally {
      closeSync(fd);
    }
  }

  async #put(key: LtxFileKey, body: Uint8Array, timestamp: number): Promise<void> {
    await this.#dest.writeLtxFile(key, body, { timestamp: new Date(timestamp), ...sig(this.#o) });
    this.#written.push(key);
    this.#bytes += body.length;
  }

  /** Deletes every file written so far (best effort: the original error matters more). */
  async rollback(): Promise<void> {
    if (this.#written.length === 0) return;
    try {
      await this.#dest.deleteLtxFiles(this.#written);
      this.#o.onCleanup?.(`removed the ${this.#written.length} LTX files written before the failure from '${this.#dest.location}'`);
    } catch (err) {
      this.#o.onCleanup?.(
        `could not remove the ${this.#written.length} LTX files written before the failure from '${this.#dest.location}' ` +
          `(${(err as Error).message}); remove its ltx/ folder before trying again`,
      );
    }
  }

  result(): MigrationResult {
    if (this.#txid === 0n) throw new NoRestorePointError("Cannot migrate: every generation holds an empty database");
    return {
      generations: this.#generations,
      txid: txid(this.#txid),
      pageSize: this.#pageSize,
      files: this.#written.length,
      bytes: this.#bytes,
      readFiles: this.#source.files,
      readBytes: this.#source.bytes,
    };
  }
}

/** One generation's database, rebuilt segment by segment in a staging file. */
class StagedGeneration {
  readonly #fd: number;
  readonly #g: MigrationGeneration;
  readonly #reader: V3ObjectReader;
  #size = 0;
  #pageSize = 0;
  #done = 0;
  #replayer: WalReplayer | undefined;
  #replayerIndex = -1;
  #changed = new Set<number>();
  #transactions = 0;

  constructor(fd: number, g: MigrationGeneration, reader: V3ObjectReader) {
    this.#fd = fd;
    this.#g = g;
    this.#reader = reader;
  }

  get pageSize(): number {
    return this.#pageSize;
  }

  /** Database size in pages. */
  get commit(): number {
    return this.#pageSize === 0 ? 0 : this.#size / this.#pageSize;
  }

  /** Writes the snapshot into the staging file. */
  async start(): Promise<void> {
    const snap = await this.#reader.read(snapshotPath(this.#g.snapshot));
    writeAll(this.#fd, snap, 0);
    this.#size = snap.length;
    this.#pageSize = snapshotPageSize(snap);
    // Every page of the snapshot is new to whoever reads the first point.
    this.#transactions = 1;
  }

  /**
   * Replays segments up to (not including) index `after`; returns the pages
   * changed and commits applied since the previous call.
   */
  async advanceTo(after: number): Promise<{ pages: number[]; transactions: number }> {
    for (; this.#done < after; this.#done++) {
      const seg = this.#g.segments[this.#done]!;
      const bytes = await this.#reader.read(segmentPath(seg));
      let before = 0;
      if (this.#replayer && seg.index === this.#replayerIndex) {
        before = this.#replayer.transactions;
        this.#replayer.push(bytes);
      } else {
        this.#replayer = new WalReplayer(this.#fd, bytes, { size: this.#size, pageSize: this.#pageSize, name: segmentPath(seg) });
        this.#replayerIndex = seg.index;
      }
      for (const p of this.#replayer.takeChanged()) this.#changed.add(p);
      this.#size = this.#replayer.size;
      this.#pageSize = this.#replayer.pageSize;
      this.#transactions += this.#replayer.transactions - before;
    }
    const out = { pages: [...this.#changed].sort((a, b) => a - b), transactions: this.#transactions };
    this.#changed = new Set();
    this.#transactions = 0;
    return out;
  }
}

/** Pages 1..commit without the lock page. */
function allPages(commit: number, pageSize: number): number[] {
  const lock = lockPageNumber(pageSize);
  const pages: number[] = [];
  for (let p = 1; p <= commit; p++) if (p !== lock) pages.push(p);
  return pages;
}

function readPage(fd: number, pgno: number, pageSize: number): Uint8Array {
  const page = new Uint8Array(pageSize);
  let done = 0;
  while (done < pageSize) {
    const n = readSync(fd, page, done, pageSize - done, (pgno - 1) * pageSize + done);
    if (n === 0) throw new RangeError(`Cannot read staged page ${pgno}: the staged database ends early`);
    done += n;
  }
  return page;
}

function sig(o: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}
