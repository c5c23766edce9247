/**
 * Directory replication: finds the SQLite databases a `dbs:` entry with
 * `dir:` claims (`config/dir-entry.ts`), and with `watch: true` keeps
 * finding them while the agent runs. A database created later is added (it
 * then replicates like a configured one), one removed or renamed away is
 * stopped (its local state stays on disk).
 *
 * Watching is `fs.watch` (inotify) on the directory, and on each
 * subdirectory when recursive, with a short debounce, plus a full rescan
 * every `rescanIntervalMs` (10 s), since inotify events can be lost (queue
 * overflow, a directory created and filled before its watch exists) or
 * unavailable (some network file systems).
 *
 * A file is a database when it begins with the SQLite header
 * (`SQLite format 3\0`). One that does not yet (empty while its
 * application creates it) is looked at again at the next scan. Only
 * regular files and real directories are followed, never symlinks.
 *
 * @module
 */

import { closeSync, type Dirent, existsSync, type FSWatcher, openSync, readdirSync, readSync, watch } from "node:fs";
import { join } from "node:path";
import { claimedPath, dirDbConfig, isOwnStateName } from "../config/dir-entry.ts";
import type { DbConfig, DirEntryConfig } from "../config/schema.ts";
import { ConfigError, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { systemClock, type Clock } from "../platform/clock.ts";

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

/** How often a watched directory is rescanned in full, whatever its events. */
export const DEFAULT_RESCAN_INTERVAL_MS = 10_000;
/** How long after a file system event the scan waits, so a burst of events costs one scan. */
const DEBOUNCE_MS = 250;

/**
 * The databases `entry` claims now, sorted by path: regular files under
 * its directory that it claims and that begin with the SQLite header. A
 * missing directory holds none.
 */
export function findDirDatabases(entry: DirEntryConfig): string[] {
  const found: string[] = [];
  for (const dir of searchedDirectories(entry)) {
    for (const d of readEntries(dir)) {
      const path = join(dir, d.name);
      if (d.isFile() && claimedPath(entry, path) !== undefined && isSqliteDatabase(path)) found.push(path);
    }
  }
  return found.sort();
}

/**
 * The databases of every directory entry at start, as configs. A database
 * already replicated (a `path:` entry, or an earlier directory entry whose
 * pattern also matches it) is left to that entry.
 *
 * @throws {ConfigError} for an entry without `watch` that finds none (with
 * `watch`, a warning is logged and the entry waits for one)
 */
export function dirDatabasesAtStart(
  config: { dbs: readonly DbConfig[]; dirs: readonly DirEntryConfig[] },
  log: Logger,
): DbConfig[] {
  const taken = new Set(config.dbs.map((d) => d.path));
  const out: DbConfig[] = [];
  for (const entry of config.dirs) {
    const paths = findDirDatabases(entry);
    if (paths.length === 0) {
      const field = `dbs[${entry.index}].dir`;
      if (!entry.watch) {
        throw new ConfigError(
          `Cannot read config: '${field}' has no SQLite database in '${entry.dir}' matching '${entry.pattern}'${entry.recursive ? " (searched recursively)" : ""}; create one, fix the pattern, or set 'watch: true' to wait for one`,
          { field, value: entry.dir },
        );
      }
      log.warn("no database in the directory yet; watching for one", { dir: entry.dir, pattern: entry.pattern });
    }
    for (const path of paths) {
      if (taken.has(path)) continue;
      taken.add(path);
      out.push(dirDbConfig(entry, path));
    }
  }
  return out;
}

/** What a {@linkcode DirWatcher} needs. */
export interface DirWatcherOptions {
  readonly entry: DirEntryConfig;
  /** Whether a database is replicated already (by any entry); such a path is never added. */
  readonly claimed: (path: string) => boolean;
  /** Starts replicating a found database; rejects when it cannot start (it is tried again at the next scan). */
  readonly add: (db: DbConfig) => Promise<void>;
  /** Stops replicating a database (a final sync; its local state stays). */
  readonly remove: (path: string) => Promise<void>;
  readonly log: Logger;
  /** Drives the rescans and the debounce. Default: the system clock. */
  readonly clock?: Clock;
  /** Default {@linkcode DEFAULT_RESCAN_INTERVAL_MS}. */
  readonly rescanIntervalMs?: number;
  /** Whether to use `fs.watch` besides the rescans (default true; tests of the rescan path turn it off). */
  readonly fsEvents?: boolean;
}

/** See the module documentation. One watcher per directory entry with `watch: true`. */
export class DirWatcher {
  readonly #o: DirWatcherOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** The databases this entry added (or found at start), by path. */
  readonly #tracked = new Map<string, DbConfig>();
  /** Paths whose start failed, so the error is logged once, not at every scan. */
  readonly #failed = new Set<string>();
  readonly #watches = new Map<string, FSWatcher>();
  readonly #pending = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #changed = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: DirWatcherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log.with({ dir: options.entry.dir });
  }

  /** Paths this watcher replicates now. */
  get databases(): string[] {
    return [...this.#tracked.keys()].sort();
  }

  /**
   * Starts watching; of `initial` (the databases found at start by
   * {@linkcode dirDatabasesAtStart}), those this entry claims are its own.
   */
  start(initial: readonly DbConfig[]): void {
    for (const db of initial) {
      if (claimedPath(this.#o.entry, db.path) !== undefined) this.#tracked.set(db.path, db);
    }
    this.#syncWatches();
    // What changed between the scan at start and these watches (a database
    // removed or created while the others were starting) raised no event:
    // one scan right away instead of at the first rescan.
    this.#changed.abort();
    this.#loop = this.#run();
  }

  /**
   * Scans once now: adds what appeared, removes what is gone. Resolves once
   * removals are done and additions are under way.
   */
  async scan(): Promise<void> {
    const { entry } = this.#o;
    for (const [path, db] of this.#tracked) {
      if (existsSync(path)) continue;
      this.#tracked.delete(path);
      await this.#o.remove(path);
      this.#log.info("database removed; replication stopped (its local state is kept)", {
        db: path,
        meta: db.metaPath,
      });
    }
    for (const path of findDirDatabases(entry)) {
      if (this.#tracked.has(path) || this.#o.claimed(path)) continue;
      this.#add(dirDbConfig(entry, path));
    }
    this.#syncWatches();
  }

  /** Stops watching and waits for additions under way; the databases themselves are stopped by their owner. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const w of this.#watches.values()) w.close();
    this.#watches.clear();
    await this.#loop;
    await Promise.all(this.#pending);
  }

  #add(db: DbConfig): void {
    this.#tracked.set(db.path, db);
    if (!this.#failed.has(db.path)) {
      this.#log.info("database found; replicating", {
        db: db.path,
        replicas: db.replicas.map((r) => r.name).join(","),
      });
    }
    const started = this.#o
      .add(db)
      .then(() => {
        this.#failed.delete(db.path);
      })
      .catch(async (err: unknown) => {
        if (this.#tracked.get(db.path) !== db) return;
        this.#tracked.delete(db.path);
        const first = !this.#failed.has(db.path);
        this.#failed.add(db.path);
        (first ? this.#log.error : this.#log.debug)("cannot replicate the found database; retrying at the next scan", {
          db: db.path,
          err: errorMessage(err),
        });
        await this.#o.remove(db.path);
      })
      .finally(() => this.#pending.delete(started));
    this.#pending.add(started);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const interval = this.#o.rescanIntervalMs ?? DEFAULT_RESCAN_INTERVAL_MS;
    while (!signal.aborted) {
      await this.#clock.sleep(interval, AbortSignal.any([signal, this.#changed.signal]));
      if (signal.aborted) break;
      if (this.#changed.signal.aborted) {
        // Let the burst of events (a file created, then written) settle into one scan.
        this.#changed = new AbortController();
        await this.#clock.sleep(DEBOUNCE_MS, signal);
        if (signal.aborted) break;
      }
      try {
        await this.scan();
      } catch (err) {
        this.#log.error("directory scan failed; retrying at the next one", { err: errorMessage(err) });
      }
    }
  }

  /** Watches every searched directory (new subdirectories too), and stops watching those gone. */
  #syncWatches(): void {
    if (this.#o.fsEvents === false || this.#abort.signal.aborted) return;
    const dirs = new Set(searchedDirectories(this.#o.entry));
    for (const [dir, w] of this.#watches) {
      if (dirs.has(dir)) continue;
      w.close();
      this.#watches.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watches.has(dir)) continue;
      try {
        const w = watch(dir, (event, name) => this.#onEvent(dir, event, name));
        w.on("error", (err: unknown) => {
          // The rescans go on; a directory that comes back is watched again at the next one.
          this.#log.debug("directory watch ended", { watched: dir, err: errorMessage(err) });
          w.close();
          this.#watches.delete(dir);
        });
        this.#watches.set(dir, w);
      } catch (err) {
        this.#log.debug("cannot watch the directory; relying on rescans", { watched: dir, err: errorMessage(err) });
      }
    }
  }

  #onEvent(dir: string, event: string, name: string | Buffer | null): void {
    const file = name === null ? undefined : name.toString();
    // Our own writes (WAL, shm, meta directories) and writes to databases already
    // replicated are not news; a name appearing or vanishing, or an untracked file changing, is.
    if (file !== undefined && isOwnStateName(file)) return;
    if (file !== undefined && event === "change" && this.#tracked.has(join(dir, file))) return;
    this.#changed.abort();
  }
}

/** The directories `entry` searches: its own, and every subdirectory not of our own state when recursive. */
function searchedDirectories(entry: DirEntryConfig): string[] {
  const out: string[] = [];
  const stack = [entry.dir];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (!existsSync(dir)) continue;
    out.push(dir);
    if (!entry.recursive) continue;
    for (const d of readEntries(dir)) {
      const path = join(dir, d.name);
      const underMeta = entry.metaDir !== undefined && path === entry.metaDir;
      if (d.isDirectory() && !isOwnStateName(d.name) && !underMeta) stack.push(path);
    }
  }
  return out;
}

/** The entries of `dir`; none when it vanished or cannot be read meanwhile (the next scan looks again). */
function readEntries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Whether the file at `path` begins with the SQLite header (false while it is shorter, or unreadable). */
function isSqliteDatabase(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = Buffer.alloc(SQLITE_HEADER.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_HEADER);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
