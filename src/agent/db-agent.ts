/**
 * Replication of one database: a capture loop (local, every
 * `monitor-interval`) and one upload loop per replica (remote, every
 * `sync-interval` or when woken), decoupled so a slow or absent network
 * never stalls capture. Errors back off exponentially with full jitter and
 * are retried forever; committed data stays in the local spool meanwhile.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { errorMessage } from "../errors.ts";
import { txid, type Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import { systemClock, type Clock } from "../platform/clock.ts";
import type { ReplicaClient } from "../replica/client.ts";
import { SNAPSHOT_LEVEL } from "../replica/client.ts";
import { Backoff } from "./backoff.ts";
import { DbCapture, type CaptureOptions } from "./capture.ts";
import { LocalStore } from "./local-store.ts";
import { minUploadedTxid, Uploader } from "./uploader.ts";

/** Settings for one database. */
export interface DbAgentOptions {
  readonly path: string;
  readonly metaPath: string;
  readonly monitorIntervalMs: number;
  readonly snapshotIntervalMs: number;
  readonly capture: CaptureOptions;
  readonly replicas: ReadonlyArray<{ name: string; client: ReplicaClient; syncIntervalMs: number }>;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Called after each captured L0 file (tests, status). */
  readonly onSync?: (info: { txid: Txid; snapshot: boolean }) => void;
}

const MAX_BACKOFF_MS = 5 * 60_000;

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
  #wake = new Set<() => void>();

  constructor(options: DbAgentOptions) {
    this.path = options.path;
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log.with({ db: options.path });
    this.#store = new LocalStore(options.metaPath);
    this.#uploaders = options.replicas.map(
      (r) => new Uploader({ name: r.name, client: r.client, store: this.#store, log: this.#log.with({ replica: r.name }) }),
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

  /**
   * Starts the loops. Resolves once capture is open: that needs each
   * replica's position, read from the bucket, or from local state when the
   * bucket is unreachable and the position was recorded before.
   */
  async start(): Promise<void> {
    await this.#waitForDatabase();
    const floor = await this.#resolveFloor();
    if (this.#abort.signal.aborted) return;
    this.#capture = DbCapture.open(this.path, {
      store: this.#store,
      capture: this.#opts.capture,
      log: this.#log,
      floorTxid: floor,
    });
    this.#loops.push(this.#captureLoop());
    this.#opts.replicas.forEach((r, i) => {
      const u = this.#uploaders[i];
      if (u) this.#loops.push(this.#uploadLoop(u, r.syncIntervalMs));
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

  async #resolveFloor(): Promise<Txid> {
    let floor = 0n;
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    for (const u of this.#uploaders) {
      for (;;) {
        try {
          const pos = await u.refreshPosition(this.#abort.signal);
          if (pos.maxTxid > floor) floor = pos.maxTxid;
          break;
        } catch (err) {
          const cached = u.position ?? this.#store.readRemotePosition(u.name);
          if (cached) {
            this.#log.warn("replica unreachable at start; using its recorded position", {
              replica: u.name,
              err: errorMessage(err),
            });
            if (cached.maxTxid > floor) floor = cached.maxTxid;
            break;
          }
          const wait = backoff.fail();
          this.#log.error("cannot read replica position; retrying", {
            replica: u.name,
            err: errorMessage(err),
            backoff: `${wait}ms`,
          });
          await this.#clock.sleep(wait, this.#abort.signal);
          if (this.#abort.signal.aborted) return txid(floor);
        }
      }
    }
    return txid(floor);
  }

  /** Captures now and uploads to every replica (pre-empting intervals). */
  async syncNow(): Promise<void> {
    this.#syncOnce();
    for (const u of this.#uploaders) await this.#uploadOnce(u);
  }

  #syncOnce(): boolean {
    const cap = this.#capture;
    if (!cap) return false;
    let wrote = false;
    const res = cap.sync();
    if (res) {
      wrote = true;
      (res.snapshot ? this.#log.info : this.#log.debug)("sync", {
        txid: res.txid.toString(16),
        pages: res.pages,
        size: res.size,
        ...(res.reason ? { reason: res.reason } : {}),
      });
      this.#opts.onSync?.({ txid: res.txid, snapshot: res.snapshot });
    }
    const mode = cap.checkpointIfNeeded(this.#clock.now());
    if (mode) this.#log.debug("checkpoint", { mode });
    if (this.#snapshotDue()) {
      const snap = cap.writeLevel9Snapshot();
      if (snap) this.#log.info("snapshot written", { txid: snap.maxTxid.toString(16), size: snap.size });
      wrote = true;
    }
    if (wrote) for (const w of this.#wake) w();
    return wrote;
  }

  #snapshotDue(): boolean {
    const pos = this.#capture?.position;
    if (!pos) return false;
    const pending = this.#store.listLtxFiles(SNAPSHOT_LEVEL).at(-1);
    if (pending && pending.maxTxid >= pos.txid) return false;
    const now = this.#clock.now();
    return this.#uploaders.some((u) => {
      const p = u.position;
      if (!p) return false;
      if (p.snapshotTxid >= pos.txid) return false;
      return p.snapshotTxid === 0n || now - p.snapshotTime >= this.#opts.snapshotIntervalMs;
    });
  }

  async #captureLoop(): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let wait = this.#opts.monitorIntervalMs;
      try {
        this.#syncOnce();
        const n = backoff.succeed();
        if (n > 0) this.#log.info("sync recovered", { previous_errors: n });
      } catch (err) {
        wait = backoff.fail();
        if (backoff.failures <= 3 || backoff.failures % 10 === 0) {
          this.#log.error("sync failed", { err: errorMessage(err), backoff: `${wait}ms` });
        }
      }
      await this.#clock.sleep(wait, signal);
    }
  }

  async #uploadOnce(u: Uploader): Promise<void> {
    const res = await u.upload(this.#abort.signal.aborted ? undefined : this.#abort.signal);
    if (res.needsSnapshot) {
      this.#log.warn("replica is missing history the spool no longer has; writing a snapshot", { replica: u.name });
      this.#capture?.sync();
      this.#capture?.writeLevel9Snapshot();
      await u.upload();
    }
    if (res.files > 0) this.#log.debug("uploaded", { replica: u.name, files: res.files, bytes: res.bytes });
    this.#prune();
  }

  async #uploadLoop(u: Uploader, intervalMs: number): Promise<void> {
    const backoff = new Backoff({ baseMs: 1000, maxMs: MAX_BACKOFF_MS });
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      let wait = intervalMs;
      try {
        await this.#uploadOnce(u);
        const n = backoff.succeed();
        if (n > 0) this.#log.info("upload recovered", { replica: u.name, previous_errors: n });
      } catch (err) {
        if (signal.aborted) break;
        wait = backoff.fail();
        if (backoff.failures <= 3 || backoff.failures % 10 === 0) {
          this.#log.error("upload failed", { replica: u.name, err: errorMessage(err), backoff: `${wait}ms` });
        }
      }
      await this.#clock.sleep(wait, signal);
    }
  }

  /** Removes local files every replica holds, keeping the newest L0 (it anchors the position). */
  #prune(): void {
    const done = minUploadedTxid(this.#uploaders);
    const l0 = this.#store.listLtxFiles(0);
    for (const f of l0.slice(0, -1)) if (f.maxTxid <= done) this.#store.removeLtxFile(0, f.minTxid, f.maxTxid);
    if (this.#uploaders.length === 0) return;
    const snapDone = this.#uploaders
      .map((u) => u.position?.snapshotTxid ?? 0n)
      .reduce((a, b) => (a < b ? a : b));
    for (const f of this.#store.listLtxFiles(SNAPSHOT_LEVEL)) {
      if (f.maxTxid <= snapDone) this.#store.removeLtxFile(SNAPSHOT_LEVEL, f.minTxid, f.maxTxid);
    }
  }

  /**
   * Stops the loops, then makes a final sync and upload attempt (bounded by
   * `timeoutMs`), and closes the database.
   */
  async stop(options: { timeoutMs: number } = { timeoutMs: 30_000 }): Promise<void> {
    this.#abort.abort();
    await Promise.all(this.#loops);
    try {
      if (this.#capture) {
        this.#syncOnce();
        const deadline = this.#clock.now() + options.timeoutMs;
        for (const u of this.#uploaders) {
          for (;;) {
            try {
              await u.upload(AbortSignal.timeout(Math.max(1, deadline - this.#clock.now())));
              break;
            } catch (err) {
              if (this.#clock.now() >= deadline) {
                this.#log.warn("final upload did not finish; the spool keeps the data for next start", {
                  replica: u.name,
                  err: errorMessage(err),
                });
                break;
              }
              await this.#clock.sleep(500);
            }
          }
        }
        this.#prune();
      }
    } finally {
      this.#capture?.close();
    }
  }
}
