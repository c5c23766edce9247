/**
 * The agent's hold on one live database: the SQLite connections and file
 * descriptors that let it read the WAL safely and run its own checkpoints.
 *
 * - A long-running read transaction on `#reader` pins the WAL: while it is
 *   open nobody can restart or truncate the WAL, so every frame is seen
 *   before it is overwritten. It is released only around our checkpoints.
 * - `#barrier` takes the write lock (`_litefleet_lock`, never committed) so a
 *   PASSIVE checkpoint starts exactly at the end of what we have captured.
 * - `#control` runs checkpoints and bumps `_litefleet_seq`.
 * - The `-wal` and database files are read through descriptors that stay open
 *   until `close()`: POSIX record locks are per process, and closing any
 *   descriptor of a file drops SQLite's locks on it.
 *
 * @module
 */

import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { openSqlConnection, type SqlConnection } from "../platform/sqlite.ts";
import { decodeWalHeader, type WalHeader } from "./wal-reader.ts";
import { endianness } from "node:os";
import { readAt, readInto } from "../platform/positional-io.ts";

/** Checkpoint modes the agent uses (RESTART is avoided: it can hang applications). */
export type CheckpointMode = "PASSIVE" | "FULL" | "RESTART" | "TRUNCATE";

/** The result of `PRAGMA wal_checkpoint`. */
export interface CheckpointResult {
  /** 1 when the checkpoint could not finish because of readers or writers. */
  readonly busy: number;
  /** Frames in the WAL when the checkpoint ran. */
  readonly log: number;
  /** Frames copied back into the database. */
  readonly checkpointed: number;
}

/** Options for `CaptureConnection.open`. */
export interface CaptureOptions {
  /** Busy timeout for our connections, in ms. */
  readonly busyTimeoutMs: number;
}

/** Size of one copy of the wal-index header (`WalIndexHdr`); `-shm` starts with two. */
const WAL_INDEX_HEADER_SIZE = 48;

/**
 * The end of what SQLite counts as committed in a WAL with `wal.salts`,
 * from the wal-index header in the `-shm` open at `shmFd` (see
 * {@linkcode CaptureConnection.committedWalEnd}): 32 + mxFrame × frame
 * size; 32 when the header describes another WAL generation; undefined
 * when it cannot be read consistently.
 */
export function committedWalEnd(
  shmFd: number,
  wal: { readonly salt1: number; readonly salt2: number; readonly pageSize: number },
): number | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    const bytes = readAt(shmFd, 0, 2 * WAL_INDEX_HEADER_SIZE);
    if (bytes.length < 2 * WAL_INDEX_HEADER_SIZE) return undefined;
    const a = bytes.subarray(0, WAL_INDEX_HEADER_SIZE);
    const b = bytes.subarray(WAL_INDEX_HEADER_SIZE);
    // SQLite writes the second copy first; equal copies are a consistent header.
    if (!a.every((x, i) => x === b[i])) continue;
    const view = new DataView(a.buffer, a.byteOffset, a.byteLength);
    const le = endianness() === "LE";
    if (view.getUint8(12) !== 1) return undefined; // isInit
    const mxFrame = view.getUint32(16, le);
    // The salts are copied from the WAL header as bytes (big-endian words).
    if (view.getUint32(32, false) !== wal.salt1 || view.getUint32(36, false) !== wal.salt2) return 32;
    return 32 + mxFrame * (24 + wal.pageSize);
  }
  return undefined;
}

/** See the module documentation. */
export class CaptureConnection {
  readonly path: string;
  readonly walPath: string;
  readonly pageSize: number;
  #reader: SqlConnection;
  #barrier: SqlConnection;
  #control: SqlConnection;
  #dbFd: number;
  #walFd: number;
  /** The wal-index (`-shm`); kept open until close like the others (POSIX lock rule). */
  #shmFd: number | undefined;
  #readLocked = false;
  #closed = false;

  private constructor(path: string, conns: [SqlConnection, SqlConnection, SqlConnection]) {
    this.path = path;
    this.walPath = `${path}-wal`;
    [this.#reader, this.#barrier, this.#control] = conns;
    const mode = this.#control.get<{ journal_mode: string }>("PRAGMA journal_mode = wal");
    if (mode?.journal_mode !== "wal") {
      throw new Error(`Cannot capture '${path}': journal_mode is '${mode?.journal_mode}', not 'wal'`);
    }
    for (const c of conns) c.persistWal();
    this.#control.exec(
      "CREATE TABLE IF NOT EXISTS _litefleet_seq (id INTEGER PRIMARY KEY, seq INTEGER);" +
        "CREATE TABLE IF NOT EXISTS _litefleet_lock (id INTEGER);",
    );
    this.pageSize = this.#control.get<{ page_size: number }>("PRAGMA page_size")?.page_size ?? 4096;
    this.#dbFd = openSync(path, "r");
    // Make sure a WAL with a header exists so its descriptor stays valid.
    if (fileSize(this.walPath) < 32) this.bumpSeq();
    this.#walFd = openSync(this.walPath, "r");
    try {
      this.#shmFd = openSync(`${path}-shm`, "r");
    } catch {
      this.#shmFd = undefined; // no shared-memory index (e.g. locking_mode exclusive): no cap
    }
  }

  /**
   * The end of what SQLite counts as committed in the WAL: 32 + mxFrame ×
   * frame size from the wal-index header in `-shm`, for a WAL with `salts`.
   *
   * A commit frame can be in the WAL file without being committed: a
   * writer killed after writing it but before publishing it in the
   * wal-index. While other connections (ours) keep the wal-index, nobody
   * recovers that frame, and the next writer overwrites it. Capture must
   * not publish it, so it reads no further than this. Undefined when the
   * header cannot be read consistently (then nothing is capped); 32 when
   * it describes another WAL generation (a restart not yet published).
   */
  committedWalEnd(salts: { readonly salt1: number; readonly salt2: number }): number | undefined {
    if (this.#shmFd === undefined) return undefined;
    return committedWalEnd(this.#shmFd, { ...salts, pageSize: this.pageSize });
  }

  /**
   * Opens the database for capture: switches it to WAL mode, keeps the WAL
   * file on close, creates the bookkeeping tables and takes the read lock.
   * @throws {Error} when the database does not exist or cannot be put in WAL mode
   */
  static open(path: string, options: CaptureOptions): CaptureConnection {
    const open = () => openSqlConnection(path, { busyTimeoutMs: options.busyTimeoutMs });
    const conns: [SqlConnection, SqlConnection, SqlConnection] = [open(), open(), open()];
    try {
      const cc = new CaptureConnection(path, conns);
      cc.acquireReadLock();
      return cc;
    } catch (err) {
      for (const c of conns) c.close();
      throw err;
    }
  }

  /** Reads and validates the WAL header; `undefined` when the WAL is empty or invalid. */
  readWalHeader(): WalHeader | undefined {
    return decodeWalHeader(this.readWal(0, 32));
  }

  /** Current size of the `-wal` file in bytes. */
  walFileSize(): number {
    return fstatSync(this.#walFd).size;
  }

  /** Current size of the database file in bytes. */
  dbFileSize(): number {
    return fstatSync(this.#dbFd).size;
  }

  /** Reads up to `length` bytes of the WAL at `offset` (short at end of file). */
  readWal(offset: number, length: number): Uint8Array {
    return readAt(this.#walFd, offset, length);
  }

  /** Reads page `pgno` from the database file; zero-filled past the end of the file. */
  readDbPage(pgno: number): Uint8Array {
    const page = readAt(this.#dbFd, (pgno - 1) * this.pageSize, this.pageSize);
    if (page.length === this.pageSize) return page;
    const full = new Uint8Array(this.pageSize);
    full.set(page);
    return full;
  }

  /**
   * Reads page `pgno` from the database file into `out` (a page long),
   * zero-filling past the end of the file: a long pass reuses one buffer.
   */
  readDbPageInto(pgno: number, out: Uint8Array): void {
    const n = readInto(this.#dbFd, (pgno - 1) * this.pageSize, out);
    if (n < out.length) out.fill(0, n);
  }

  /** Reads the WAL at `offset` into `out`; returns the bytes read (fewer at end of file). */
  readWalInto(offset: number, out: Uint8Array): number {
    return readInto(this.#walFd, offset, out);
  }

  /** Starts the long-running read transaction (idempotent). */
  acquireReadLock(): void {
    if (this.#readLocked) return;
    this.#reader.exec("BEGIN");
    this.#reader.get("SELECT COUNT(1) FROM _litefleet_seq");
    this.#readLocked = true;
  }

  /**
   * Moves the read transaction to the current end of the WAL without a
   * moment unpinned: the barrier connection holds a read transaction of
   * its own while the long-running one is ended and begun again. A
   * checkpoint can then copy back the frames up to the new snapshot, and
   * the WAL still cannot restart (our reader holds a read mark). Call it
   * only outside a barrier.
   */
  refreshReadLock(): void {
    if (!this.#readLocked) {
      this.acquireReadLock();
      return;
    }
    this.#barrier.exec("BEGIN");
    try {
      this.#barrier.get("SELECT COUNT(1) FROM _litefleet_seq");
      this.releaseReadLock();
      this.acquireReadLock();
    } finally {
      this.#barrier.exec("ROLLBACK");
    }
  }

  /** Ends the read transaction (idempotent). */
  releaseReadLock(): void {
    if (!this.#readLocked) return;
    this.#reader.exec("ROLLBACK");
    this.#readLocked = false;
  }

  /**
   * Takes the database write lock without committing anything, so no
   * application transaction can commit until `endBarrier()`. Waits up to the
   * busy timeout; throws SQLITE_BUSY when an application holds the lock longer.
   */
  beginBarrier(): void {
    this.#barrier.exec("BEGIN IMMEDIATE");
    this.#barrier.run("INSERT INTO _litefleet_lock (id) VALUES (1)");
  }

  /** Releases the write lock taken by `beginBarrier()` (rolls back). */
  endBarrier(): void {
    if (this.#barrier.inTransaction) this.#barrier.exec("ROLLBACK");
  }

  /** Runs `PRAGMA wal_checkpoint(mode)` on the control connection. */
  checkpoint(mode: CheckpointMode): CheckpointResult {
    const row = this.#control.get<CheckpointResult>(`PRAGMA wal_checkpoint(${mode})`);
    return row ?? { busy: 1, log: -1, checkpointed: -1 };
  }

  /**
   * Writes one row to `_litefleet_seq`. After a full checkpoint this write is
   * what restarts the WAL (new salts), so it happens while we watch.
   */
  bumpSeq(): void {
    this.#control.run(
      "INSERT INTO _litefleet_seq (id, seq) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET seq = seq + 1",
    );
  }

  /**
   * Makes the write that restarts a fully checkpointed WAL, on a connection
   * with `journal_size_limit = 0`, so SQLite truncates the `-wal` file to
   * what that write needs. If an application write restarts the WAL first,
   * this is an ordinary small write and the file keeps its size.
   */
  restartWal(): void {
    this.#control.exec("PRAGMA journal_size_limit = 0");
    try {
      this.bumpSeq();
    } finally {
      this.#control.exec("PRAGMA journal_size_limit = -1");
    }
  }

  /** Closes every connection and descriptor (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.endBarrier();
    this.releaseReadLock();
    this.#reader.close();
    this.#barrier.close();
    this.#control.close();
    closeSync(this.#walFd);
    closeSync(this.#dbFd);
    if (this.#shmFd !== undefined) closeSync(this.#shmFd);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
