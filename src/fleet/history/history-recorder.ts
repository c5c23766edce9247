/**
 * Decides what of the fleet's status stream goes into the history file
 * (`history-store.ts`), and keeps the file within its bounds:
 *
 * - **state**: an entry when the state of a device, or of one of its
 *   databases, differs from the last one recorded for it (the nine states
 *   of `device-health.ts`, so `stale` and `offline` too, and `removed` when
 *   the device's retained status is cleared). The last states are read back
 *   from the file at start, so a restarted dashboard records no repeat.
 * - **event**: every device event the view receives (under its `data.db`
 *   when it names one, else the device).
 * - **lag**: a sample of a database's lag at most once per `lagSampleMs`
 *   (default 1 min) and only when it changed; sooner when it moved by at
 *   least half of the last sample and at least 10 s (a jump or a catch-up).
 *
 * Entries are buffered and written in one transaction every `flushMs` (or
 * as soon as `maxBuffered` wait); entries older than `retentionMs` and
 * beyond the newest `maxRows` are pruned every `pruneEveryMs`, one batch
 * per transaction, yielding to the event loop between batches. Memory holds
 * the buffer and one small record per device and database, never history.
 *
 * A write that fails (a full disk, a lock held too long) drops that batch
 * and is reported through `onError` (the first, then at most once a
 * minute), and its recovery through `onRecovered`: the dashboard goes on.
 *
 * @module
 */

import type { EventMessage } from "../../protocol/messages.ts";
import type { DeviceView, FleetChange } from "../fleet-view.ts";
import type { HistoryAnswer, HistoryQuery, HistoryStore, NewHistoryEntry } from "./history-store.ts";

/** Default retention by age: 7 days (ms). */
export const DEFAULT_HISTORY_RETENTION_MS = 7 * 86_400_000;
/** Default row cap. */
export const DEFAULT_HISTORY_MAX_ROWS = 2_000_000;
/** A lag sample sooner than `lagSampleMs` needs a move of at least this much (ms) … */
const LAG_STEP_MS = 10_000;
/** … and of at least this fraction of the last sample. */
const LAG_STEP_FRACTION = 0.5;
/** `onError` at most this often (ms) while writes keep failing. */
const ERROR_REPORT_MS = 60_000;

/** What the recorder reads of a `FleetView` (which it is). */
export interface HistorySource {
  onChange(listener: (change: FleetChange) => void): () => void;
  devices(): readonly DeviceView[];
  device(id: string): DeviceView | undefined;
  events(device: string): readonly EventMessage[];
}

/** Options for {@linkcode HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /**
   * The dashboard's clock (Unix ms): entries' `ts`, sampling and retention.
   *
   * @default {Date.now}
   */
  readonly now?: () => number;
  /** @default {DEFAULT_HISTORY_RETENTION_MS} */
  readonly retentionMs?: number;
  /** @default {DEFAULT_HISTORY_MAX_ROWS} */
  readonly maxRows?: number;
  /** @default {60000} */
  readonly lagSampleMs?: number;
  /**
   * Write the buffer this often (ms); 0: only at `maxBuffered` and on {@linkcode HistoryRecorder.flush}.
   *
   * @default {250}
   */
  readonly flushMs?: number;
  /** @default {1000} */
  readonly maxBuffered?: number;
  /**
   * Prune this often (ms); 0: only on {@linkcode HistoryRecorder.prune}.
   *
   * @default {60000}
   */
  readonly pruneEveryMs?: number;
  /**
   * Entries deleted per transaction when pruning.
   *
   * @default {5000}
   */
  readonly pruneBatch?: number;
  /** A write failed (the batch is dropped). */
  readonly onError?: (err: unknown, failures: number) => void;
  /** Writes work again after `failures` failed ones. */
  readonly onRecovered?: (failures: number) => void;
}

/** What is known of one series (a device, or one of its databases). */
interface SeriesMemo {
  state: string | undefined;
  lagAt: number | undefined;
  lag: number | undefined;
}

/** Counts since the start. */
export interface HistoryRecorderStats {
  readonly written: number;
  readonly dropped: number;
  readonly pruned: number;
}

/** Records a fleet view's changes into a history store (see the module documentation). */
export class HistoryRecorder {
  readonly store: HistoryStore;
  readonly #source: HistorySource;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #maxRows: number;
  readonly #lagSampleMs: number;
  readonly #flushMs: number;
  readonly #maxBuffered: number;
  readonly #pruneBatch: number;
  readonly #onError: ((err: unknown, failures: number) => void) | undefined;
  readonly #onRecovered: ((failures: number) => void) | undefined;
  /** device → db ('' for the device) → memo. */
  readonly #memo = new Map<string, Map<string, SeriesMemo>>();
  #buffer: NewHistoryEntry[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #pruning: Promise<number> | undefined;
  readonly #unsubscribe: () => void;
  #failures = 0;
  #reportedAt = Number.NEGATIVE_INFINITY;
  #written = 0;
  #dropped = 0;
  #pruned = 0;
  #stopped = false;

  /**
   * Starts recording `source`'s changes into `store` (which it then owns:
   * {@linkcode HistoryRecorder.stop} closes it).
   *
   * @throws {RangeError} when a bound is not a positive number
   */
  constructor(source: HistorySource, store: HistoryStore, options: HistoryRecorderOptions = {}) {
    this.store = store;
    this.#source = source;
    this.#now = options.now ?? Date.now;
    this.#retentionMs = positive(options.retentionMs ?? DEFAULT_HISTORY_RETENTION_MS, "retentionMs");
    this.#maxRows = Math.trunc(positive(options.maxRows ?? DEFAULT_HISTORY_MAX_ROWS, "maxRows"));
    this.#lagSampleMs = options.lagSampleMs ?? 60_000;
    this.#flushMs = options.flushMs ?? 250;
    this.#maxBuffered = Math.trunc(positive(options.maxBuffered ?? 1000, "maxBuffered"));
    this.#pruneBatch = Math.trunc(positive(options.pruneBatch ?? 5000, "pruneBatch"));
    this.#onError = options.onError;
    this.#onRecovered = options.onRecovered;
    for (const [device, series] of store.lastSeries()) {
      const m = new Map<string, SeriesMemo>();
      for (const [db, last] of series)
        m.set(db, { state: last.state ?? undefined, lagAt: last.lagAt ?? undefined, lag: last.lag ?? undefined });
      this.#memo.set(device, m);
    }
    this.#unsubscribe = source.onChange((change) => this.#observe(change));
    // Statuses that arrived before this recorder listened (retained ones, right after the view subscribed).
    for (const view of source.devices()) this.recordDevice(view.device, view);
    const pruneEveryMs = options.pruneEveryMs ?? 60_000;
    if (pruneEveryMs > 0) {
      this.#pruneTimer = setInterval(() => void this.prune().catch(() => undefined), pruneEveryMs);
      this.#pruneTimer.unref?.();
    }
  }

  /** The newest entries of a device, including what is still buffered (see `HistoryStore.query`). */
  query(q: HistoryQuery): HistoryAnswer | undefined {
    this.flush();
    return this.store.query(q);
  }

  /**
   * Records what the view now says of `device` (its state changes and a
   * lag sample when one is due); `view` undefined: the device was removed.
   */
  recordDevice(device: string, view: DeviceView | undefined): void {
    const ts = this.#now();
    const memo = this.#memo.get(device) ?? this.#memo.set(device, new Map()).get(device)!;
    if (view === undefined) {
      for (const [db, m] of memo) this.#state(ts, device, db, m, "removed", undefined);
      return;
    }
    this.#state(ts, device, "", this.#memoOf(memo, ""), view.state, view.problems[0]);
    for (const row of view.rows) {
      if (row.db === null) continue;
      const m = this.#memoOf(memo, row.db);
      this.#state(ts, device, row.db, m, row.state, row.problems[0]);
      if (row.lagMs !== null && this.#lagDue(ts, m, row.lagMs)) {
        m.lagAt = ts;
        m.lag = row.lagMs;
        this.#push({ device, ts, kind: "lag", db: row.db, lagMs: row.lagMs });
      }
    }
  }

  /** Records one event of `device`. */
  recordEvent(device: string, event: EventMessage): void {
    const db = typeof event.data["db"] === "string" ? event.data["db"] : null;
    this.#push({ device, ts: this.#now(), kind: "event", db, event: event.event, detail: event.data });
  }

  /** Writes the buffer now, in one transaction (a failure is reported, and the batch dropped). */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#buffer;
    if (batch.length === 0) return;
    this.#buffer = [];
    try {
      this.store.append(batch);
      this.#written += batch.length;
      if (this.#failures > 0) {
        this.#onRecovered?.(this.#failures);
        this.#failures = 0;
        this.#reportedAt = Number.NEGATIVE_INFINITY;
      }
    } catch (err) {
      this.#dropped += batch.length;
      this.#failures++;
      // What was dropped is not on file: forget it, so that the next status
      // of each of those series records its state (and a lag sample) again.
      for (const e of batch) {
        if (e.kind === "event") continue;
        const m = this.#memo.get(e.device)?.get(e.db ?? "");
        if (m === undefined) continue;
        if (e.kind === "state") m.state = undefined;
        else m.lagAt = m.lag = undefined;
      }
      const now = this.#now();
      if (now - this.#reportedAt >= ERROR_REPORT_MS) {
        this.#reportedAt = now;
        this.#onError?.(err, this.#failures);
      }
    }
  }

  /**
   * Prunes entries beyond the bounds, one batch per transaction, letting
   * other work run between batches. A call while one runs joins it.
   *
   * @returns how many entries were deleted
   */
  prune(): Promise<number> {
    this.#pruning ??= this.#pruneAll().finally(() => {
      this.#pruning = undefined;
    });
    return this.#pruning;
  }

  /** Counts of entries written, dropped (failed writes) and pruned. */
  stats(): HistoryRecorderStats {
    return { written: this.#written, dropped: this.#dropped, pruned: this.#pruned };
  }

  /** Stops recording, writes the buffer and closes the store. Calling it twice does nothing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe();
    clearInterval(this.#pruneTimer);
    await this.#pruning?.catch(() => undefined);
    this.flush();
    this.store.close();
  }

  async #pruneAll(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.#stopped) return total;
      const n = this.store.pruneBatch({
        olderThan: this.#now() - this.#retentionMs,
        maxRows: this.#maxRows,
        batch: this.#pruneBatch,
      });
      total += n;
      this.#pruned += n;
      if (n < this.#pruneBatch) return total;
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
  }

  #observe(change: FleetChange): void {
    if (this.#stopped) return;
    if (change.kind === "event") {
      const event = this.#source.events(change.device).at(-1);
      if (event !== undefined) this.recordEvent(change.device, event);
      return;
    }
    this.recordDevice(change.device, change.kind === "removed" ? undefined : this.#source.device(change.device));
  }

  #memoOf(memo: Map<string, SeriesMemo>, db: string): SeriesMemo {
    return memo.get(db) ?? memo.set(db, { state: undefined, lagAt: undefined, lag: undefined }).get(db)!;
  }

  #state(ts: number, device: string, db: string, m: SeriesMemo, state: string, detail: string | undefined): void {
    if (m.state === state) return;
    m.state = state;
    this.#push({
      device,
      ts,
      kind: "state",
      db: db === "" ? null : db,
      state: state as NonNullable<NewHistoryEntry["state"]>,
      ...(detail === undefined ? {} : { detail }),
    });
  }

  #lagDue(ts: number, m: SeriesMemo, lag: number): boolean {
    if (m.lagAt === undefined || m.lag === undefined) return true;
    if (lag === m.lag) return false;
    if (ts - m.lagAt >= this.#lagSampleMs) return true;
    return Math.abs(lag - m.lag) >= Math.max(LAG_STEP_MS, LAG_STEP_FRACTION * m.lag);
  }

  #push(entry: NewHistoryEntry): void {
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxBuffered) this.flush();
    else if (this.#flushMs > 0 && this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.flush(), this.#flushMs);
      this.#flushTimer.unref?.();
    }
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`Cannot record history: '${name}' must be a positive number: current value is ${n}`);
  return n;
}
