/**
 * Replication of one database: a capture loop (local, every
 * `monitor-interval`) and one upload loop per replica (by policy), decoupled
 * so a slow or absent network never stalls capture. Errors back off
 * exponentially with full jitter and are retried forever; committed data
 * stays in the local spool meanwhile.
 *
 * @module
 */

import { existsSync } from "node:fs";
import type { ReplicaConfig } from "../config/schema.ts";
import { errorMessage, isDiskFull, WriterConflictError } from "../errors.ts";
import { formatTxid, txid, type Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import { systemClock, type Clock } from "../platform/clock.ts";
import type { MeteredState } from "../platform/metered.ts";
import { SNAPSHOT_LEVEL, type ReplicaClient } from "../replica/client.ts";
import { ByteThrottle } from "../replica/throttle.ts";
import { fileDatabaseChecksum } from "../sqlite/database-checksum.ts";
import { Backoff } from "./backoff.ts";
import { DbCapture, type CaptureOptions } from "./capture.ts";
import { LocalStore } from "./local-store.ts";
import type { DbStatus } from "../protocol/agent-status.ts";
import { dbStatus } from "./status.ts";
import { Uploader } from "./uploader.ts";

/** One replica of the database. */
export interface DbAgentReplica {
  readonly name: string;
  readonly client: ReplicaClient;
  readonly config: Pick<ReplicaConfig, "upload" | "meteredUpload" | "windows" | "metered" | "meteredSnapshots">;
}

/** Settings for one database. */
export interface DbAgentOptions {
  readonly path: string;
  readonly metaPath: string;
  readonly monitorIntervalMs: number;
  readonly snapshotIntervalMs: number;
  readonly snapshotRetentionMs: number;
  readonly levels: ReadonlyArray<{ readonly interval: number }>;
  readonly spool: { readonly maxBytes: number; readonly maxAge: number };
  readonly capture: CaptureOptions;
  readonly replicas: readonly DbAgentReplica[];
  readonly log: Logger;
  /** Answers whether the uplink is metered (for replicas with `metered: auto`). */
  readonly meteredProbe?: { current(): Promise<MeteredState> };
  readonly clock?: Clock;
  /** Called after each captured L0 file (tests, status). */
  readonly onSync?: (info: { txid: Txid; snapshot: boolean }) => void;
  /**
   * Called for what the fleet hears about: "snapshot.written", and the first
   * error of a streak ("sync.error", "upload.error") and its recovery
   * ("sync.recovered", "upload.recovered").
   */
  readonly onEvent?: (event: string, data: Record<string, unknown>) => void;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** How long a replica may take to tell its position at start before capture starts without it. */
const START_SETTLE_MS = 10_000;
/** A writer conflict is logged again this often while it lasts. */
const CONFLICT_REMINDER_MS = 3_600_000;
/** How often a replica with a writer conflict wakes (to answer waiting syncs, and remind). */
const CONFLICT_RECHECK_MS = 60_000;
/**
 * While a disk is full the loops retry at least this often, so they resume
 * within this long once space returns (a full disk is local: retrying costs
 * no requests).
 */
const DISK_FULL_RETRY_MS = 15_000;

/** Options of `DbAgent.stop`. */
export interface StopOptions {
  /** Bound of the final upload (ms). */
  readonly timeoutMs: number;
  /** Write and upload the handover tip when stock Litestream needs it. @default true */
  readonly handover?: boolean;
  /**
   * `false`: only the final capture, no upload and no handover tip;
   * everything stays in the spool for the next start (a restore's restart,
   * which uploads it under its own deadline), and nothing is reported
   * unsent. @default true
   */
  readonly upload?: boolean;
}

/** What a stop left undone: replicas whose final upload did not finish, and why. */
export interface StopReport {
  readonly unsent: { replica: string; error: string }[];
}

/** Capture counters since start (for metrics). */
export interface CaptureCounters {
  syncs: number;
  syncErrors: number;
  syncSeconds: number;
  checkpoints: Record<string, number>;
  checkpointSeconds: number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  /** Upload attempts that failed for this request so far. */
  failures: number;
}

/** An explicit sync is answered with the error once this many attempts in a row failed (a dropped connection is retried at once). */
const SYNC_ATTEMPTS = 3;

/** See the module documentation. */
export class DbAgent {
  readonly path: string;
  #opts: DbAgentOptions;
  #clock: Clock;
  #log: Logger;
  #store: LocalStore;
  #uploaders: Uploader[];
  #capture: DbCapture | undefined;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  /** The start, once begun: `stop()` waits for it, so no capture opens after a stop. */
  #starting: Promise<void> | undefined;
  #wake = new Set<() => void>();
  #waiters = new Map<Uploader, Waiter[]>();
  #metered = new Map<string, boolean>();
  #firstSync: Promise<void>;
  /** Monotonic time of the last snapshot this process wrote. */
  #lastSnapshotAt: number | undefined;
  /** The error of the last capture, while captures fail. */
  #captureError: string | undefined;
  /** Which loops last failed with a full disk (capture, or a replica's name). */
  #diskFull = new Set<string>();
  #firstSyncDone: () => void = () => {};
  /** `litefleet takeover` (or a restore in place) asked this start to accept what the replicas hold. */
  readonly #takeover: boolean;
  /** When each replica's writer conflict was last logged (monotonic). */
  #conflictReportedAt = new Map<Uploader, number>();
  /** Capture counters since start. */
  readonly counters: CaptureCounters = {
    syncs: 0,
    syncErrors: 0,
    syncSeconds: 0,
    checkpoints: {},
    checkpointSeconds: 0,
  };

  constructor(options: DbAgentOptions) {
    this.path = options.path;
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log.with({ db: options.path });
    this.#store = LocalStore.open(options.metaPath);
    this.#takeover = this.#store.takeoverRequested();
    this.#firstSync = new Promise((resolve) => (this.#firstSyncDone = resolve));
    this.#uploaders = options.replicas.map(
      (r) =>
        new Uploader({
          name: r.name,
          client: r.client,
          store: this.#store,
          log: this.#log.with({ replica: r.name }),
          replica: r.config,
          levels: options.levels,
          snapshotRetentionMs: options.snapshotRetentionMs,
          spool: options.spool,
          throttle: new ByteThrottle({ bytesPerSecond: r.config.upload.bandwidth, clock: this.#clock }),
          clock: this.#clock,
          takeover: this.#takeover,
        }),
    );
  }

  /** The capture, once open. */
  get capture(): DbCapture | undefined {
    return this.#capture;
  }

  /** The uploaders, one per replica. */
  get uploaders(): readonly Uploader[] {
    return this.#uploaders;
  }

  /** Resolves once capture has a position (the first sync is done). */
  firstSync(): Promise<void> {
    return this.#firstSync;
  }

  /**
   * Starts the loops. Resolves once capture is open. Capture starts whatever
   * the replicas answer (store-and-forward from the first boot): each
   * replica gets one bounded attempt to tell its position first, so a
   * reachable replica's TXIDs are continued; one that does not answer
   * (no network, a missing bucket, wrong credentials) is retried by its
   * upload loop, with the error in the status meanwhile. A takeover waits
   * for every replica, since capture must start above what they hold.
   * Calling it again returns the same start.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    await this.#waitForDatabase();
    if (this.#abort.signal.aborted) return;
    this.#store.beginWriterSession();
    // Asked for (`litefleet takeover`, or a restore that made this the database of record): said, not warned.
    if (this.#takeover) this.#log.info("takeover: this database continues on top of whatever its replicas hold");
    await Promise.all(this.#uploaders.map((u) => this.#settleAtStart(u)));
    if (this.#abort.signal.aborted) return;
    if (this.#takeover) this.#store.clearTakeover();
    const continuing = this.#uploaders.filter((u) => u.continuationPending);
    if (continuing.length > 0) {
      // Before capture opens: its connection writes to the database.
      const checksum = fileDatabaseChecksum(this.path);
      for (const u of continuing) {
        try {
          u.continueOnTop(checksum);
        } catch (err) {
          if (!(err instanceof WriterConflictError)) throw err;
          this.#reportConflict(u, err);
        }
      }
    }
    const floor = txid(this.#uploaders.reduce((m, u) => (u.maxTxid > m ? u.maxTxid : m), 0n));
    const floorChecksum = await this.#floorChecksum(floor);
    // A stop while the replica was asked: the capture must not open behind it.
    if (this.#abort.signal.aborted) return;
    this.#capture = DbCapture.open(this.path, {
      store: this.#store,
      capture: this.#opts.capture,
      log: this.#log,
      floorTxid: floor,
      clock: this.#clock,
      ...(floorChecksum === undefined ? {} : { floorChecksum }),
    });
    this.#loops.push(this.#captureLoop());
    this.#opts.replicas.forEach((r, i) => {
      const u = this.#uploaders[i];
      if (u) this.#loops.push(this.#uploadLoop(u, r));
    });
  }

  /** An application may create its database after the agent starts. */
  async #waitForDatabase(): Promise<void> {
    let logged = false;
    while (!existsSync(this.path) && !this.#abort.signal.aborted) {
      if (!logged) this.#log.info("waiting for the database to be created");
      logged = true;
      await this.#clock.sleep(this.#opts.monitorIntervalMs, this.#abort.signal);
    }
  }

  /** Reads replica `u`'s position at start; see `start`. */
  async #settleAtStart(u: Uploader): Promise<void> {
    const takeover = this.#takeover;
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    while (!this.#abort.signal.aborted) {
      const signal = takeover
        ? this.#abort.signal
        : AbortSignal.any([this.#abort.signal, AbortSignal.timeout(START_SETTLE_MS)]);
      try {
        await u.settle(signal);
        return;
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (err instanceof WriterConflictError) {
          this.#reportConflict(u, err);
          return;
        }
        u.stats.errors++;
        u.stats.lastError = errorMessage(err);
        if (!takeover) {
          this.#log.error("cannot read the replica's position; capturing into the local spool meanwhile", {
            replica: u.name,
            err: errorMessage(err),
            ...(u.state ? { recorded: formatTxid(u.maxTxid) } : {}),
          });
          return;
        }
        const wait = backoff.fail();
        this.#log.error("takeover: cannot read the replica's position; retrying", {
          replica: u.name,
          err: errorMessage(err),
          backoff: `${wait}ms`,
        });
        await this.#clock.sleep(wait, this.#abort.signal);
      }
    }
  }

  /** Says loudly that replica `u` has another writer (once, then hourly while it lasts). */
  #reportConflict(u: Uploader, err: WriterConflictError): void {
    u.stats.lastError = err.message;
    const now = this.#clock.monotonic();
    const last = this.#conflictReportedAt.get(u);
    if (last !== undefined && now - last < CONFLICT_REMINDER_MS) return;
    this.#log.error("second writer: uploads to this replica are stopped", {
      replica: u.name,
      err: err.message,
      hint: err.hint,
    });
    if (last === undefined)
      this.#opts.onEvent?.("replica.conflict", { db: this.path, replica: u.name, error: err.message, hint: err.hint });
    this.#conflictReportedAt.set(u, now);
  }

  /**
   * When capture will start above the replicas (no local position, or one
   * below `floor`: fresh local state, a migrated or restored replica), the
   * checksum the replica records at `floor`, so the first file continues
   * its chain instead of breaking it. Best effort: undefined on any error.
   */
  async #floorChecksum(floor: Txid): Promise<bigint | undefined> {
    const pos = this.#store.readPosition();
    if (floor === 0n || (pos && pos.txid >= floor)) return undefined;
    const tip = this.#uploaders.find((u) => u.maxTxid === floor);
    try {
      return (await tip?.tipChecksum(this.#abort.signal))?.checksum;
    } catch (err) {
      this.#log.warn(
        "cannot read the replica's checksum at its latest TXID; the next file starts a new checksum chain",
        {
          replica: tip?.name,
          err: errorMessage(err),
        },
      );
      return undefined;
    }
  }

  /**
   * Captures now and makes every replica batch and upload everything pending,
   * pre-empting the policy. Rejects with the first replica's error.
   */
  async syncNow(): Promise<void> {
    // A failed capture (a full disk) still lets what was captured go out.
    let captureError: unknown;
    try {
      this.#syncOnce();
    } catch (err) {
      captureError = err;
    }
    await Promise.all(
      this.#uploaders
        .filter((u) => !u.conflict)
        .map(
          (u) =>
            new Promise<void>((resolve, reject) => {
              const list = this.#waiters.get(u) ?? [];
              list.push({ resolve, reject, failures: 0 });
              this.#waiters.set(u, list);
            }),
        ),
    );
    const conflict = this.#uploaders.find((u) => u.conflict)?.conflict;
    if (conflict) throw conflict;
    if (captureError !== undefined) throw captureError;
  }

  /** The status object (`litefleet status`, MQTT later). */
  status(): DbStatus {
    return dbStatus({
      path: this.path,
      capture: this.#capture,
      captureError: this.#captureError,
      diskFull: this.#diskFull.size > 0,
      uploaders: this.#uploaders,
      metered: this.#metered,
      now: this.#clock.now(),
    });
  }

  #syncOnce(): void {
    const cap = this.#capture;
    if (!cap) return;
    const started = performance.now();
    // A checkpoint due by the last position is prepared before this sync,
    // so the sync is also its pre-copy's (one capture, not two).
    const due = cap.checkpointDue(this.#clock.now());
    if (due) cap.prepareCheckpoint();
    const res = cap.sync();
    this.counters.syncs++;
    this.counters.syncSeconds += (performance.now() - started) / 1000;
    if (cap.position) this.#firstSyncDone();
    if (res) {
      (res.snapshot ? this.#log.info : this.#log.debug)("sync", {
        txid: res.txid.toString(16),
        pages: res.pages,
        size: res.size,
        ...(res.reason ? { reason: res.reason } : {}),
      });
      this.#opts.onSync?.({ txid: res.txid, snapshot: res.snapshot });
    }
    const ckptStarted = performance.now();
    const mode = due ? cap.checkpoint(due, { prepared: true }) : cap.checkpointIfNeeded(this.#clock.now());
    if (mode) {
      this.counters.checkpoints[mode] = (this.counters.checkpoints[mode] ?? 0) + 1;
      this.counters.checkpointSeconds += (performance.now() - ckptStarted) / 1000;
      this.#log.debug("checkpoint", { mode });
    }
    if (this.#snapshotDue()) this.#writeSnapshot();
    this.#boundSpool();
    for (const w of this.#wake) w();
  }

  /** Keeps the capture spool bounded while uploads are stuck (`spool.ts`). */
  #boundSpool(): void {
    try {
      const res = this.#store.spool.coalesce(
        this.#uploaders.map((u) => u.state),
        this.#opts.spool.maxBytes,
      );
      if (res) this.#log.info("capture spool coalesced", { files: res.files, before: res.before, after: res.after });
      this.#diskFull.delete("spool");
    } catch (err) {
      // The capture itself is done; merging waits until there is room.
      if (!isDiskFull(err)) throw err;
      this.#diskFull.add("spool");
    }
  }

  #writeSnapshot(): Txid | undefined {
    const snap = this.#capture?.writeLevel9Snapshot();
    if (snap) {
      this.#lastSnapshotAt = this.#clock.monotonic();
      this.#log.info("snapshot written", { txid: snap.maxTxid.toString(16), size: snap.size });
      this.#opts.onEvent?.("snapshot.written", { db: this.path, txid: formatTxid(snap.maxTxid), size: snap.size });
    }
    return snap?.maxTxid;
  }

  /**
   * Captures now, writes a level-9 snapshot of that position (unless one is
   * already waiting) and uploads it with everything pending, as far as
   * time windows and the metered policy allow. Returns the snapshot's TXID
   * and whether every replica holds it.
   */
  async snapshotNow(): Promise<{ txid: Txid; uploaded: boolean } | undefined> {
    this.#syncOnce();
    const id = this.#store.spool.pendingSnapshot()?.maxTxid ?? this.#writeSnapshot();
    if (id === undefined) return undefined;
    await this.syncNow();
    return { txid: id, uploaded: this.#uploaders.every((u) => (u.state?.uploaded[SNAPSHOT_LEVEL] ?? 0n) >= id) };
  }

  #snapshotDue(): boolean {
    const pos = this.#capture?.position;
    if (!pos) return false;
    // One snapshot at a time: a pending one is uploaded before another is made.
    if (this.#store.spool.pendingSnapshot()) return false;
    const now = this.#clock.now();
    const interval = this.#opts.snapshotIntervalMs;
    // Wall time against the snapshot's date, or, if the clock was stepped
    // back past it, the interval on the monotonic clock.
    const sinceOurs = this.#lastSnapshotAt === undefined ? 0 : this.#clock.monotonic() - this.#lastSnapshotAt;
    return this.#uploaders.some((u) => {
      const s = u.state;
      if (!s) return false;
      const snap = s.uploaded[SNAPSHOT_LEVEL] ?? 0n;
      if (snap >= pos.txid) return false;
      return snap === 0n || now - s.snapshotTime >= interval || sinceOurs >= interval;
    });
  }

  async #captureLoop(): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let wait = this.#opts.monitorIntervalMs;
      try {
        this.#syncOnce();
        this.#captureError = undefined;
        this.#diskFull.delete("");
        const n = backoff.succeed();
        if (n > 0) {
          this.#log.info("sync recovered", { previous_errors: n });
          this.#opts.onEvent?.("sync.recovered", { db: this.path, previousErrors: n });
        }
      } catch (err) {
        this.counters.syncErrors++;
        wait = this.#failed(backoff, err, "");
        this.#captureError = errorMessage(err);
        if (backoff.failures === 1) {
          this.#opts.onEvent?.("sync.error", { db: this.path, error: errorMessage(err), diskFull: isDiskFull(err) });
        }
        if (backoff.failures <= 3 || backoff.failures % 10 === 0) {
          this.#log.error(
            isDiskFull(err) ? "sync failed: disk full; the WAL keeps the changes until space returns" : "sync failed",
            {
              err: errorMessage(err),
              backoff: `${wait}ms`,
            },
          );
        }
      }
      await this.#clock.sleep(wait, signal);
    }
  }

  /**
   * Records a failure of loop `key` ("" = capture, else a replica name) and
   * returns the delay before its next attempt: the backoff, but no more
   * than `DISK_FULL_RETRY_MS` while the disk is full.
   */
  #failed(backoff: Backoff, err: unknown, key: string): number {
    const delay = backoff.fail();
    if (!isDiskFull(err)) {
      this.#diskFull.delete(key);
      return delay;
    }
    this.#diskFull.add(key);
    return Math.min(delay, DISK_FULL_RETRY_MS);
  }

  async #isMetered(r: DbAgentReplica): Promise<boolean> {
    let metered: boolean;
    if (r.config.metered !== "auto") metered = r.config.metered === "yes";
    else metered = (await this.#opts.meteredProbe?.current())?.metered ?? false;
    if (this.#metered.get(r.name) !== metered && this.#metered.has(r.name)) {
      this.#log.info(metered ? "link is metered; using the metered policy" : "link is not metered; normal policy", {
        replica: r.name,
      });
    }
    this.#metered.set(r.name, metered);
    return metered;
  }

  async #uploadLoop(u: Uploader, r: DbAgentReplica): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    const signal = this.#abort.signal;
    // While backing off, the loop still wakes for the local steps (batching,
    // coalescing) so the spool stays bounded; only remote attempts wait.
    let nextRemoteAt = 0;
    while (!signal.aborted) {
      const waiters = this.#waiters.get(u) ?? [];
      this.#waiters.set(u, []);
      const explicit = waiters.length > 0;
      const remote = explicit || this.#clock.monotonic() >= nextRemoteAt;
      let wait: number;
      try {
        const res = await u.tick({ metered: await this.#isMetered(r), explicit, remote, signal });
        if (res.needsSnapshot) {
          this.#log.warn("replica is missing history the spool no longer has; writing a snapshot", { replica: u.name });
          this.#capture?.sync();
          this.#writeSnapshot();
          if (!this.#store.spool.pendingSnapshot()) {
            throw new Error("Cannot bridge the replica's gap: no snapshot could be written yet");
          }
          this.#waiters.set(u, [...waiters, ...(this.#waiters.get(u) ?? [])]);
          continue;
        }
        wait = Math.max(50, Math.min(res.nextDueMs, 5000));
        if (remote) {
          this.#prune();
          for (const w of waiters) w.resolve();
          u.stats.lastError = undefined;
          this.#diskFull.delete(u.name);
          const n = backoff.succeed();
          if (n > 0) {
            this.#log.info("upload recovered", { replica: u.name, previous_errors: n });
            this.#opts.onEvent?.("upload.recovered", { db: this.path, replica: u.name, previousErrors: n });
          }
        } else {
          wait = Math.min(wait, Math.max(50, nextRemoteAt - this.#clock.monotonic()));
        }
      } catch (err) {
        if (err instanceof WriterConflictError) {
          for (const w of [...waiters, ...(this.#waiters.get(u) ?? [])]) w.reject(err);
          this.#waiters.set(u, []);
          this.#reportConflict(u, err);
          await this.#sleepOrWake(CONFLICT_RECHECK_MS, () => (this.#waiters.get(u)?.length ?? 0) > 0);
          continue;
        }
        const retry: Waiter[] = [];
        for (const w of waiters) {
          if (++w.failures < SYNC_ATTEMPTS && !signal.aborted) retry.push(w);
          else w.reject(err);
        }
        this.#waiters.set(u, [...retry, ...(this.#waiters.get(u) ?? [])]);
        if (signal.aborted) break;
        u.stats.errors++;
        u.stats.lastError = errorMessage(err);
        const delay = this.#failed(backoff, err, u.name);
        if (backoff.failures === 1) {
          this.#opts.onEvent?.("upload.error", {
            db: this.path,
            replica: u.name,
            error: errorMessage(err),
            diskFull: isDiskFull(err),
          });
        }
        nextRemoteAt = this.#clock.monotonic() + delay;
        wait = Math.max(50, Math.min(delay, this.#opts.monitorIntervalMs));
        if (backoff.failures <= 3 || backoff.failures % 10 === 0) {
          this.#log.error("upload failed", { replica: u.name, err: errorMessage(err), backoff: `${delay}ms` });
        }
      }
      await this.#sleepOrWake(wait, () => (this.#waiters.get(u)?.length ?? 0) > 0);
    }
    for (const w of this.#waiters.get(u) ?? []) w.reject(new Error("Cannot sync: the agent is stopping"));
  }

  /** Sleeps `ms`, ending early when the agent stops or a capture wakes us and `early()` says so. */
  async #sleepOrWake(ms: number, early: () => boolean): Promise<void> {
    // A stop that came before this sleep began fires no abort event: the
    // loop would sleep the whole `ms` (a minute after a conflict) first.
    if (this.#abort.signal.aborted) return;
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    this.#abort.signal.addEventListener("abort", onAbort, { once: true });
    const wake = () => {
      if (early()) ctl.abort();
    };
    this.#wake.add(wake);
    try {
      await this.#clock.sleep(ms, ctl.signal);
    } finally {
      this.#wake.delete(wake);
      this.#abort.signal.removeEventListener("abort", onAbort);
    }
  }

  /** Removes spool files every replica has batched, keeping the newest L0 (it anchors the position). */
  #prune(): void {
    this.#store.spool.prune(this.#uploaders.map((u) => u.state));
  }

  /**
   * Stops the loops, then makes a final sync and an explicit upload of
   * everything pending (bounded by `timeoutMs`), writes and uploads the
   * handover tip when the newest L0 file is not one stock Litestream
   * resumes from (`handover`, docs/OPERATIONS.md), and closes the
   * database. Resolves with the replicas whose final upload did not
   * finish, and why (their data waits in the spool for the next start).
   * A stop during `start()` ends that start first.
   */
  async stop(options: StopOptions = { timeoutMs: 30_000 }): Promise<StopReport> {
    this.#abort.abort();
    // Its failure went to whoever awaited `start()`; here it only has to be over.
    await this.#starting?.catch(() => undefined);
    await Promise.all(this.#loops);
    const report: StopReport = { unsent: [] };
    try {
      const cap = this.#capture;
      if (cap) {
        try {
          cap.sync();
        } catch (err) {
          // Nothing is lost: the changes stay in the WAL (under our read
          // lock until now) and the next start captures them.
          this.#log.warn("final capture failed; the next start captures what the WAL holds", {
            err: errorMessage(err),
          });
        }
        if (options.upload !== false) {
          const deadline = this.#clock.monotonic() + options.timeoutMs;
          let unsent = await this.#finalUpload(deadline);
          if (options.handover !== false && this.#needsHandover(cap, unsent)) {
            const res = this.#writeHandover(cap);
            if (res) unsent = await this.#finalUpload(deadline);
          }
          report.unsent.push(...unsent);
          this.#prune();
        }
      }
    } finally {
      this.#capture?.close();
    }
    return report;
  }

  /** Uploads everything pending to every replica until `deadline`; returns the replicas that did not finish. */
  async #finalUpload(deadline: number): Promise<StopReport["unsent"]> {
    const unsent: StopReport["unsent"] = [];
    for (const [i, u] of this.#uploaders.entries()) {
      const r = this.#opts.replicas[i];
      if (u.conflict) {
        unsent.push({ replica: u.name, error: u.conflict.message });
        continue;
      }
      for (;;) {
        try {
          const signal = AbortSignal.timeout(Math.max(1, deadline - this.#clock.monotonic()));
          await u.tick({ metered: r ? await this.#isMetered(r) : false, explicit: true, signal });
          break;
        } catch (err) {
          if (err instanceof WriterConflictError) {
            this.#reportConflict(u, err);
            unsent.push({ replica: u.name, error: err.message });
            break;
          }
          if (this.#clock.monotonic() >= deadline) {
            this.#log.warn("final upload did not finish; the spool keeps the data for next start", {
              replica: u.name,
              err: errorMessage(err),
            });
            unsent.push({ replica: u.name, error: errorMessage(err) });
            break;
          }
          await this.#clock.sleep(500);
        }
      }
    }
    return unsent;
  }

  /**
   * True when some replica's newest L0 file, once what is pending is
   * uploaded, is not one stock Litestream resumes from: a merged batch, a
   * file behind the position, or one whose WAL has restarted since.
   */
  #needsHandover(cap: DbCapture, unsent: StopReport["unsent"]): boolean {
    const behind = new Set(unsent.map((u) => u.replica));
    return this.#uploaders.some((u) => !u.conflict && (behind.has(u.name) || !cap.resumableBy(u.newestL0)));
  }

  #writeHandover(cap: DbCapture): boolean {
    try {
      const res = cap.writeHandover();
      if (res) this.#log.info("handover tip written", { txid: res.txid.toString(16), size: res.size });
      return res !== undefined;
    } catch (err) {
      this.#log.warn("cannot write the handover tip; stock Litestream will take a snapshot", {
        err: errorMessage(err),
      });
      return false;
    }
  }
}
