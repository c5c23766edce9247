/**
 * The dashboard's history file: an embedded SQLite database (WAL mode) of
 * what the fleet's status stream said over time, per device and per
 * database — state changes, device events and lag samples (docs/FLEET.md
 * "History"). What to record is decided by `history-recorder.ts`; this
 * module stores, reads and prunes.
 *
 * Layout (`PRAGMA application_id` {@linkcode HISTORY_APPLICATION_ID},
 * `user_version` {@linkcode HISTORY_FORMAT}):
 * - `series(id, device, db, state, lag_ts, lag)`: one row per device (`db`
 *   = '') and per database of a device; `state` is the last recorded state
 *   and `lag_ts`/`lag` the last lag sample, so that a restarted dashboard
 *   records neither again unchanged;
 * - `entries(id, series, ts, kind, name, lag, detail)`: `kind` 0 state
 *   (`name` the state), 1 event (`name` the event), 2 lag (`lag` in ms);
 *   `detail` JSON or null. Index `(series, ts)`.
 *
 * Every read is bounded (`LIMIT`), so memory does not follow the file's
 * size; pruning deletes at most one batch per transaction, so a writer
 * never holds the write lock for long. Two processes may use one file:
 * WAL lets readers run beside the writer and `busy_timeout` makes a writer
 * wait for the other's (short) transaction instead of failing.
 *
 * @module
 */

import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { CorruptFileError, LocalFileError } from "../../errors.ts";
import { openSqlConnection, type SqlConnection } from "../../platform/sqlite.ts";
import type { DeviceHealth } from "../device-health.ts";

/** `PRAGMA application_id` of a history file: "LFH1". */
export const HISTORY_APPLICATION_ID = 0x4c464831;
/** `PRAGMA user_version` of the layout this module writes. */
export const HISTORY_FORMAT = 1;
/** Most entries one query returns. */
export const MAX_HISTORY_LIMIT = 10_000;
/** Entries a query returns when it names no `limit`. */
export const DEFAULT_HISTORY_LIMIT = 1000;

/** What an entry records. */
export type HistoryKind = "state" | "event" | "lag";

/** One entry of a device's timeline, as `/api/history` and `fleet history --json` give it (plain JSON). */
export interface HistoryEntry {
  /** When the dashboard learned of it, on its own clock (Unix ms). */
  readonly ts: number;
  readonly kind: HistoryKind;
  /** The database, or null for the device as a whole. */
  readonly db: string | null;
  /** kind "state": the new state. */
  readonly state?: DeviceHealth | "removed";
  /** kind "event": the event name (e.g. "snapshot.written"). */
  readonly event?: string;
  /** kind "lag": the database's lag (ms). */
  readonly lagMs?: number;
  /** kind "state": the first problem, if any; kind "event": the event's data. */
  readonly detail?: string | Readonly<Record<string, unknown>>;
}

/** An entry to store: a {@linkcode HistoryEntry} and its device. */
export interface NewHistoryEntry extends HistoryEntry {
  readonly device: string;
}

/** What to read: one device, optionally one database, newest `limit` entries at or after `since`. */
export interface HistoryQuery {
  readonly device: string;
  /** Only this database (and the device's own events); all of the device's when absent. */
  readonly db?: string | undefined;
  /** Only entries at or after this time (Unix ms). */
  readonly since?: number | undefined;
  /** At most this many entries, the newest (default 1,000, at most {@linkcode MAX_HISTORY_LIMIT}). */
  readonly limit?: number | undefined;
}

/** The answer to a {@linkcode HistoryQuery}: entries oldest first. */
export interface HistoryAnswer {
  readonly device: string;
  readonly db: string | null;
  readonly entries: readonly HistoryEntry[];
  /** True when older entries matched but were left out by `limit`. */
  readonly truncated: boolean;
}

/** Sizes of a history file. */
export interface HistoryStats {
  readonly entries: number;
  readonly series: number;
  /** Bytes of the database file (pages in use and free), without its `-wal`. */
  readonly bytes: number;
}

/** Options for {@linkcode HistoryStore.open}. */
export interface HistoryStoreOptions {
  /**
   * Open read-only (`fleet history --history FILE`): the file must exist.
   *
   * @default {false}
   */
  readonly readonly?: boolean;
  /**
   * How long a write waits for another process's transaction (ms).
   *
   * @default {5000}
   */
  readonly busyTimeoutMs?: number;
  /**
   * A cap on the file's pages (`PRAGMA max_page_count`): a write beyond it
   * fails as on a full disk. Unlimited by default; tests set it.
   */
  readonly maxPageCount?: number;
}

/** The last recorded state and lag sample of one series (a device, or one of its databases). */
export interface SeriesLast {
  readonly state: string | null;
  /** When the last lag sample was taken (Unix ms), or null before any. */
  readonly lagAt: number | null;
  readonly lag: number | null;
}

const KIND_CODE: Readonly<Record<HistoryKind, number>> = { state: 0, event: 1, lag: 2 };
const KIND_NAME: readonly HistoryKind[] = ["state", "event", "lag"];
const HINT = "move it away (it is never overwritten) or pass --history with another file (or --no-history)";

const SCHEMA = `
CREATE TABLE series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, db TEXT NOT NULL, state TEXT,
  lag_ts INTEGER, lag INTEGER, UNIQUE (device, db));
CREATE TABLE entries (id INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL,
  name TEXT, lag INTEGER, detail TEXT);
CREATE INDEX entries_series_ts ON entries (series, ts);
PRAGMA application_id = ${HISTORY_APPLICATION_ID};
PRAGMA user_version = ${HISTORY_FORMAT};
`;

interface EntryRow {
  readonly id: number;
  readonly db: string;
  readonly ts: number;
  readonly kind: number;
  readonly name: string | null;
  readonly lag: number | null;
  readonly detail: string | null;
}

/** A history file, open. Not safe to share between threads; one instance per process and file. */
export class HistoryStore {
  readonly path: string;
  readonly #db: SqlConnection;
  /** Series ids by `device \0 db`: as many as devices and databases seen, not entries. */
  readonly #series = new Map<string, number>();
  #closed = false;

  private constructor(path: string, db: SqlConnection) {
    this.path = path;
    this.#db = db;
  }

  /**
   * Opens the history file at `path`, creating it (and its directory) when
   * missing, unless read-only. An existing file is used as it is; one that
   * is not a history file is refused and left untouched.
   *
   * @throws {CorruptFileError} when the file is not a SQLite database (or a damaged one)
   * @throws {LocalFileError} when it is another SQLite database, a newer history format, or cannot be opened (missing when read-only, permissions)
   */
  static open(path: string, options: HistoryStoreOptions = {}): HistoryStore {
    const readonly = options.readonly === true;
    if (existsSync(path) && statSync(path).isDirectory())
      throw new LocalFileError(`Cannot use '${path}' as a history file: it is a directory, not a file`, {
        path,
        code: "EISDIR",
        hint: "pass --history with a file path, e.g. --history /var/lib/litefleet/fleet-history.db",
      });
    if (readonly && !existsSync(path))
      throw new LocalFileError(`Cannot open history file '${path}': it does not exist`, {
        path,
        code: "ENOENT",
        hint: "pass the file 'fleet dashboard' prints at startup ('History in …'), or read from the dashboard with --url",
      });
    if (!readonly) {
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new LocalFileError(
          `Cannot create the directory of history file '${path}': ${code ?? (err as Error).message}`,
          {
            path: dirname(path),
            ...(code === undefined ? {} : { code }),
            hint: "pass --history with a file in a writable directory (or --no-history)",
            cause: err,
          },
        );
      }
    }
    let db: SqlConnection;
    try {
      db = openSqlConnection(path, {
        readonly,
        create: !readonly,
        busyTimeoutMs: options.busyTimeoutMs ?? 5000,
        immutable: readonly && readableOnlyAsImmutable(path),
      });
    } catch (err) {
      if (err instanceof LocalFileError) throw err;
      throw new CorruptFileError(`Cannot open history file '${path}': it is not a SQLite database: ${HINT}`, {
        path,
        cause: err,
      });
    }
    try {
      checkFormat(path, db, readonly);
      if (!readonly) {
        // A damaged file found now, not as a failing write or read hours later.
        const check = db.all<{ quick_check: string }>("PRAGMA quick_check(5)").map((r) => r.quick_check);
        if (check.join() !== "ok")
          throw new CorruptFileError(
            `Cannot use history file '${path}': it is damaged (${check.join("; ")}): ${HINT}`,
            {
              path,
            },
          );
        if (options.maxPageCount !== undefined) db.exec(`PRAGMA max_page_count = ${Math.trunc(options.maxPageCount)}`);
        db.exec("PRAGMA journal_mode = WAL");
        // History is not the data of record: a power cut may lose the last transactions, never the file.
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA journal_size_limit = 67108864");
      }
    } catch (err) {
      db.close();
      if (err instanceof LocalFileError || err instanceof CorruptFileError) throw err;
      throw new CorruptFileError(`Cannot open history file '${path}': ${(err as Error).message}: ${HINT}`, {
        path,
        cause: err,
      });
    }
    return new HistoryStore(path, db);
  }

  /**
   * Stores `entries` in one transaction. A state entry also becomes its
   * series' last state, a lag entry its last sample ({@linkcode HistoryStore.lastSeries}).
   */
  append(entries: readonly NewHistoryEntry[]): void {
    if (entries.length === 0) return;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const e of entries) {
        const series = this.#seriesId(e.device, e.db ?? "");
        const name = e.kind === "state" ? (e.state ?? null) : e.kind === "event" ? (e.event ?? null) : null;
        const detail = e.detail === undefined ? null : JSON.stringify(e.detail);
        this.#db.run(
          "INSERT INTO entries (series, ts, kind, name, lag, detail) VALUES (?, ?, ?, ?, ?, ?)",
          series,
          Math.trunc(e.ts),
          KIND_CODE[e.kind],
          name,
          e.kind === "lag" ? Math.trunc(e.lagMs ?? 0) : null,
          detail,
        );
        if (e.kind === "state") this.#db.run("UPDATE series SET state = ? WHERE id = ?", name, series);
        else if (e.kind === "lag")
          this.#db.run(
            "UPDATE series SET lag_ts = ?, lag = ? WHERE id = ?",
            Math.trunc(e.ts),
            Math.trunc(e.lagMs ?? 0),
            series,
          );
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      // Ids handed out inside the rolled-back transaction are gone (SQLite
      // may have rolled back by itself, as on a full disk).
      this.#series.clear();
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /** The last recorded state and lag sample of every series: `device` → (`db`, '' for the device) → last. One row per series. */
  lastSeries(): Map<string, Map<string, SeriesLast>> {
    const out = new Map<string, Map<string, SeriesLast>>();
    const rows = this.#reading(() =>
      this.#db.all<{ device: string; db: string; state: string | null; lag_ts: number | null; lag: number | null }>(
        "SELECT device, db, state, lag_ts, lag FROM series WHERE state IS NOT NULL OR lag_ts IS NOT NULL",
      ),
    );
    for (const r of rows) {
      const m = out.get(r.device) ?? out.set(r.device, new Map()).get(r.device)!;
      m.set(r.db, { state: r.state, lagAt: r.lag_ts, lag: r.lag });
    }
    return out;
  }

  /**
   * The newest `limit` entries of a device (or one of its databases, plus
   * the device's own events), oldest first; undefined when the device (or
   * that database) has no history at all.
   */
  query(q: HistoryQuery): HistoryAnswer | undefined {
    return this.#reading(() => this.#query(q));
  }

  #query(q: HistoryQuery): HistoryAnswer | undefined {
    const limit = Math.min(Math.max(1, Math.trunc(q.limit ?? DEFAULT_HISTORY_LIMIT)), MAX_HISTORY_LIMIT);
    const series = this.#db.all<{ id: number; db: string }>("SELECT id, db FROM series WHERE device = ?", q.device);
    if (series.length === 0) return undefined;
    const dbOf = new Map(series.map((s) => [s.id, s.db]));
    const all = q.db === undefined;
    if (!all && !series.some((s) => s.db === q.db)) return undefined;
    const own = series.filter((s) => all || s.db === q.db).map((s) => s.id);
    const device = all ? [] : series.filter((s) => s.db === "").map((s) => s.id);
    // Bounded: SQLite keeps only the top `limit + 1` rows while sorting.
    const rows = this.#db.all<Omit<EntryRow, "db"> & { series: number }>(
      `SELECT id, series, ts, kind, name, lag, detail FROM entries
       WHERE ts >= ? AND (series IN (${own.map(() => "?").join(",")})${device.length === 0 ? "" : ` OR (series IN (${device.map(() => "?").join(",")}) AND kind = 1)`})
       ORDER BY ts DESC, id DESC LIMIT ?`,
      Math.trunc(q.since ?? 0),
      ...own,
      ...device,
      limit + 1,
    );
    const truncated = rows.length > limit;
    const entries = rows
      .slice(0, limit)
      .reverse()
      .map((r) => toEntry({ ...r, db: dbOf.get(r.series) ?? "" }));
    return { device: q.device, db: q.db ?? null, entries, truncated };
  }

  /**
   * Deletes at most `batch` of the oldest entries, in one transaction:
   * those beyond the newest `maxRows` first, else those older than
   * `olderThan` (Unix ms). Call it again while it returns `batch`.
   *
   * @returns how many entries were deleted
   */
  pruneBatch(options: { olderThan: number; maxRows: number; batch: number }): number {
    const { olderThan, maxRows, batch } = options;
    const span = this.#db.get<{ lo: number | null; hi: number | null }>(
      "SELECT min(id) AS lo, max(id) AS hi FROM entries",
    );
    if (span?.lo == null || span.hi == null) return 0;
    // Ids only grow, and entries are deleted oldest first: the newest `maxRows` ids hold at most `maxRows` entries.
    const keepFrom = span.hi - maxRows + 1;
    if (span.lo < keepFrom)
      return this.#db.run(
        "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE id < ? ORDER BY id LIMIT ?)",
        keepFrom,
        batch,
      );
    return this.#db.run(
      "DELETE FROM entries WHERE id IN (SELECT id FROM entries ORDER BY id LIMIT ?) AND ts < ?",
      batch,
      Math.trunc(olderThan),
    );
  }

  /** Entry and series counts and the file's size (counting is a scan: for tests and figures, not per request). */
  stats(): HistoryStats {
    const n = (sql: string) => this.#reading(() => this.#db.get<{ n: number }>(sql)?.n ?? 0);
    return {
      entries: n("SELECT count(*) AS n FROM entries"),
      series: n("SELECT count(*) AS n FROM series"),
      bytes: statSync(this.path).size,
    };
  }

  /** Writes the WAL back into the file (`wal_checkpoint(TRUNCATE)`); for measuring sizes. */
  checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  /** Closes the file. Calling it twice does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  /**
   * Runs a read; a damaged file becomes a {@linkcode CorruptFileError} naming it.
   * @throws {CorruptFileError} when SQLite finds the file damaged
   */
  #reading<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB")
        throw new CorruptFileError(
          `Cannot read history file '${this.path}': it is damaged (${(err as Error).message}): ${HINT}`,
          { path: this.path, cause: err },
        );
      throw err;
    }
  }

  #seriesId(device: string, db: string): number {
    const key = `${device}\u0000${db}`;
    const known = this.#series.get(key);
    if (known !== undefined) return known;
    this.#db.run("INSERT INTO series (device, db) VALUES (?, ?) ON CONFLICT DO NOTHING", device, db);
    const id = this.#db.get<{ id: number }>("SELECT id FROM series WHERE device = ? AND db = ?", device, db)!.id;
    this.#series.set(key, id);
    return id;
  }
}

/**
 * Whether a read-only open must be immutable: SQLite cannot create the
 * `-shm` of a WAL file in a directory this process cannot write, which is
 * only safe to do without when no dashboard has the file open (no `-shm`)
 * and nothing waits in a `-wal`.
 */
function readableOnlyAsImmutable(path: string): boolean {
  if (existsSync(`${path}-shm`)) return false;
  try {
    accessSync(dirname(path), constants.W_OK);
    return false;
  } catch {
    const wal = `${path}-wal`;
    return !existsSync(wal) || statSync(wal).size === 0;
  }
}

/**
 * Refuses a file that is not a history file; lays out a new (empty) one.
 * @throws {LocalFileError} for another SQLite database, or a newer format
 */
function checkFormat(path: string, db: SqlConnection, readonly: boolean): void {
  const appId = db.get<{ application_id: number }>("PRAGMA application_id")?.application_id ?? 0;
  const tables = db.get<{ n: number }>("SELECT count(*) AS n FROM sqlite_schema")?.n ?? 0;
  if (appId === 0 && tables === 0) {
    if (readonly)
      throw new LocalFileError(`Cannot read history file '${path}': it is empty (no dashboard has written to it)`, {
        path,
        hint: "pass the file 'fleet dashboard' prints at startup ('History in …')",
      });
    db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
    return;
  }
  if (appId !== HISTORY_APPLICATION_ID)
    throw new LocalFileError(
      `Cannot use '${path}' as a history file: it is a SQLite database of something else (application_id ${appId}, ${tables} schema objects)`,
      { path, hint: HINT },
    );
  const version = db.get<{ user_version: number }>("PRAGMA user_version")?.user_version ?? 0;
  if (version > HISTORY_FORMAT)
    throw new LocalFileError(
      `Cannot use history file '${path}': it has format ${version}, this litefleet reads format ${HISTORY_FORMAT}`,
      { path, hint: `upgrade litefleet, or ${HINT}` },
    );
}

function toEntry(r: EntryRow): HistoryEntry {
  const kind = KIND_NAME[r.kind] ?? "event";
  const db = r.db === "" ? null : r.db;
  const detail = r.detail === null ? undefined : (JSON.parse(r.detail) as HistoryEntry["detail"]);
  const base = { ts: r.ts, kind, db, ...(detail === undefined ? {} : { detail }) };
  if (kind === "state") return { ...base, state: (r.name ?? "ok") as DeviceHealth };
  if (kind === "event") return { ...base, event: r.name ?? "" };
  return { ...base, lagMs: r.lag ?? 0 };
}
