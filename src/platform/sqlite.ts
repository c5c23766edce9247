/**
 * The only module that imports `bun:sqlite`. Everything else talks to SQLite
 * through `SqlConnection`, so a second runtime needs only a second adapter.
 *
 * @module
 */

import { Database, constants } from "bun:sqlite";

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
}

/**
 * Opens a connection.
 * @throws {Error} from SQLite when the file cannot be opened
 */
export function openSqlConnection(path: string, options: OpenOptions = {}): SqlConnection {
  const db = options.readonly
    ? new Database(path, { readonly: true })
    : new Database(path, { create: options.create ?? false, readwrite: true });
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  return {
    exec: (sql) => db.exec(sql),
    get: <T>(sql: string, ...params: Array<string | number | bigint | null>) =>
      (db.query(sql).get(...params) ?? undefined) as T | undefined,
    all: <T>(sql: string, ...params: Array<string | number | bigint | null>) =>
      db.query(sql).all(...params) as T[],
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

/** The SQLite library version, e.g. "3.54.1". */
export function sqliteVersion(): string {
  const db = new Database(":memory:");
  try {
    return (db.query("SELECT sqlite_version() AS v").get() as { v: string }).v;
  } finally {
    db.close();
  }
}
