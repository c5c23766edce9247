/**
 * Ships one database to one replica, by policy (design §3):
 *
 * 1. **Batch**: when due (`upload-policy.ts`), every pending spool file is
 *    merged into one local batch `min-max` (each page once, newest wins),
 *    kept in the replica's local directory.
 * 2. **Coalesce**: batches not yet uploaded (offline) are merged again when
 *    they exceed the spool's byte or age bound; nothing is dropped.
 * 3. **Upload** batches in TXID order: one PUT each, paced by the
 *    replica's bandwidth throttle.
 * 4. **Snapshots** (level 9) and **compaction** (levels 1..n, from local
 *    copies, never downloads) run only inside the time windows and not on a
 *    metered link (unless the metered policy allows snapshots).
 * 5. **Retention** after each snapshot upload deletes what no restore
 *    inside `snapshot.retention` needs.
 *
 * The replica's position is kept locally (`ReplicaState`); the bucket is
 * listed in full only at start (`settle`: one LIST per level in use) and by
 * retention (after a snapshot upload that replaces an older one). Before
 * each round of uploads one LIST from the last uploaded file on and one
 * ranged GET of a header check that no other writer wrote there (the
 * second-writer guard, `#checkTip`; the GET is skipped while the newest
 * file is our last PUT with the ETag that PUT got).
 *
 * @module
 */

import type { ReplicaConfig, UploadPolicy } from "../config/schema.ts";
import { CorruptFileError, errorMessage, isDiskFull, WriterConflictError } from "../errors.ts";
import { decodeHeader, decodeTrailer, HEADER_SIZE, TRAILER_SIZE, type LtxHeader } from "../ltx/header.ts";
import { formatTxid, txid, type Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import { systemClock, type Clock } from "../platform/clock.ts";
import { effectivePostApply } from "../replica/checksum-record.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type ReplicaClient } from "../replica/client.ts";
import type { ByteThrottle } from "../replica/throttle.ts";
import { describe } from "../restore/planner.ts";
import { emptyReplicaState, type LocalStore, type ReplicaState } from "./local-store.ts";
import { mergeLocalLtx } from "./local-ltx.ts";
import { openFileSource, type ByteSource } from "../platform/byte-source.ts";
import { GarbagePacer } from "../platform/gc.ts";
import type { LtxDir } from "./ltx-dir.ts";
import { planRetention } from "./retention.ts";
import { activePolicy, inWindow, isBatchDue, msUntilDue, type BatchState } from "./upload-policy.ts";

/** Settings of one uploader. */
export interface UploaderOptions {
  readonly name: string;
  readonly client: ReplicaClient;
  readonly store: LocalStore;
  readonly log: Logger;
  readonly replica: Pick<ReplicaConfig, "upload" | "meteredUpload" | "windows" | "meteredSnapshots">;
  /** Compaction levels L1..Ln (empty = none). */
  readonly levels: ReadonlyArray<{ readonly interval: number }>;
  readonly snapshotRetentionMs: number;
  readonly spool: { readonly maxBytes: number; readonly maxAge: number };
  readonly throttle?: ByteThrottle;
  readonly clock?: Clock;
  /** Accept whatever the replica holds at `settle` (`litefleet takeover`). */
  readonly takeover?: boolean;
}

/** Counters since start, for status and metrics. */
export interface UploaderStats {
  /** The monotonic clock at start: `uptimeMs()` counts from it, whatever the wall clock does. */
  readonly startedMono: number;
  puts: number;
  bytes: number;
  lists: number;
  deletes: number;
  batches: number;
  coalesced: number;
  /** Failed remote attempts (each followed by a backoff). */
  errors: number;
  lastUploadAt: number;
  lastError: string | undefined;
}

/** What one tick did. */
export interface TickResult {
  readonly files: number;
  readonly bytes: number;
  /** The replica lacks TXIDs the spool no longer has: a level-9 snapshot is needed. */
  readonly needsSnapshot: boolean;
  /** How long until a batch can become due on time alone. */
  readonly nextDueMs: number;
}

/** Options of one tick. */
export interface TickOptions {
  readonly metered: boolean;
  /** An explicit sync: batch and upload now, whatever the policy says. */
  readonly explicit?: boolean;
  /**
   * False while backing off after an error: only the local steps run
   * (batching and coalescing), so the spool stays bounded during an outage.
   * Default true.
   */
  readonly remote?: boolean;
  readonly signal?: AbortSignal;
}

/** See the module documentation. */
export class Uploader {
  readonly name: string;
  readonly client: ReplicaClient;
  readonly stats: UploaderStats;
  #o: UploaderOptions;
  #clock: Clock;
  #dir: LtxDir;
  #state: ReplicaState | undefined;
  /** The remote file with the highest TXID, as of the last `settle`. */
  #tip: LtxFileInfo | undefined;
  /** Monotonic time of the last batch (undefined = none since start). */
  #lastBatchAt: number | undefined;
  /** Per compaction level: wall time and monotonic time of its last run. */
  #lastCompactAt: { wall: number; mono: number }[];
  /**
   * Monotonic time each local file (spool or batch) was made, as far as this
   * process saw it: batch ages and `max-interval` run on it, so a wall-clock
   * step (NTP) neither stalls nor rushes uploads. A file is dated when a tick
   * first sees it (the agent ticks at least every 5 s), by its wall-clock
   * age then (never negative), but at most the time since its directory was
   * last looked at; files from before the start by their wall-clock age.
   */
  #madeAt = new Map<string, number>();
  /** Monotonic time each directory's pending files were last looked at (by `#batchState`), by its root. */
  readonly #lookedAt = new Map<string, number>();
  /** True while `state.json` is behind the state in memory (a full disk). */
  #stateUnsaved = false;
  #settled = false;
  #conflict: WriterConflictError | undefined;
  /** Fresh local state above a replica with history: what the first capture must continue (`#checkContinuation`). */
  #continuation: { txid: Txid; checksum: bigint | undefined } | undefined;
  /** The last level-0 file this process uploaded. */
  #lastPut: LtxFileInfo | undefined;
  /** The remote level-0 file with the highest TXID, as of the last `settle`. */
  #l0Tip: LtxFileInfo | undefined;

  constructor(options: UploaderOptions) {
    this.name = options.name;
    this.client = options.client;
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#dir = options.store.replicaDir(options.name);
    // A batch is written before the state that records it: after a crash
    // in between, the local batches say how far batching went.
    const recorded = options.store.readReplicaState(options.name);
    const batched = this.#dir.listMerged(0).at(-1)?.maxTxid ?? 0n;
    this.#state = recorded && batched > recorded.built ? { ...recorded, built: txid(batched) } : recorded;
    const now = { wall: this.#clock.now(), mono: this.#clock.monotonic() };
    this.#lastCompactAt = options.levels.map(() => ({ ...now }));
    this.stats = {
      startedMono: now.mono,
      puts: 0,
      bytes: 0,
      lists: 0,
      deletes: 0,
      batches: 0,
      coalesced: 0,
      errors: 0,
      lastUploadAt: 0,
      lastError: undefined,
    };
  }

  /** How long this uploader has run (ms), on the monotonic clock: a wall-clock step does not change it. */
  uptimeMs(): number {
    return this.#clock.monotonic() - this.stats.startedMono;
  }

  /** The replica's known state, if any. */
  get state(): ReplicaState | undefined {
    return this.#state;
  }

  /** Highest TXID the replica holds at any level. */
  get maxTxid(): Txid {
    return txid((this.#state?.uploaded ?? []).reduce((m, t) => (t > m ? t : m), 0n));
  }

  /** True once `settle` read the replica's position and accepted its history. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Set when the replica holds files this device did not write; uploads stay stopped. */
  get conflict(): WriterConflictError | undefined {
    return this.#conflict;
  }

  /**
   * Reads what the replica holds (one LIST per level in use), checks that
   * its history is this device's (the second-writer guard) and records it.
   *
   * - With a recorded state, every remote file above the recorded position
   *   must be one of ours (its node ID is one of this state's writer IDs):
   *   an upload cut off by a crash before its state was saved. Anything
   *   else is another writer's: `WriterConflictError`, nothing recorded.
   * - With no recorded state and a replica that holds files, the first
   *   capture must be the replica's latest state (same database checksum:
   *   the database was restored from it, or migrated); `#checkContinuation`
   *   checks it before anything is batched.
   * - A takeover (`takeover` option) accepts whatever the replica holds.
   *
   * An upload cut off by a crash must not count as uploaded: S3 itself
   * never stores a partial PUT, but not every S3-compatible server is as
   * strict, so any file still held locally whose remote copy is missing
   * (level 0) or has another size (any level) is sent again. LTX files are
   * immutable, so resending is idempotent.
   */
  async settle(signal?: AbortSignal): Promise<ReplicaState> {
    if (this.#conflict) throw this.#conflict;
    const sig = signal ? { signal } : {};
    await this.client.init(sig);
    const recorded = this.#state;
    const uploaded: Txid[] = [];
    const listed: LtxFileInfo[] = [];
    let snapshotTime = 0;
    let tip: LtxFileInfo | undefined;
    let l0Tip: LtxFileInfo | undefined;
    // Only the levels in use: L0, the configured compaction levels and L9
    // (every TXID is in L0 or covered by an L9 snapshot).
    const inUse = new Set([0, SNAPSHOT_LEVEL, ...this.#o.levels.map((_, i) => i + 1)]);
    for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
      if (!inUse.has(level)) {
        uploaded.push(txid(0));
        continue;
      }
      const remote = new Map<bigint, LtxFileInfo>();
      for await (const f of this.client.listLtxFiles(level, sig)) remote.set(f.minTxid * 2n ** 64n + f.maxTxid, f);
      this.stats.lists++;
      listed.push(...remote.values());
      const locals = (level === SNAPSHOT_LEVEL ? this.#o.store.spool : this.#dir).list(level);
      let max = 0n;
      for (const f of remote.values()) {
        if (f.maxTxid > max) max = f.maxTxid;
        if (!tip || f.maxTxid > tip.maxTxid) tip = f;
        if (level === 0 && (!l0Tip || f.maxTxid > l0Tip.maxTxid)) l0Tip = f;
      }
      for (const local of locals) {
        if (local.maxTxid > max) break;
        const copy = remote.get(local.minTxid * 2n ** 64n + local.maxTxid);
        if ((copy === undefined && level !== SNAPSHOT_LEVEL) || (copy !== undefined && copy.size !== local.size)) {
          this.#o.log.warn("replica copy is missing or incomplete; uploading it again", {
            level,
            txid: `${local.minTxid.toString(16)}-${local.maxTxid.toString(16)}`,
            size: copy?.size,
          });
          max = local.minTxid - 1n;
          break;
        }
      }
      if (level === SNAPSHOT_LEVEL) {
        for (const f of remote.values()) if (f.maxTxid === max) snapshotTime = f.createdAt.getTime();
      }
      uploaded.push(txid(max));
    }
    const remoteMax = listed.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
    if (this.#o.takeover !== true && !this.#settled) {
      if (recorded === undefined) {
        // No record of this replica. Its history is ours when its newest
        // file is (a state file lost to a full disk, then a crash); else
        // the database must be its latest state (`continueOnTop`).
        const ours =
          tip !== undefined &&
          this.#o.store.writerIds().length > 0 &&
          (await this.#foreignWriter(tip, signal)) === undefined;
        if (remoteMax > 0n && !ours)
          this.#continuation = { txid: txid(remoteMax), checksum: await this.#checksumAt(tip, signal) };
      } else {
        const known = recorded.uploaded.reduce((m, t) => (t > m ? t : m), 0n);
        for (const f of listed.filter((x) => x.maxTxid > known).sort((a, b) => (a.maxTxid < b.maxTxid ? -1 : 1))) {
          const writer = await this.#foreignWriter(f, signal);
          if (writer !== undefined) {
            throw this.#stop(
              `Cannot replicate to ${this.client.location}: it holds ${describe(this.client, f)}, written by ${writer}, above the TXID ${formatTxid(txid(known))} this device uploaded last`,
            );
          }
        }
      }
    }
    const localMax = this.#dir.listMerged(0).at(-1)?.maxTxid ?? 0n;
    const built = [uploaded[0] ?? 0n, localMax, this.#state?.built ?? 0n].reduce((a, b) => (a > b ? a : b));
    this.#setState({ uploaded, snapshotTime, built: txid(built) });
    this.#tip = tip;
    this.#l0Tip = l0Tip;
    this.#settled = true;
    return this.#state as ReplicaState;
  }

  /**
   * Who wrote remote file `f`, when it is not this state's: its node ID is
   * none of our writer IDs, or zero (files of other tools and earlier
   * versions) unless a local copy of the same size exists or `ours` says
   * we uploaded a file of that name and size. Undefined = ours.
   */
  async #foreignWriter(
    f: LtxFileInfo,
    signal: AbortSignal | undefined,
    options: { ours?: boolean } = {},
  ): Promise<string | undefined> {
    const head = await this.client.readLtxFile(f, { offset: 0, size: HEADER_SIZE, ...(signal ? { signal } : {}) });
    let header: LtxHeader;
    try {
      header = decodeHeader(head, { path: describe(this.client, f) });
    } catch (err) {
      if (!(err instanceof CorruptFileError)) throw err;
      // A damaged object (an upload some server kept half of, ours sent
      // again if we still hold it) tells no writer; restore and verify
      // report it.
      this.#o.log.warn("replica object is damaged; not counted as another writer's", {
        file: describe(this.client, f),
        err: errorMessage(err),
      });
      return undefined;
    }
    const { nodeId, timestamp } = header;
    const at = new Date(timestamp).toISOString();
    if (nodeId !== 0n) {
      return this.#o.store.writerIds().includes(nodeId) ? undefined : `writer ${hex16(nodeId)} at ${at}`;
    }
    if (options.ours === true) return undefined;
    const dir = f.level === SNAPSHOT_LEVEL ? this.#o.store.spool : this.#dir;
    const local = dir.list(f.level).find((l) => l.minTxid === f.minTxid && l.maxTxid === f.maxTxid);
    if (local?.size === f.size) return undefined;
    return `a writer without an ID (another tool, or an earlier litefleet) at ${at}`;
  }

  /**
   * Records a writer conflict: uploads to this replica stop (every later
   * tick throws it) until the operator resolves it and restarts.
   */
  #stop(message: string): WriterConflictError {
    this.#conflict = new WriterConflictError(
      `${message}. A second agent replicates to the same place; uploads to this replica are stopped and its files are left as they are`,
      {
        replica: this.name,
        hint: 'Give each device its own device.id (a cloned image keeps the original\'s), or, if this device is now the only writer, run `litefleet takeover` and restart it (docs/OPERATIONS.md, "Cloning images")',
      },
    );
    return this.#conflict;
  }

  /**
   * True after `settle` found a fresh local state above a replica that
   * holds history: `continueOnTop` must accept it before anything is
   * batched (`DbAgent.start` does, before capture opens).
   */
  get continuationPending(): boolean {
    return this.#continuation !== undefined;
  }

  /**
   * Accepts the replica's history as this database's when `checksum` (the
   * database's, read before capture touched it) is the replica's latest
   * state: it was restored from it, or migrated. Else records a conflict.
   * A replica whose latest file has no checksum (written by another tool)
   * is continued with a warning.
   */
  continueOnTop(checksum: bigint | undefined): void {
    const c = this.#continuation;
    if (!c) return;
    if (c.checksum === undefined) {
      this.#o.log.warn(
        "the replica's latest state has no checksum to compare (written by another tool?); continuing on top of it",
        {
          txid: formatTxid(c.txid),
        },
      );
    } else if (checksum !== c.checksum) {
      throw this.#stop(
        `Cannot replicate to ${this.client.location}: it holds TXIDs up to ${formatTxid(c.txid)} that this device did not write, and this database is not their latest state (database checksum ${checksum === undefined ? "none" : hex16(checksum)}, the replica's ${hex16(c.checksum)})`,
      );
    }
    this.#continuation = undefined;
    if (this.#state) this.#setState(this.#state);
  }

  /**
   * Before the first batch: a continuation still pending means the replica
   * told its history only after capture had started this database's own
   * (offline at the first start), which cannot continue someone else's.
   */
  #checkContinuation(first: LtxFileInfo): void {
    const c = this.#continuation;
    if (!c) return;
    throw this.#stop(
      `Cannot replicate to ${this.client.location}: it holds TXIDs up to ${formatTxid(c.txid)} that this device did not write, and this device's own history starts at TXID ${formatTxid(first.minTxid)}`,
    );
  }

  /**
   * Before uploading: the replica's level 0 must still end with the last
   * file this process uploaded (or at the recorded position), with nothing
   * of another writer's on or above it (one LIST from that file on, one
   * ranged GET of the newest file's header).
   */
  async #checkTip(signal: AbortSignal | undefined): Promise<void> {
    const uploaded = this.#state?.uploaded[0] ?? 0n;
    const last = this.#lastPut;
    const seek = txid(last ? last.minTxid : uploaded + 1n);
    const above: LtxFileInfo[] = [];
    for await (const f of this.client.listLtxFiles(0, { seek, ...(signal ? { signal } : {}) })) above.push(f);
    this.stats.lists++;
    for (const f of above) {
      const ours =
        last !== undefined && f.minTxid === last.minTxid && f.maxTxid === last.maxTxid && f.size === last.size;
      // Our last file is read only when it is the newest: another writer's
      // PUT of the same name may have replaced it. Not even then when the
      // listing shows the ETag our PUT got: the object is still the bytes
      // we sent (another PUT of other bytes changes the ETag), so its header
      // names our writer ID. That spares the GET of every round on S3.
      if (ours && f !== above.at(-1)) continue;
      if (ours && last.etag !== undefined && f.etag === last.etag) continue;
      const writer = await this.#foreignWriter(f, signal, { ours });
      if (writer === undefined) continue;
      throw this.#stop(
        `Cannot replicate to ${this.client.location}: it holds ${describe(this.client, f)}, written by ${writer}, where this device's TXID ${formatTxid(txid(uploaded))} should be its newest file`,
      );
    }
  }

  /**
   * The database checksum a replica file records after it applies, if
   * any: its trailer's (files of earlier versions), or the checksum record
   * stored beside a NoChecksum file when it names the file's bytes (one
   * HEAD more), as `effectivePostApply` rules.
   */
  async #checksumAt(f: LtxFileInfo | undefined, signal: AbortSignal | undefined): Promise<bigint | undefined> {
    if (!f || f.size < HEADER_SIZE + TRAILER_SIZE) return undefined;
    const sig = signal ? { signal } : {};
    const bytes = await this.client.readLtxFile(f, { offset: f.size - TRAILER_SIZE, size: TRAILER_SIZE, ...sig });
    const trailer = decodeTrailer(bytes, { path: describe(this.client, f) });
    const record = trailer.postApplyChecksum === 0n ? (await this.client.statLtxFile(f, sig)).checksums : undefined;
    return effectivePostApply(trailer, record);
  }

  /**
   * The database checksum the replica records at its highest TXID (a
   * ranged read of the tip file's trailer and a HEAD for its checksum
   * record, after `settle`), so the
   * first file of a fresh local state can continue the replica's checksum
   * chain. Undefined when unknown (no tip, or it records no checksums).
   */
  async tipChecksum(signal?: AbortSignal): Promise<{ txid: Txid; checksum: bigint } | undefined> {
    const tip = this.#tip;
    if (!tip || tip.maxTxid !== this.maxTxid) return undefined;
    const checksum = await this.#checksumAt(tip, signal);
    return checksum === undefined ? undefined : { txid: tip.maxTxid, checksum };
  }

  /** Pending work: spool files not yet batched plus batches not yet uploaded. */
  pending(): { files: number; bytes: number; oldestAt: number | undefined } {
    const state = this.#state ?? emptyReplicaState();
    const spool = this.#o.store.spool.pendingFor(state.built);
    const copies = this.#dir.listMerged(0).filter((f) => f.maxTxid > (state.uploaded[0] ?? 0n));
    const all = [...copies, ...spool];
    const oldest = all.reduce<number | undefined>(
      (m, f) => (m === undefined || f.createdAt.getTime() < m ? f.createdAt.getTime() : m),
      undefined,
    );
    return { files: all.length, bytes: all.reduce((n, f) => n + f.size, 0), oldestAt: oldest };
  }

  /**
   * The newest level-0 file the replica holds, as far as this process
   * knows (its last upload, else what `settle` listed); undefined when it
   * has not been reached or holds none.
   */
  get newestL0(): LtxFileInfo | undefined {
    const [put, listed] = [this.#lastPut, this.#l0Tip];
    return put && (!listed || put.maxTxid >= listed.maxTxid) ? put : listed;
  }

  /** Does whatever the policy says is due now; see the module documentation. */
  async tick(options: TickOptions): Promise<TickResult> {
    const policy = activePolicy(this.#o.replica, options.metered);
    if (this.#conflict) throw this.#conflict;
    // Remote steps need the replica's position, read once (`settle`). While
    // backing off, the local steps run on the recorded state, if there is
    // one (batches need the replica's position, which only it can tell).
    if (!this.#settled && options.remote !== false) await this.settle(options.signal);
    const state = this.#state;
    if (!state) return { files: 0, bytes: 0, needsSnapshot: false, nextDueMs: policy.minInterval };
    this.#o.throttle?.setRate(policy.bandwidth);
    const before = { puts: this.stats.puts, bytes: this.stats.bytes };

    const batched = this.#batch(state, { explicit: options.explicit === true, policy });
    if (batched === "needs-snapshot") {
      return { files: 0, bytes: 0, needsSnapshot: true, nextDueMs: 0 };
    }
    await this.#whenRoom("coalescing waiting batches", async () => this.#coalesce());
    if (options.remote === false) {
      return { files: 0, bytes: 0, needsSnapshot: false, nextDueMs: this.#nextDueMs(policy) };
    }
    if (this.#hasUploads()) await this.#checkTip(options.signal);
    // A snapshot that level 0 continues from (the first state, see
    // `#firstStateAsSnapshot`, or one bridging a gap) goes before any batch
    // that continues it, whatever the time windows and the metered policy
    // say: until it is there those batches restore nothing.
    if (this.#snapshotStartsChain()) await this.#uploadSnapshots(options.signal);
    await this.#uploadBatches(options.signal);
    const bulkAllowed = inWindow(this.#o.replica.windows, new Date(this.#clock.now()));
    if (bulkAllowed && (!options.metered || this.#o.replica.meteredSnapshots))
      await this.#uploadSnapshots(options.signal);
    if (bulkAllowed && !options.metered) await this.#whenRoom("compaction", () => this.#compact(options.signal));
    return {
      files: this.stats.puts - before.puts,
      bytes: this.stats.bytes - before.bytes,
      needsSnapshot: false,
      nextDueMs: this.#nextDueMs(policy),
    };
  }

  /**
   * Runs a step that only writes local copies (coalescing, compaction) and
   * skips it while the disk is full: uploads, which free the space, must
   * not wait behind it.
   */
  async #whenRoom(step: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      this.#o.log.warn(`disk full: ${step} waits until space returns`, { err: errorMessage(err) });
    }
  }

  #nextDueMs(policy: UploadPolicy): number {
    const state = this.#state ?? emptyReplicaState();
    const spool = this.#o.store.spool;
    return msUntilDue(this.#batchState(spool, spool.pendingFor(state.built), false), policy);
  }

  /** What the batch policy is asked about `pending` files of `dir`, on the monotonic clock. */
  #batchState(dir: LtxDir, pending: readonly LtxFileInfo[], explicit: boolean): BatchState {
    const first = pending[0];
    const now = this.#clock.monotonic();
    const oldestPendingAt = first && Math.min(...pending.map((f) => this.#madeAtOf(dir, f)));
    this.#lookedAt.set(dir.root, now);
    return {
      now,
      lastUploadAt: this.#lastBatchAt ?? Number.NEGATIVE_INFINITY,
      oldestPendingAt,
      pendingBytes: pending.reduce((n, f) => n + f.size, 0),
      explicit,
    };
  }

  /**
   * Monotonic time `f` of `dir` was made (see `#madeAt`): from its
   * wall-clock age when first seen, but a file that was not there when the
   * directory was last looked at is at most that old, whatever the wall
   * clock says (a forward step must not make a new capture look overdue).
   */
  #madeAtOf(dir: LtxDir, f: LtxFileInfo, at?: number): number {
    const key = madeAtKey(dir, f);
    let t = this.#madeAt.get(key);
    if (t === undefined) {
      const now = this.#clock.monotonic();
      const wallAge = Math.max(0, this.#clock.now() - f.createdAt.getTime());
      const lookedAt = this.#lookedAt.get(dir.root);
      t = at ?? now - (lookedAt === undefined ? wallAge : Math.min(wallAge, now - lookedAt));
      this.#madeAt.set(key, t);
    }
    return t;
  }

  /** Forgets the spool entries of `#madeAt` other than `pending`'s (files coalesced or pruned by the agent). */
  #forgetGone(spool: LtxDir, pending: readonly LtxFileInfo[]): void {
    const live = new Set(pending.map((f) => madeAtKey(spool, f)));
    for (const key of this.#madeAt.keys())
      if (key.startsWith(`${spool.root}\0`) && !live.has(key)) this.#madeAt.delete(key);
  }

  /** Forgets the `#madeAt` entry of a file that is gone. */
  #forget(dir: LtxDir, f: LtxFileInfo): void {
    this.#madeAt.delete(madeAtKey(dir, f));
  }

  /**
   * Step 1: merge due spool files into local batches. A batch never spans
   * a level-9 snapshot's TXID (pending or uploaded): every snapshot is then
   * a batch boundary, so a chain continues from it (`retention.ts`).
   */
  #batch(state: ReplicaState, ctx: { explicit: boolean; policy: UploadPolicy }): "ok" | "needs-snapshot" {
    const spool = this.#o.store.spool;
    let pending = spool.pendingFor(state.built);
    const first = pending[0];
    if (!first) return "ok";
    let built = state.built;
    if (first.minTxid > built + 1n) {
      // The spool no longer has what this replica lacks; a level-9 snapshot
      // at or past the gap bridges it (batches then continue after it).
      const localSnap = spool.pendingSnapshot()?.maxTxid ?? 0n;
      const snap = [state.uploaded[SNAPSHOT_LEVEL] ?? 0n, localSnap].reduce((a, b) => (a > b ? a : b));
      pending = pending.filter((f) => f.minTxid > snap);
      if (snap + 1n < first.minTxid || (pending[0] && pending[0].minTxid !== snap + 1n)) return "needs-snapshot";
      built = txid(snap);
      if (!pending[0]) {
        this.#setState({ ...state, built });
        return "ok";
      }
    }
    this.#checkContinuation(first);
    this.#forgetGone(spool, pending);
    if (!isBatchDue(this.#batchState(spool, pending, ctx.explicit), ctx.policy)) return "ok";
    if (built === 0n && (state.uploaded[0] ?? 0n) === 0n && first.minTxid === 1n) {
      const start = this.#firstStateAsSnapshot(pending, state);
      if (start !== undefined) {
        built = start;
        pending = pending.filter((f) => f.minTxid > start);
        this.#setState({ ...(this.#state ?? state), built });
        if (!pending[0]) {
          this.#lastBatchAt = this.#clock.monotonic();
          return "ok";
        }
      }
    }
    const cuts = new Set([state.uploaded[SNAPSHOT_LEVEL] ?? 0n, ...spool.list(SNAPSHOT_LEVEL).map((f) => f.maxTxid)]);
    // Set once a merge found the disk full: the rest go one capture each.
    let diskFull = false;
    while (pending.length > 0) {
      let size = 0;
      let n = 0;
      while (n < pending.length && (n === 0 || size + (pending[n]?.size ?? 0) <= ctx.policy.maxBatchBytes)) {
        size += pending[n]?.size ?? 0;
        n++;
        if (diskFull || cuts.has(pending[n - 1]?.maxTxid ?? 0n)) break;
      }
      let inputs = pending.slice(0, n);
      let batch: LtxFileInfo | undefined;
      if (inputs.length > 1) {
        try {
          batch = mergeLocalLtx(spool, { files: inputs, dst: this.#dir, level: 0 });
        } catch (err) {
          if (!isDiskFull(err)) throw err;
          // No room for a merged copy: hand captures over one by one, as
          // they are, so the uploads that free the space can go on.
          diskFull = true;
          inputs = inputs.slice(0, 1);
          n = 1;
          this.#o.log.warn("disk full: batching captures one by one until space returns", { replica: this.name });
        }
      }
      // One capture is its own batch: a hard link, nothing copied.
      batch ??= this.#dir.link(spool, inputs[0] as LtxFileInfo);
      const madeAt = Math.min(...inputs.map((f) => this.#madeAtOf(spool, f)));
      this.#madeAtOf(this.#dir, batch, madeAt);
      for (const f of inputs) this.#forget(spool, f);
      pending = pending.slice(n);
      built = batch.maxTxid;
      this.#setState({ ...(this.#state ?? state), built });
      this.stats.batches++;
    }
    this.#lastBatchAt = this.#clock.monotonic();
    return "ok";
  }

  /**
   * The first batch of a replica whose level 0 is empty would start at
   * TXID 1: that is the database's first state, which the replica gets
   * once, as its level-9 snapshot `1-S`, with level 0 starting at S + 1
   * instead of repeating the same pages in an L0 `1-N` (issue #13). A
   * replica that holds nothing takes the first spool file itself as that
   * snapshot: a file `1-N` holds every page, so it is one as it is (a hard
   * link into the spool's level 9, nothing encoded or copied). Otherwise
   * a snapshot the replica holds or the spool has waiting must end on a
   * spool file's end.
   *
   * No restore point is lost: the spool files up to S would have formed
   * one batch ending at S (snapshot TXIDs cut batches), and that batch
   * restores exactly the state the snapshot does. Restore (ours and
   * Litestream's) starts from the snapshot and continues with level 0.
   * Returns S, or undefined when no snapshot fits (batches then start at
   * TXID 1 as they are).
   */
  #firstStateAsSnapshot(pending: readonly LtxFileInfo[], state: ReplicaState): Txid | undefined {
    const spool = this.#o.store.spool;
    const first = pending[0];
    if (!first) return undefined;
    let snap = [state.uploaded[SNAPSHOT_LEVEL] ?? 0n, spool.pendingSnapshot()?.maxTxid ?? 0n].reduce((a, b) =>
      a > b ? a : b,
    );
    if (snap < first.maxTxid && holdsNothing(state)) {
      spool.link(spool, first, SNAPSHOT_LEVEL);
      snap = first.maxTxid;
    }
    if (!pending.some((f) => f.maxTxid === snap)) return undefined;
    return txid(snap);
  }

  /** Step 2: bound the not-yet-uploaded batches by merging them. */
  #coalesce(): void {
    const uploaded = this.#state?.uploaded[0] ?? 0n;
    const waiting = this.#dir.listMerged(0).filter((f) => f.maxTxid > uploaded);
    if (waiting.length < 2) return;
    const bytes = waiting.reduce((n, f) => n + f.size, 0);
    const largest = waiting.reduce((m, f) => Math.max(m, f.size), 0);
    const madeAt = Math.min(...waiting.map((f) => this.#madeAtOf(this.#dir, f)));
    // Twice the largest file: once merged, a spool of distinct pages cannot
    // shrink, so merging again only when it has doubled keeps the work linear.
    const overBytes = bytes > Math.max(this.#o.spool.maxBytes, 2 * largest);
    const overAge = this.#clock.monotonic() - madeAt > this.#o.spool.maxAge;
    if (!overBytes && !overAge) return;
    const merged = mergeLocalLtx(this.#dir, { files: waiting, dst: this.#dir, level: 0 });
    for (const f of waiting) {
      this.#forget(this.#dir, f);
      if (f.maxTxid !== merged.maxTxid || f.minTxid !== merged.minTxid) this.#dir.remove(f);
    }
    this.#madeAtOf(this.#dir, merged, madeAt);
    this.stats.coalesced++;
    this.#o.log.info("spool coalesced", {
      files: waiting.length,
      before: bytes,
      after: merged.size,
      reason: overBytes ? "max-bytes" : "max-age",
    });
    if (merged.size > this.#o.spool.maxBytes) {
      this.#o.log.warn("spool is above max-bytes after coalescing; keeping every committed page", {
        size: merged.size,
      });
    }
  }

  /** True when the pending snapshot is where the replica's level 0 will start (it holds no L0 yet). */
  #snapshotStartsChain(): boolean {
    const state = this.#state;
    const snap = this.#o.store.spool.pendingSnapshot();
    if (!state || !snap) return false;
    return (
      (state.uploaded[0] ?? 0n) === 0n &&
      snap.maxTxid > (state.uploaded[SNAPSHOT_LEVEL] ?? 0n) &&
      snap.maxTxid <= state.built
    );
  }

  /** True when a batch or a level-9 snapshot waits for upload. */
  #hasUploads(): boolean {
    const state = this.#state ?? emptyReplicaState();
    const l0 = this.#dir.listMerged(0).at(-1)?.maxTxid ?? 0n;
    const l9 = this.#o.store.spool.pendingSnapshot()?.maxTxid ?? 0n;
    return l0 > (state.uploaded[0] ?? 0n) || l9 > (state.uploaded[SNAPSHOT_LEVEL] ?? 0n);
  }

  /** Step 3: upload local batches above the replica's L0 position, in order. */
  async #uploadBatches(signal: AbortSignal | undefined): Promise<void> {
    for (const f of this.#dir.listMerged(0)) {
      if (f.maxTxid <= (this.#state?.uploaded[0] ?? 0n)) continue;
      const sent = await this.#put(this.#dir, f, signal);
      this.#lastPut = sent.etag === undefined ? f : { ...f, etag: sent.etag };
      this.#setUploaded(0, f);
      this.#forget(this.#dir, f);
      if (this.#o.levels.length === 0) this.#dir.remove(f);
    }
  }

  /** Step 4: upload a pending level-9 snapshot, then apply retention. */
  async #uploadSnapshots(signal: AbortSignal | undefined): Promise<void> {
    const spool = this.#o.store.spool;
    const snap = spool.pendingSnapshot();
    if (!snap || snap.maxTxid <= (this.#state?.uploaded[SNAPSHOT_LEVEL] ?? 0n)) return;
    const hadSnapshot = (this.#state?.uploaded[SNAPSHOT_LEVEL] ?? 0n) > 0n;
    await this.#put(spool, snap, signal);
    this.#setUploaded(SNAPSHOT_LEVEL, snap);
    this.#setState({ ...(this.#state ?? emptyReplicaState()), snapshotTime: snap.createdAt.getTime() });
    this.#o.log.info("snapshot uploaded", { txid: snap.maxTxid.toString(16), size: snap.size });
    // With no older snapshot nothing can be old enough to go: skip the LISTs.
    if (hadSnapshot) await this.#applyRetention(signal);
  }

  /**
   * Step 5: compaction of levels 1..n from local copies, aligned to the
   * wall clock (as Litestream does) while it runs forward; a level also
   * runs once its interval has passed on the monotonic clock, so a
   * backward step cannot hold compaction back.
   */
  async #compact(signal: AbortSignal | undefined): Promise<void> {
    const levels = this.#o.levels;
    const now = { wall: this.#clock.now(), mono: this.#clock.monotonic() };
    for (let k = 1; k <= levels.length; k++) {
      const interval = levels[k - 1]?.interval ?? 0;
      const last = this.#lastCompactAt[k - 1] ?? now;
      const crossed = Math.floor(now.wall / interval) > Math.floor(last.wall / interval);
      if (!crossed && now.mono - last.mono < interval) continue;
      this.#lastCompactAt[k - 1] = now;
      const state = this.#state ?? emptyReplicaState();
      const sources = this.#compactionRun(k, state);
      if (sources.length === 0) continue;
      const out = mergeLocalLtx(this.#dir, { files: sources, dst: this.#dir, level: k });
      await this.#put(this.#dir, out, signal);
      this.#setUploaded(k, out);
      for (const f of sources) this.#dir.remove(f);
      if (k === levels.length) this.#dir.remove(out);
      this.#o.log.debug("compacted", { level: k, files: sources.length, size: out.size });
    }
  }

  /**
   * The local copies of level k-1 to merge into the next level-k file: the
   * uploaded ones above level k's position, as one contiguous run. A copy
   * that a longer one already holds (left by a crash between writing a
   * batch and recording it) is dropped; the run stops at a gap or a partial
   * overlap, so compaction never fails on them (what is not compacted stays
   * restorable from level k-1).
   */
  #compactionRun(k: number, state: ReplicaState): LtxFileInfo[] {
    const run: LtxFileInfo[] = [];
    for (const f of this.#dir.list(k - 1)) {
      if (f.maxTxid > (state.uploaded[k - 1] ?? 0n)) continue;
      const last = run.at(-1);
      if (f.maxTxid <= (last?.maxTxid ?? state.uploaded[k] ?? 0n)) {
        this.#dir.remove(f); // already held by a file at this level or the next
      } else if (last === undefined ? f.minTxid > (state.uploaded[k] ?? 0n) : f.minTxid === last.maxTxid + 1n) {
        run.push(f);
      } else if (last !== undefined) {
        break;
      }
    }
    return run;
  }

  /** Deletes remote files no restore inside the retention needs. */
  async #applyRetention(signal: AbortSignal | undefined): Promise<void> {
    const sig = signal ? { signal } : {};
    const files: LtxFileInfo[] = [];
    // Every level: files from an earlier configuration's levels count too.
    for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
      for await (const f of this.client.listLtxFiles(level, sig)) files.push(f);
      this.stats.lists++;
    }
    // Ages on the clock the listing's times come from (the bucket's for S3).
    const now = this.client.storageNow?.() ?? this.#clock.now();
    const doomed = planRetention(files, { now, retentionMs: this.#o.snapshotRetentionMs });
    if (doomed.length === 0) return;
    await this.client.deleteLtxFiles(doomed, sig);
    this.stats.deletes += doomed.length;
    this.#o.log.info("retention deleted old files", { files: doomed.length });
  }

  /** Uploads a local file, read from the file in pieces by the backend (never whole); returns what the backend reports. */
  async #put(dir: LtxDir, f: LtxFileInfo, signal: AbortSignal | undefined): Promise<LtxFileInfo> {
    const body = await openFileSource(dir.path(f));
    const pacer = new GarbagePacer();
    const paced: ByteSource = {
      size: body.size,
      read: (offset, length) => {
        pacer.add(length);
        return body.read(offset, length);
      },
    };
    let sent: LtxFileInfo;
    try {
      sent = await this.client.writeLtxFile(f, paced, {
        timestamp: f.createdAt,
        ...(signal ? { signal } : {}),
        ...(this.#o.throttle ? { throttle: this.#o.throttle } : {}),
      });
    } finally {
      await body.close();
    }
    this.stats.puts++;
    this.stats.bytes += body.size;
    this.stats.lastUploadAt = this.#clock.now();
    return sent;
  }

  #setUploaded(level: number, f: LtxFileInfo): void {
    const state = this.#state ?? emptyReplicaState();
    const uploaded = [...state.uploaded];
    uploaded[level] = f.maxTxid;
    const built = level === 0 && f.maxTxid > state.built ? f.maxTxid : state.built;
    this.#setState({ ...state, uploaded, built });
  }

  /**
   * Records the replica's state, in memory and in `state.json`. On a full
   * disk the file waits for the next change (a warning says so): it only
   * speeds up the next start, which lists the bucket and rebuilds what a
   * stale file misses, so uploads that free space need not wait for it.
   */
  #setState(state: ReplicaState): void {
    this.#state = state;
    // Not before the replica's history is accepted as this device's: a
    // recorded state is what later starts check the replica against.
    if (this.#continuation) return;
    try {
      this.#o.store.writeReplicaState(this.name, state);
      this.#stateUnsaved = false;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!this.#stateUnsaved)
        this.#o.log.warn("disk full: the replica's state file is saved once there is room", { err: errorMessage(err) });
      this.#stateUnsaved = true;
    }
  }
}

/** True when the replica holds nothing (at any level). */
function holdsNothing(state: ReplicaState): boolean {
  return state.uploaded.every((t) => t === 0n);
}

function hex16(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}

/** The `#madeAt` key of a local file: its directory and name (a spool key starts with `<spool root>\0`). */
function madeAtKey(dir: LtxDir, f: LtxFileInfo): string {
  return `${dir.root}\0${f.level}/${f.minTxid}-${f.maxTxid}`;
}
