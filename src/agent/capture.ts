/**
 * Capture for one database: turns newly committed WAL frames into local L0
 * LTX files, one per sync, each with the next TXID and verified database
 * checksums, and runs the agent's checkpoints.
 *
 * A sync first decides (the "verify" step) whether it can continue from the
 * saved position — same WAL header and the frame at the saved offset still
 * carries the saved cumulative checksum — or must write a full snapshot
 * because the WAL was restarted, truncated or overwritten where we could not
 * see it. It never guesses: anything it cannot prove leads to a resync.
 *
 * A resync reads the whole database (file and committed WAL frames) and
 * writes the pages whose checksum differs from the last captured state as
 * an ordinary incremental file, when that state's page checksums are known:
 * in memory while running, from `pages.crc` after a restart (validated
 * against the state's recorded checksum). Otherwise it writes every page
 * (a "snapshot" L0).
 *
 * @module
 */

import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "../ltx/header.ts";
import { lockPageNumber } from "../ltx/checksum.ts";
import { txid, type Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import { systemClock, type Clock } from "../platform/clock.ts";
import { CaptureConnection, type CheckpointMode } from "../sqlite/capture-connection.ts";
import {
  frameMatches,
  readWalSegment,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalHeader,
} from "../sqlite/wal-reader.ts";
import { SNAPSHOT_LEVEL } from "../replica/client.ts";
import { CaptureBase, findBase } from "./capture-base.ts";
import { CapturedPages } from "./captured-pages.ts";
import type { CapturePosition, LocalStore } from "./local-store.ts";
import { writeLocalLtx } from "./local-ltx.ts";

/** Thresholds and timing for capture; see docs/CONFIG.md. */
export interface CaptureOptions {
  readonly busyTimeoutMs: number;
  readonly minCheckpointPageCount: number;
  readonly truncatePageN: number;
  readonly checkpointIntervalMs: number;
}

/** What one sync produced. */
export interface SyncResult {
  readonly txid: Txid;
  /** True when the file holds every page (the chain could not be continued). */
  readonly snapshot: boolean;
  /**
   * True when the chain could not be continued from the WAL and the file
   * holds only the pages that differ from the last captured state.
   */
  readonly resync: boolean;
  /** Why a snapshot or resync was taken, for the log. */
  readonly reason: string | undefined;
  readonly pages: number;
  readonly size: number;
  readonly timestamp: number;
}

/** See the module documentation. */
export class DbCapture {
  readonly path: string;
  #conn: CaptureConnection;
  #store: LocalStore;
  #options: CaptureOptions;
  #log: Logger;
  #pos: CapturePosition | undefined;
  /** Why the next sync must be a snapshot, when it must. */
  #snapshotReason: string | undefined;
  #pages: CapturedPages;
  /** The state the next file applies on and its page checksums (memory and pages.crc). */
  #base: CaptureBase;
  #lastCheckpoint = Date.now();
  /** Dates the LTX files (wall clock). */
  #clock: Clock = systemClock;
  /** Lowest TXID the next file may take (above anything any replica holds). */
  #floorTxid: Txid;
  /** The replica's database checksum at the floor it was given with. */
  readonly #floorChecksum: { txid: Txid; checksum: bigint } | undefined;

  private constructor(
    path: string,
    conn: CaptureConnection,
    store: LocalStore,
    options: CaptureOptions,
    log: Logger,
    floor: { txid: Txid; checksum: bigint | undefined },
  ) {
    this.path = path;
    this.#conn = conn;
    this.#store = store;
    this.#options = options;
    this.#log = log;
    this.#floorTxid = floor.txid;
    this.#floorChecksum = floor.checksum === undefined ? undefined : { txid: floor.txid, checksum: floor.checksum };
    this.#base = new CaptureBase({ file: store.pageChecksums, pageSize: conn.pageSize, log });
    this.#pages = new CapturedPages(conn);
  }

  /**
   * Opens capture: takes the read lock, loads the saved position and proves
   * it still describes this database (WAL frames and database checksum);
   * otherwise the first sync writes a snapshot.
   *
   * @param options.floorTxid highest TXID any replica already holds; new files are numbered above it
   * @param options.floorChecksum the replica's database checksum at `floorTxid`: the first file
   *   without a local predecessor (it holds every page) takes it as its pre-apply checksum
   */
  static open(
    path: string,
    options: {
      store: LocalStore;
      capture: CaptureOptions;
      log: Logger;
      floorTxid: Txid;
      floorChecksum?: bigint;
      clock?: Clock;
    },
  ): DbCapture {
    const conn = CaptureConnection.open(path, { busyTimeoutMs: options.capture.busyTimeoutMs });
    const floor = { txid: options.floorTxid, checksum: options.floorChecksum };
    const cap = new DbCapture(path, conn, options.store, options.capture, options.log, floor);
    if (options.clock) cap.#clock = options.clock;
    try {
      cap.#resume();
    } catch (err) {
      conn.close();
      throw err;
    }
    return cap;
  }

  /** The current position (undefined before the first sync). */
  get position(): CapturePosition | undefined {
    return this.#pos;
  }

  /** Database page size. */
  get pageSize(): number {
    return this.#conn.pageSize;
  }

  /** Current sizes of the database and `-wal` files in bytes. */
  fileSizes(): { db: number; wal: number } {
    return { db: this.#conn.dbFileSize(), wal: this.#conn.walFileSize() };
  }

  #resume(): void {
    const pos = this.#store.readPosition();
    const lastLocal = this.#store.spool.lastCapture();
    this.#floorTxid = txid(max(this.#floorTxid, lastLocal?.maxTxid ?? 0n, pos?.txid ?? 0n));
    this.#base.reset(
      findBase({
        tip: this.#floorTxid,
        floorChecksum: this.#floorChecksum,
        pos,
        lastLocal,
        store: this.#store,
        pageSize: this.pageSize,
        log: this.#log,
      }),
    );
    if (!pos) {
      this.#snapshotReason = "no capture position";
      return;
    }
    if (pos.txid !== (lastLocal?.maxTxid ?? pos.txid)) {
      this.#snapshotReason = "capture position does not match the last local file";
      return;
    }
    if (this.#floorTxid > pos.txid) {
      this.#snapshotReason = "a replica holds newer TXIDs than this database";
      return;
    }
    if (pos.pageSize !== this.#conn.pageSize) {
      this.#snapshotReason = "page size changed";
      this.#base.reset(undefined);
      return;
    }
    this.#pos = pos;
    const hdr = this.#conn.readWalHeader();
    if (!hdr || !sameWal(pos, hdr)) {
      // Either our own checkpoint's restart (checked by the first sync) or
      // the WAL changed while we were away. Rebuild the state from the
      // database file and require it to match the recorded checksum.
      this.#pages.reset();
    } else {
      const read = (o: number, n: number) => this.#conn.readWal(o, n);
      if (!frameMatches(read, hdr, { endOffset: pos.walOffset, checksum: pos.walChecksum })) {
        this.#snapshotReason = "wal overwritten while the agent was stopped";
        return;
      }
      const seg = readWalSegment(read, hdr, { offset: WAL_HEADER_SIZE, seed: hdr.checksum, until: pos.walOffset });
      if (seg.endOffset !== pos.walOffset) {
        this.#snapshotReason = "wal no longer holds the captured frames";
        return;
      }
      this.#pages.reset(seg.pages);
    }
    const sums = this.#pages.checksums(pos.commit);
    const actual = sums.databaseChecksum();
    if (actual !== pos.postApplyChecksum) {
      this.#snapshotReason =
        "database changed while it was not captured (the agent stopped, or a restore paused capture)";
      this.#log.warn("database checksum differs from the last capture", {
        expected: pos.postApplyChecksum.toString(16),
        actual: actual.toString(16),
      });
      return;
    }
    this.#base.proven({ txid: pos.txid, checksum: actual, commit: pos.commit }, sums);
  }

  /**
   * Captures everything committed since the last sync into one local L0
   * file. Returns `undefined` when nothing changed.
   */
  sync(): SyncResult | undefined {
    const hdr = this.#conn.readWalHeader();
    const pos = this.#pos;
    if (this.#snapshotReason !== undefined || !pos) {
      return this.#resync(hdr, this.#snapshotReason ?? "no capture position");
    }
    if (!hdr) {
      if (pos.expectRestart) return undefined;
      return this.#resync(hdr, "wal truncated by another process");
    }
    let start = pos.walOffset;
    let seed = pos.walChecksum;
    let restarted = false;
    const read = (o: number, n: number) => this.#conn.readWal(o, n);
    if (sameWal(pos, hdr)) {
      if (!frameMatches(read, hdr, { endOffset: pos.walOffset, checksum: pos.walChecksum })) {
        return this.#resync(hdr, "wal overwritten by another process");
      }
    } else if (pos.expectRestart && isOneRestartLater(pos, hdr)) {
      start = WAL_HEADER_SIZE;
      seed = hdr.checksum;
      restarted = true;
    } else {
      return this.#resync(hdr, "wal restarted by another process");
    }
    const seg = readWalSegment(read, hdr, { offset: start, seed, ...this.#committedEnd(hdr) });
    if (seg.endOffset === start) {
      if (restarted) this.#pages.reset();
      return undefined;
    }
    if (restarted) this.#pages.reset();
    this.#pages.apply(seg.pages, seg.commit);
    const pages = new Set(seg.pages.keys());
    for (let p = pos.commit + 1; p <= seg.commit; p++) pages.add(p);
    pages.delete(lockPageNumber(this.pageSize));
    return this.#writeL0({
      hdr,
      seg: { start, end: seg.endOffset, checksum: seg.checksum, commit: seg.commit },
      pages: [...pages].sort((a, b) => a - b),
      kind: "incremental",
      reason: undefined,
    });
  }

  /**
   * Continues the chain without the WAL position: the pages that differ
   * from the base state when its page checksums are known (in memory, or
   * from pages.crc), else every page.
   */
  #resync(hdr: WalHeader | undefined, reason: string): SyncResult {
    const base = this.#base.state;
    const next = max(this.#pos?.txid ?? 0n, this.#floorTxid) + 1n;
    if (base && base.txid + 1n === next && this.#base.checksumsKnown()) {
      const seg = this.#rebuildFromWal(hdr);
      const pages = pageRange(seg.commit, this.pageSize);
      return this.#writeL0({ hdr, seg, pages, kind: "resync", reason, keep: this.#lastFramePage(seg) });
    }
    this.#base.startOver();
    const seg = this.#rebuildFromWal(hdr);
    return this.#writeL0({ hdr, seg, pages: pageRange(seg.commit, this.pageSize), kind: "snapshot", reason });
  }

  /** Where reading the WAL must stop: what SQLite itself counts as committed (see `committedWalEnd`). */
  #committedEnd(hdr: WalHeader): { until?: number } {
    const end = this.#conn.committedWalEnd(hdr);
    return end === undefined ? {} : { until: end };
  }

  /** Points the page map at every committed frame of the current WAL; returns that segment. */
  #rebuildFromWal(hdr: WalHeader | undefined): {
    start: number;
    end: number;
    checksum: readonly [number, number];
    commit: number;
  } {
    let end = WAL_HEADER_SIZE;
    let checksum: readonly [number, number] = hdr?.checksum ?? [0, 0];
    let commit = 0;
    this.#pages.reset();
    if (hdr) {
      const seg = readWalSegment((o, n) => this.#conn.readWal(o, n), hdr, {
        offset: WAL_HEADER_SIZE,
        seed: hdr.checksum,
        ...this.#committedEnd(hdr),
      });
      this.#pages.reset(seg.pages);
      end = seg.endOffset;
      checksum = seg.checksum;
      commit = seg.commit;
    }
    if (commit === 0) commit = Math.floor(this.#conn.dbFileSize() / this.pageSize);
    return { start: WAL_HEADER_SIZE, end, checksum, commit };
  }

  /**
   * The page of the segment's last frame, which stock Litestream looks for
   * in the newest L0 file when it resumes (docs/FORMAT.md, "WAL fields").
   */
  #lastFramePage(seg: { end: number; commit: number }): number | undefined {
    const frameSize = WAL_FRAME_HEADER_SIZE + this.pageSize;
    if (seg.end < WAL_HEADER_SIZE + frameSize) return undefined;
    const head = this.#conn.readWal(seg.end - frameSize, 4);
    if (head.length < 4) return undefined;
    const pgno = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
    return pgno <= seg.commit ? pgno : undefined;
  }

  #writeL0(plan: {
    hdr: WalHeader | undefined;
    seg: { start: number; end: number; checksum: readonly [number, number]; commit: number };
    /** Candidate pages, ascending; a resync keeps those whose checksum changed. */
    pages: Iterable<number>;
    /** A page a resync keeps even when unchanged (the last WAL frame's). */
    keep?: number | undefined;
    kind: "incremental" | "resync" | "snapshot" | "handover";
    reason: string | undefined;
    /** The position keeps `expectRestart` (a handover within a fully checkpointed WAL). */
    expectRestart?: boolean;
    /** Where page bytes come from (default: the captured state's page map). */
    read?: (pgno: number) => Uint8Array;
  }): SyncResult {
    const prev = this.#pos;
    const id = txid(max(prev?.txid ?? 0n, this.#floorTxid) + 1n);
    const timestamp = this.#clock.now();
    // Every file applies on the base state when its checksum is known (a
    // resync only runs then). A full-database L0 after a broken chain keeps
    // it as its pre-apply, so the chain stays verifiable: it holds every
    // page, so it applies on top of any state. Else the previous post-apply
    // checksum, or with no previous local state (fresh state above existing
    // replica data) the replica's checksum at the floor when known; else
    // the file is written without checksums.
    const base = this.#base.state;
    const baseChecksum = base !== undefined && base.txid + 1n === id ? base.checksum : undefined;
    const floorChecksum = id === (this.#floorChecksum?.txid ?? -1n) + 1n ? this.#floorChecksum?.checksum : undefined;
    const preApply = baseChecksum ?? prev?.postApplyChecksum ?? floorChecksum ?? 0n;
    const noChecksum = id !== 1n && preApply === 0n;
    const header = newLtxHeader({
      flags: noChecksum ? HEADER_FLAG_NO_CHECKSUM : 0,
      pageSize: this.pageSize,
      commit: plan.seg.commit,
      minTxid: id,
      maxTxid: id,
      timestamp,
      preApplyChecksum: id === 1n || noChecksum ? 0n : preApply,
      walOffset: BigInt(plan.seg.start),
      walSize: BigInt(plan.seg.end - plan.seg.start),
      walSalt1: plan.hdr?.salt1 ?? 0,
      walSalt2: plan.hdr?.salt2 ?? 0,
      nodeId: this.#store.writerId,
    });
    const checksums = this.#base.checksums;
    const pages = this.#pages;
    const read = plan.read ?? ((pgno: number) => pages.page(pgno));
    const changedOnly = plan.kind === "resync";
    const keep = plan.keep;
    checksums.reserve(plan.seg.commit);
    let count = 0;
    let size: number;
    try {
      size = writeLocalLtx(this.#store.spool, {
        level: 0,
        header,
        pages: (function* () {
          for (const pgno of plan.pages) {
            const data = read(pgno);
            if (changedOnly) {
              if (!checksums.update(pgno, data) && pgno !== keep) continue;
            } else {
              checksums.set(pgno, data);
            }
            count++;
            yield { pgno, data };
          }
        })(),
        postApply: () => {
          checksums.truncate(plan.seg.commit);
          return noChecksum ? 0n : checksums.databaseChecksum();
        },
      });
    } catch (err) {
      // The in-memory checksums may be half-updated: the next sync resyncs
      // against pages.crc (untouched until a file is complete) or takes a
      // snapshot.
      this.#snapshotReason = "previous sync failed";
      this.#base.invalidate();
      throw err;
    }
    const postApply = checksums.databaseChecksum();
    this.#pos = {
      txid: id,
      walOffset: plan.seg.end,
      walChecksum: plan.seg.checksum,
      salt1: plan.hdr?.salt1 ?? 0,
      salt2: plan.hdr?.salt2 ?? 0,
      checkpointSeq: plan.hdr?.checkpointSeq ?? 0,
      pageSize: this.pageSize,
      commit: plan.seg.commit,
      postApplyChecksum: postApply,
      expectRestart: plan.expectRestart === true,
    };
    // Between the file and the position: a crash in between leaves
    // pages.crc at the state of the newest local file, which is what the
    // next start continues from.
    this.#base.captured(
      { txid: id, checksum: postApply, commit: plan.seg.commit },
      {
        prevTxid: prev?.txid,
        changed:
          (plan.kind === "incremental" || plan.kind === "handover") && Array.isArray(plan.pages)
            ? plan.pages
            : undefined,
      },
    );
    this.#store.writePosition(this.#pos);
    this.#snapshotReason = undefined;
    if (plan.kind === "resync") {
      this.#log.info("resync: sent the pages that differ from the last capture", {
        txid: id.toString(16),
        reason: plan.reason,
        pages: count,
        size,
      });
    }
    return {
      txid: id,
      snapshot: plan.kind === "snapshot",
      resync: plan.kind === "resync",
      reason: plan.reason,
      pages: count,
      size,
      timestamp,
    };
  }

  /**
   * Whether the newest L0 file a replica holds, `tip`, is one stock
   * Litestream resumes from without a snapshot: a single-TXID file (stock
   * opens only `N-N` names) of the current position, whose WAL still has
   * the position's header. Otherwise the agent writes a handover tip
   * ({@linkcode writeHandover}) at a graceful stop.
   */
  resumableBy(tip: { minTxid: Txid; maxTxid: Txid } | undefined): boolean {
    const pos = this.#pos;
    if (!pos || this.#snapshotReason !== undefined) return true; // nothing to hand over
    if (!tip || tip.minTxid !== tip.maxTxid || tip.maxTxid !== pos.txid) return false;
    const hdr = this.#conn.readWalHeader();
    return hdr !== undefined && sameWal(pos, hdr);
  }

  /**
   * Writes the handover tip (docs/FORMAT.md, "Handover tip"): one more L0
   * file `N+1-N+1` that changes nothing (pre-apply = post-apply = the
   * current database checksum) and whose WAL fields stock Litestream
   * resumes from. Either the last captured frame — its page, read from the
   * WAL where the position's cumulative checksum proves it is that frame,
   * is the file's only page, so stock's "last page" check passes — or,
   * when the WAL restarted since and holds no committed frame yet, offset
   * 32 of the new WAL with its salts, which stock reads as "at the WAL
   * header, salts match". Call right after a sync. Returns undefined (and
   * logs why) when neither can be proven; stock then takes a snapshot.
   */
  writeHandover(): SyncResult | undefined {
    const pos = this.#pos;
    if (!pos || this.#snapshotReason !== undefined) return undefined;
    const hdr = this.#conn.readWalHeader();
    const read = (o: number, n: number) => this.#conn.readWal(o, n);
    const frameSize = WAL_FRAME_HEADER_SIZE + this.pageSize;
    if (hdr && sameWal(pos, hdr) && pos.walOffset > WAL_HEADER_SIZE) {
      const seg = {
        start: pos.walOffset - frameSize,
        end: pos.walOffset,
        checksum: pos.walChecksum,
        commit: pos.commit,
      };
      const pgno = this.#lastFramePage(seg);
      if (pgno !== undefined && frameMatches(read, hdr, { endOffset: pos.walOffset, checksum: pos.walChecksum })) {
        const frame = seg.start + WAL_FRAME_HEADER_SIZE;
        return this.#writeL0({
          hdr,
          seg,
          pages: [pgno],
          kind: "handover",
          reason: "handover",
          expectRestart: pos.expectRestart,
          read: () => this.#conn.readWal(frame, this.pageSize),
        });
      }
    } else if (hdr && (sameWal(pos, hdr) || (pos.expectRestart && isOneRestartLater(pos, hdr)))) {
      const seg = readWalSegment(read, hdr, {
        offset: WAL_HEADER_SIZE,
        seed: hdr.checksum,
        ...this.#committedEnd(hdr),
      });
      if (seg.endOffset === WAL_HEADER_SIZE) {
        if (!sameWal(pos, hdr)) this.#pages.reset();
        return this.#writeL0({
          hdr,
          seg: { start: WAL_HEADER_SIZE, end: WAL_HEADER_SIZE, checksum: hdr.checksum, commit: pos.commit },
          pages: [1],
          kind: "handover",
          reason: "handover",
        });
      }
    }
    this.#log.warn("no handover tip: the WAL changed since the last capture; stock Litestream will take a snapshot");
    return undefined;
  }

  /**
   * Writes the level-9 snapshot `1-<txid>` of the current position into the
   * local store (for upload). Call right after a sync, while no newer frame
   * has been captured. Returns the file's TXID range.
   */
  writeLevel9Snapshot(): { minTxid: Txid; maxTxid: Txid; size: number; timestamp: number } | undefined {
    const pos = this.#pos;
    if (!pos) return undefined;
    // The newest capture `1-<txid>` (the first state: every page, MinTXID 1)
    // already is this snapshot: link it instead of encoding the database
    // again (the bytes are the same state, and a level-9 file may carry
    // the WAL fields).
    const spool = this.#store.spool;
    const last = spool.lastCapture();
    if (last?.minTxid === 1n && last.maxTxid === pos.txid) {
      const snap = spool.link(spool, last, SNAPSHOT_LEVEL);
      return { minTxid: snap.minTxid, maxTxid: snap.maxTxid, size: snap.size, timestamp: snap.createdAt.getTime() };
    }
    const timestamp = this.#clock.now();
    const header = newLtxHeader({
      pageSize: this.pageSize,
      commit: pos.commit,
      minTxid: txid(1n),
      maxTxid: pos.txid,
      timestamp,
      nodeId: this.#store.writerId,
    });
    const lock = lockPageNumber(this.pageSize);
    const pages = this.#pages;
    const size = writeLocalLtx(this.#store.spool, {
      level: SNAPSHOT_LEVEL,
      header,
      pages: (function* () {
        for (let pgno = 1; pgno <= pos.commit; pgno++) if (pgno !== lock) yield { pgno, data: pages.page(pgno) };
      })(),
      postApply: () => pos.postApplyChecksum,
    });
    return { minTxid: header.minTxid, maxTxid: pos.txid, size, timestamp };
  }

  /**
   * Runs a checkpoint when a threshold is crossed (design §2): TRUNCATE at
   * `truncatePageN` frames, PASSIVE behind a write barrier at
   * `minCheckpointPageCount` frames or after `checkpointIntervalMs`.
   * Call after a sync. Returns the mode run, if any.
   */
  checkpointIfNeeded(now = Date.now()): CheckpointMode | undefined {
    const mode = this.checkpointDue(now);
    return mode === undefined ? undefined : this.checkpoint(mode);
  }

  /**
   * The checkpoint `checkpointIfNeeded` would run now, by the captured
   * position, without running it. A caller that knows before its sync can
   * `prepareCheckpoint()`, sync, then `checkpoint(mode, { prepared: true })`:
   * one capture fewer per checkpoint (and its fsyncs).
   */
  checkpointDue(now = Date.now()): "PASSIVE" | "TRUNCATE" | undefined {
    const pos = this.#pos;
    if (!pos || this.#snapshotReason !== undefined) return undefined;
    const frames = (pos.walOffset - WAL_HEADER_SIZE) / (WAL_FRAME_HEADER_SIZE + this.pageSize);
    if (frames <= 0) return undefined;
    if (this.#options.truncatePageN > 0 && frames >= this.#options.truncatePageN) return "TRUNCATE";
    if (frames >= this.#options.minCheckpointPageCount) return "PASSIVE";
    if (now - this.#lastCheckpoint >= this.#options.checkpointIntervalMs) return "PASSIVE";
    return undefined;
  }

  /**
   * Moves the read lock to the WAL's end before a sync that a checkpoint
   * follows (see `#precopy`).
   */
  prepareCheckpoint(): void {
    this.#conn.refreshReadLock();
  }

  /**
   * Runs a checkpoint without losing a frame: copy back what is captured
   * without holding the application up (`#precopy`), then take the write
   * barrier, capture up to the WAL end, release our read lock, PASSIVE
   * checkpoint (only the frames since the pre-copy are left), re-take the
   * read lock, drop the barrier. When every frame was copied
   * back, the next write restarts the WAL (salt1 + 1), which the next sync
   * expects and continues from offset 32.
   *
   * `TRUNCATE` also shrinks the WAL file: after a complete checkpoint the
   * agent makes that restarting write itself, on a connection with
   * `journal_size_limit = 0`, so SQLite truncates the file. SQLite's own
   * TRUNCATE mode is never used: it must run without our barrier, and it
   * reports no frame count afterwards, so frames committed in between could
   * not be proven captured.
   */
  checkpoint(mode: "PASSIVE" | "TRUNCATE", options: { prepared?: boolean } = {}): CheckpointMode | undefined {
    this.#precopy(options.prepared === true);
    try {
      this.#conn.beginBarrier();
    } catch (err) {
      this.#log.debug("checkpoint skipped: database busy", { err: String(err) });
      this.#conn.endBarrier();
      return undefined;
    }
    let complete = false;
    const heldFrom = performance.now();
    try {
      this.sync();
      const pos = this.#pos;
      if (!pos) return undefined;
      this.#conn.releaseReadLock();
      let result;
      try {
        result = this.#conn.checkpoint("PASSIVE");
      } finally {
        this.#conn.acquireReadLock();
      }
      this.#lastCheckpoint = Date.now();
      complete = result.busy === 0 && result.checkpointed === result.log;
      if (complete) {
        // Everything is in the database file now; the WAL will restart.
        this.#pages.reset();
        this.#pos = { ...pos, expectRestart: true };
        this.#store.writePosition(this.#pos);
      }
    } finally {
      this.#conn.endBarrier();
      this.#log.debug("checkpoint barrier released", {
        ms: Math.round((performance.now() - heldFrom) * 10) / 10,
        complete,
      });
    }
    if (complete && mode === "TRUNCATE") this.#conn.restartWal();
    return mode;
  }

  /**
   * The first, unbarriered half of a checkpoint (issue #13): moves the
   * read lock to the WAL's end (snapshot S), captures up to at least S, and
   * lets a PASSIVE checkpoint copy back every frame up to S while the
   * application keeps writing. Our read lock keeps the WAL from
   * restarting, and nothing past S (perhaps not captured yet) can be
   * copied back, so every page capture reads from the database file is
   * still the captured state's. The barrier then only has to cover the
   * frames committed since, instead of the whole WAL. `prepared`: the
   * caller moved the read lock (`prepareCheckpoint`) and synced since.
   */
  #precopy(prepared: boolean): void {
    if (!prepared) {
      this.#conn.refreshReadLock();
      this.sync();
    }
    if (!this.#pos || this.#snapshotReason !== undefined) return;
    try {
      this.#conn.checkpoint("PASSIVE");
    } catch (err) {
      // SQLITE_BUSY (another checkpoint runs): the barrier half copies everything.
      this.#log.debug("checkpoint pre-copy skipped", { err: String(err) });
    }
  }

  /** Closes the database connections (the local store stays). */
  close(): void {
    this.#conn.close();
  }
}

/**
 * Every WAL restart adds one to salt1 (SQLite `walRestartHdr`); the
 * checkpoint sequence also grows by one, except after a TRUNCATE checkpoint.
 */
function isOneRestartLater(pos: CapturePosition, hdr: WalHeader): boolean {
  const seq = hdr.checkpointSeq;
  return hdr.salt1 === (pos.salt1 + 1) >>> 0 && (seq === pos.checkpointSeq || seq === (pos.checkpointSeq + 1) >>> 0);
}

/** True when `hdr` is the header of the WAL the position is in. */
function sameWal(pos: CapturePosition, hdr: WalHeader): boolean {
  return hdr.salt1 === pos.salt1 && hdr.salt2 === pos.salt2 && hdr.checkpointSeq === pos.checkpointSeq;
}

/** Pages 1..commit without the lock page. */
function* pageRange(commit: number, pageSize: number): Generator<number> {
  const lock = lockPageNumber(pageSize);
  for (let p = 1; p <= commit; p++) if (p !== lock) yield p;
}

function max(...values: bigint[]): bigint {
  return values.reduce((a, b) => (a > b ? a : b), 0n);
}
