/**
 * The only module that imports `bun:sqlite`. Everything else talks to SQLite
 * through `SqlConnection`, so a second runtime needs only a second adapter.
 *
 * @module
 */

import { Database, constants } from "bun:sqlite";
import { accessSync, constants as fsConstants, existsSync } from "node:fs";
import { errorMessage } from "../errors.ts";
import { databaseOpenError } from "./file-errors.ts";

/** A single SQLite connection. */
export interface SqlConnection {
  /** Runs one or more statements that return nothing. */
  exec(sql: string): void;
  /** Runs a query and returns its first row, or `undefined`. */
  get<T>(sql: string, ...params: Array<string | number | bigint | null>): T | undefined;
  /** Runs a query and returns every row. */
  all<T>(sql: string, ...params: Array<string | number | bigint | null>): T[];
  /** Runs a statement with parameters; returns the number of changed rows. */
  run(sql: string, ...params: Array<string | number | bigint | null | Uint8Array>): number;
  /** Keeps the `-wal` file on close (`SQLITE_FCNTL_PERSIST_WAL`). */
  persistWal(): void;
  /**
   * The database image as SQLite sees it, WAL included (`sqlite3_serialize`),
   * read in one read transaction.
   */
  serialize(): Uint8Array;
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean;
  close(): void;
}

/** Options for `openSqlConnection`. */
export interface OpenOptions {
  readonly readonly?: boolean;
  /** Create the file when missing (default false). */
  readonly create?: boolean;
  /** `PRAGMA busy_timeout` in milliseconds (default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * Read-only and immutable (SQLite's `immutable=1`): no lock, no `-shm`,
   * so a file in a directory this process cannot write is read too. Only
   * for a file nobody writes while it is open, whose `-wal` is gone.
   */
  readonly immutable?: boolean;
}

/**
 * Opens a connection, and reads the schema version once so that a file
 * SQLite cannot open (also one whose `-shm` it cannot create, which
 * SQLite only finds at the first read) fails here, explained.
 * @throws {LocalFileError} when the path, the file or its directory is the reason (missing, a directory, no permission, read-only)
 * @throws {Error} naming `path` when SQLite cannot open it for another reason (not a database …)
 */
export function openSqlConnection(path: string, options: OpenOptions = {}): SqlConnection {
  const readonly = options.readonly === true || options.immutable === true;
  const how = { write: !readonly, create: !readonly && options.create === true };
  // SQLite opens a file it may not write read-only without a word and fails at the first write
  // ("attempt to write a readonly database", no path): find that here, explained.
  if (how.write && existsSync(path)) {
    try {
      accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    } catch (err) {
      throw databaseOpenError(path, err, how);
    }
  }
  let db: Database;
  try {
    db = options.immutable
      ? new Database(`file:${encodeURIComponent(path).replaceAll("%2F", "/")}?immutable=1`, IMMUTABLE_FLAGS)
      : options.readonly
        ? new Database(path, { readonly: true })
        : new Database(path, { create: options.create ?? false, readwrite: true });
  } catch (err) {
    throw isOpenFailure(err)
      ? databaseOpenError(path, err, how)
      : new Error(`Cannot open database '${path}': ${errorMessage(err)}`, { cause: err });
  }
  try {
    // Before the busy timeout is set: a lock held elsewhere fails this at
    // once and is left to the caller's own statements (which wait for it).
    db.query("PRAGMA schema_version").get();
  } catch (err) {
    if (isOpenFailure(err)) {
      db.close();
      throw databaseOpenError(path, err, how);
    }
    if (sqliteCode(err) === "SQLITE_NOTADB") {
      db.close();
      throw new Error(`Cannot open database '${path}': ${errorMessage(err)}`, { cause: err });
    }
  }
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  return {
    exec: (sql) => db.exec(sql),
    get: <T>(sql: string, ...params: Array<string | number | bigint | null>) =>
      (db.query(sql).get(...params) ?? undefined) as T | undefined,
    all: <T>(sql: string, ...params: Array<string | number | bigint | null>) => db.query(sql).all(...params) as T[],
    run: (sql, ...params) => db.run(sql, params).changes,
    persistWal: () => {
      const rc = db.fileControl(constants.SQLITE_FCNTL_PERSIST_WAL, 1);
      if (rc !== 0) throw new Error(`Cannot set SQLITE_FCNTL_PERSIST_WAL on '${path}': SQLite returned '${rc}'`);
    },
    serialize: () => new Uint8Array(db.serialize()),
    get inTransaction() {
      return db.inTransaction;
    },
    close: () => db.close(),
  };
}

/** `SQLITE_OPEN_READONLY | SQLITE_OPEN_URI` (0x40; bun:sqlite's constants lack it): a `file:` URI with `immutable=1`. */
const IMMUTABLE_FLAGS = constants.SQLITE_OPEN_READONLY | 0x40;

/** SQLite's (extended) result code name of `err`, e.g. `SQLITE_CANTOPEN`. */
function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/**
 * SQLite could not open or read the file itself, or create the files it
 * keeps beside it (`SQLITE_READONLY_DIRECTORY` on a first read), as
 * opposed to a lock or a file that is not a database.
 */
function isOpenFailure(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== undefined && /^SQLITE_(CANTOPEN|IOERR|PERM|READONLY)/.test(code);
}

/** The SQLite library version, e.g. "3.54.1". */
export function sqliteVersion(): string {
  const db = new Database(":memory:");
  try {
    return (db.query("SELECT sqlite_version() AS v").get() as { v: string }).v;
  } finally {
    db.close();
  }
}
