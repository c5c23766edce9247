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
 *
 * Memory is bounded whatever the database size: v0.3 objects are streamed
 * into the staging file block by block (`litestream-v3/object-reader.ts`),
 * and each LTX file is encoded page by page into a temp file under
 * `workDir`, then uploaded from it in pieces.
 * The destination must hold no LTX files; on failure every file written so
 * far is deleted again. The v0.3 replica is only read.
 *
 * @module
 */

import { closeSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { NoRestorePointError } from "../errors.ts";
import { segmentPath, snapshotPath, type V3Storage } from "../litestream-v3/layout.ts";
import { V3ObjectReader } from "../litestream-v3/object-reader.ts";
import { WalReplayer } from "../litestream-v3/wal-replay.ts";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import { LtxEncoder } from "../ltx/encoder.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { newLtxHeader, type LtxHeader } from "../ltx/header.ts";
import { txid, type Txid } from "../ltx/txid.ts";
import { openFileSource } from "../platform/byte-source.ts";
import { GarbagePacer } from "../platform/gc.ts";
import { SNAPSHOT_LEVEL, type LtxFileKey, type ReplicaClient } from "../replica/client.ts";
import { describe, listAllLtxFiles } from "../replica/ltx-files.ts";
import { checkIntegrity, writeAll } from "../sqlite/staged-database.ts";
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
          const pages = full
            ? allPages(commit, pageSize)
            : changed.pages.filter((p) => p <= commit && p !== lockPageNumber(pageSize));
          await this.#writePoint(fd, sums, { pages, pageSize, commit, timestamp: point.timestamp, full });
          points++;
        }
        this.#o.onProgress?.({
          generation: g.generation,
          pointsDone: n + 1,
          pointsTotal: g.points.length,
          files: this.#written.length,
          bytes: this.#bytes,
        });
      }
      closeSync(fd);
      open = false;
      if (!sums) return; // an empty database throughout: nothing to restore
      checkIntegrity(path);
      this.#generations.push({
        generation: g.generation,
        firstTxid: txid(firstTxid),
        lastTxid: txid(this.#txid),
        points,
      });
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
    // A new generation continues the chain unless the page size changed,
    // which only a new snapshot can express.
    const snapshot = id === 1n || (p.full && p.pageSize !== this.#pageSize);
    const key: LtxFileKey = snapshot
      ? { level: SNAPSHOT_LEVEL, minTxid: txid(1n), maxTxid: id }
      : { level: 0, minTxid: id, maxTxid: id };
    const header = newLtxHeader({
      pageSize: p.pageSize,
      commit: p.commit,
      minTxid: key.minTxid,
      maxTxid: key.maxTxid,
      timestamp: p.timestamp,
      preApplyChecksum: snapshot ? 0n : this.#post,
    });
    // Each page's checksum is taken as it is encoded; the post-apply
    // checksum is asked for after the last page.
    const pages = (function* () {
      const page = new Uint8Array(p.pageSize);
      for (const pgno of p.pages) {
        readPage(fd, pgno, page);
        sums.set(pgno, page);
        yield { pgno, data: page };
      }
    })();
    const post = await this.#put(key, header, pages, () => {
      sums.truncate(p.commit);
      return sums.databaseChecksum();
    });
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
      const pages = (function* () {
        const page = new Uint8Array(pageSize);
        for (const pgno of allPages(commit, pageSize)) yield { pgno, data: readPage(fd, pgno, page) };
      })();
      const id = txid(this.#txid);
      const header = newLtxHeader({ pageSize, commit, minTxid: txid(1n), maxTxid: id, timestamp });
      const post = this.#post;
      await this.#put({ level: SNAPSHOT_LEVEL, minTxid: txid(1n), maxTxid: id }, header, pages, () => post);
      this.#lastIsSnapshot = true;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Encodes `pages` into a temp file under `workDir`, page by page, then
   * uploads it from the file in pieces. Returns the post-apply checksum.
   */
  async #put(
    key: LtxFileKey,
    header: LtxHeader,
    /** May reuse one buffer for every page: each is encoded before the next is asked for. */
    pages: Iterable<{ pgno: number; data: Uint8Array }>,
    postApply: () => bigint,
  ): Promise<bigint> {
    const tmp = join(this.#o.workDir, `${key.level}-${formatLtxFileName(key.minTxid, key.maxTxid)}.tmp`);
    try {
      const out = openSync(tmp, "w", 0o600);
      let post: bigint;
      try {
        let at = 0;
        // A page leaves its compressed block and frame behind as garbage
        // (about twice its size): collect every 4 MiB of pages.
        const pacer = new GarbagePacer(4 * 1024 * 1024);
        const enc = new LtxEncoder(header, (chunk) => {
          writeAll(out, chunk, at);
          at += chunk.length;
        });
        for (const { pgno, data } of pages) {
          enc.encodePage(pgno, data);
          pacer.add(data.length);
        }
        post = postApply();
        enc.finish(post);
      } finally {
        closeSync(out);
      }
      await using body = await openFileSource(tmp);
      await this.#dest.writeLtxFile(key, body, { timestamp: new Date(header.timestamp), ...sig(this.#o) });
      this.#written.push(key);
      this.#bytes += body.size;
      return post;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Deletes every file written so far (best effort: the original error matters more). */
  async rollback(): Promise<void> {
    if (this.#written.length === 0) return;
    try {
      await this.#dest.deleteLtxFiles(this.#written);
      this.#o.onCleanup?.(
        `removed the ${this.#written.length} LTX files written before the failure from '${this.#dest.location}'`,
      );
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
    ({ size: this.#size, pageSize: this.#pageSize } = await this.#reader.writeSnapshot(
      this.#fd,
      snapshotPath(this.#g.snapshot),
    ));
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
      if (!this.#replayer || seg.index !== this.#replayerIndex) {
        this.#replayer = new WalReplayer(this.#fd, {
          size: this.#size,
          pageSize: this.#pageSize,
          name: segmentPath(seg),
        });
        this.#replayerIndex = seg.index;
      }
      const before = this.#replayer.transactions;
      for await (const content of this.#reader.open(segmentPath(seg))) this.#replayer.push(content);
      this.#replayer.endSegment();
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

/** Reads staged page `pgno` into `page` (reused: the encoder and the checksums never keep it); returns it. */
function readPage(fd: number, pgno: number, page: Uint8Array): Uint8Array {
  const pageSize = page.length;
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
