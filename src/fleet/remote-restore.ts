/**
 * The remote `restore` command (docs/FLEET.md "Remote restore"): restores a
 * configured database to the latest state, a TXID or a time, either to
 * another path (inside `fleet.restore-dirs`) or into the live path, where
 * it must never corrupt or silently replace a database in use:
 *
 * 1. plan: the restore point exists; free space for the staged copy and a
 *    rollback copy;
 * 2. stage: restore into `.<db>-litefleet-staged` (every checksum verified,
 *    `integrity_check`), then run the health probe (`fleet.probe`) on it;
 * 3. quiesce: one sync while the application still runs, then create
 *    `<db>.litefleet-lock` — the contract: the application closes its
 *    connections while that file exists and reopens when it is gone — and
 *    wait (`fleet.quiesce-timeout`) until SQLite grants an exclusive lock,
 *    which it does only when no other process has the database open; then
 *    one more sync uploads the last pre-restore writes;
 * 4. swap: checkpoint, keep a rollback copy `.<db>-litefleet-rollback`,
 *    rename the staged file over the database, remove stale `-wal`/`-shm`,
 *    fsync;
 * 5. health: `quick_check` and the probe on the live path, before anything
 *    captured it; a failure puts the rollback copy back;
 * 6. commit: remove the lock, the rollback copy and the journal; the agent
 *    restarts on a reset local state, so replication continues as a new
 *    lineage: the next TXID above everything in the bucket holds the
 *    restored database whole, followed by a level-9 snapshot, and every
 *    older TXID still restores the history before the restore.
 *
 * The locked window is time-boxed (`swap-deadline.ts`): from the moment the
 * application let go, the last upload, the swap and the health check must
 * end within `fleet.swap-timeout`, or the restore rolls back (or stops
 * before the swap), removes the lock, and fails with code "swap-timeout".
 * Only the agent's restart after quiesce and the last upload wait for a
 * replica in that window, and the time-box aborts them; the agent's stops
 * in it upload nothing, and its restart after the swap (which reads the
 * bucket's position, as long as the bucket is down) runs after the lock is
 * gone. The command's deadline (its signal) bounds the same steps;
 * after the commit it bounds only the wait for the new lineage's upload.
 *
 * The staged copy's `-wal`/`-shm` (left by the probe) are removed, and a
 * restore that finished logs what it restored, to which TXID.
 *
 * The swap is journaled (`.<db>-litefleet-restore.json`: "staged",
 * "copied" once the rollback copy is complete, "swapped");
 * `recoverInterruptedRestore` runs at agent start and rolls an interrupted
 * restore back (or cleans up one that never touched the live file).
 *
 * @module
 */

import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { LocalStore } from "../agent/local-store.ts";
import type { Store } from "../agent/store.ts";
import type { DbConfig, FleetConfig } from "../config/schema.ts";
import { UsageError, errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { formatTxid, parseTxid, type Txid } from "../ltx/txid.ts";
import { atomicWrite, fsyncDir } from "../platform/atomic-write.ts";
import { systemClock } from "../platform/clock.ts";
import { failpoint } from "../platform/failpoint.ts";
import { openSqlConnection } from "../platform/sqlite.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { planRestore } from "../restore/planner.ts";
import { CommandError } from "./command-error.ts";
import { untilAborted, type CommandContext } from "./commands.ts";
import { startSwapDeadline, type SwapDeadline } from "./swap-deadline.ts";

/** The files a live restore uses next to the database. */
export function restoreFiles(dbPath: string): { lock: string; staged: string; rollback: string; journal: string } {
  const dir = dirname(dbPath);
  const base = basename(dbPath);
  return {
    lock: `${dbPath}.litefleet-lock`,
    staged: join(dir, `.${base}-litefleet-staged`),
    rollback: join(dir, `.${base}-litefleet-rollback`),
    journal: join(dir, `.${base}-litefleet-restore.json`),
  };
}

/** The journal: which step a live restore reached. */
interface Journal {
  readonly id: string;
  /** "copied": the rollback copy is complete; the rename may or may not have happened. */
  readonly step: "staged" | "copied" | "swapped";
}

/** What the restore needs from the agent. */
export interface RemoteRestoreDeps {
  readonly store: Store;
  readonly dbs: readonly DbConfig[];
  readonly fleet: FleetConfig;
  readonly log: Logger;
}

/**
 * Checks a `restore` command's arguments before it is accepted (nothing is
 * written): `db` configured, `txid` / `timestamp` well-formed, `output`
 * allowed (see `outputPath`).
 * @throws {UsageError} naming the bad argument
 */
export function checkRestoreArgs(
  deps: { readonly dbs: readonly Pick<DbConfig, "path">[]; readonly fleet: Pick<FleetConfig, "restoreDirs"> },
  args: Readonly<Record<string, unknown>>,
): void {
  const db = configuredDb(deps.dbs, args["db"]);
  restoreTarget(args);
  if (args["output"] !== undefined) outputPath(deps.fleet, db, args["output"]);
}

/**
 * Runs a `restore` command: `args.db` (a configured path), one of
 * `args.txid` / `args.timestamp` (default latest), optional `args.output`.
 * @throws {Error} with a message naming what stopped it; the live database is then as before
 */
export async function runRemoteRestore(
  deps: RemoteRestoreDeps,
  args: Readonly<Record<string, unknown>>,
  ctx: CommandContext,
): Promise<Record<string, unknown>> {
  const db = configuredDb(deps.dbs, args["db"]);
  const agent = deps.store.agents.find((a) => a.path === db.path);
  const client = agent?.uploaders[0]?.client;
  if (!client) throw new UsageError(`Cannot restore '${db.path}': it has no replica`);
  const target = restoreTarget(args);
  const files = restoreFiles(db.path);
  const { signal } = ctx;
  const log = deps.log.with({ db: db.path });

  // 1. Plan.
  const plan = await planRestore(client, target, { signal });
  const planBytes = plan.files.reduce((n, f) => n + f.size, 0);
  await ctx.progress("planned", { txid: formatTxid(plan.txid), files: plan.files.length, bytes: planBytes });
  const output = args["output"] === undefined ? undefined : outputPath(deps.fleet, db, args["output"]);
  checkFreeSpace(
    dirname(output ?? db.path),
    output ? planBytes : 2 * (fileSize(db.path) + fileSize(`${db.path}-wal`)) + planBytes,
  );

  // 2. Stage.
  const staged = output ?? files.staged;
  removeWithSideFiles(files.staged);
  const result = await applyRestorePlan(client, plan, { output: staged, signal });
  try {
    probe(staged, deps.fleet.probe);
  } catch (err) {
    removeWithSideFiles(staged);
    throw new Error(`${(err as Error).message} (on the staged copy); the live database was not changed`, {
      cause: err,
    });
  } finally {
    // The probe's read-only connection leaves them; the copy is complete without them.
    removeSideFiles(staged);
  }
  await ctx.progress("staged", { txid: formatTxid(result.txid), pages: result.pages });
  if (output) {
    log.info("database restored to another path", {
      output,
      txid: formatTxid(result.txid),
      pages: result.pages,
      command: ctx.body.id,
    });
    return { db: db.path, output, txid: formatTxid(result.txid), pages: result.pages, live: false };
  }

  // 3–6. Live swap, journaled; the application is locked out at most fleet.swap-timeout once it let go.
  const agentOf = () => deps.store.agents.find((a) => a.path === db.path);
  // Uploaded while the application still runs, so little is left for the locked window, and a
  // replica that fails now fails the restore before anything is locked.
  const before = agentOf();
  if (before) await untilAborted(before.syncNow(), signal);
  let lockedOut: SwapDeadline | undefined;
  let swapped = false;
  let rolledBack = false;
  let restarted: Promise<void>;
  try {
    signal.throwIfAborted();
    await writeJournal(files.journal, { id: ctx.body.id, step: "staged" });
    writeFileSync(files.lock, JSON.stringify({ command: ctx.body.id, since: new Date().toISOString() }));
    // Our agent's own connections hold SQLite locks too: stop it while waiting for the application.
    // Its stops upload nothing: the restart uploads under the time-box instead.
    const first = await deps.store.replaceDb(
      db.path,
      async () => {
        await waitForRelease(db.path, deps.fleet.quiesceTimeout, signal);
        lockedOut = startSwapDeadline(deps.fleet.swapTimeout, signal, db.path);
      },
      QUICK_STOP,
    );
    const locked = (lockedOut as SwapDeadline | undefined)?.signal ?? signal;
    // The restarted agent captured what the application wrote until it let go: upload it, or
    // the new lineage (which drops the local spool) would lose it.
    await untilAborted(
      first.started.then(() => first.agent.syncNow()),
      locked,
    );
    await untilAborted(ctx.progress("quiesced"), locked);
    const second = await deps.store.replaceDb(
      db.path,
      async () => {
        await waitForRelease(db.path, deps.fleet.quiesceTimeout, locked);
        // The last point where the command's deadline alone stops the restore untouched.
        locked.throwIfAborted();
        checkpointAndCopy(db.path, files.rollback);
        await writeJournal(files.journal, { id: ctx.body.id, step: "copied" });
        await replaceDatabase(files.staged, db.path);
        swapped = true;
        await writeJournal(files.journal, { id: ctx.body.id, step: "swapped" });
        failpoint("restore.after-swap");
        try {
          probe(db.path, deps.fleet.probe, "quick_check");
          locked.throwIfAborted();
        } catch (err) {
          // Nothing has captured the restored file yet: back in place, the agent's state fits it again.
          await replaceDatabase(files.rollback, db.path);
          rolledBack = true;
          throw err;
        }
        LocalStore.resetAfterRestore(db.metaPath);
      },
      QUICK_STOP,
    );
    restarted = second.started;
  } catch (err) {
    lockedOut?.[Symbol.dispose]();
    removeWithSideFiles(files.staged);
    rmSync(files.lock, { force: true });
    const intact = !swapped || rolledBack;
    // A rollback that itself failed is left to the next start (`recoverInterruptedRestore`).
    if (intact) {
      rmSync(files.rollback, { force: true });
      rmSync(files.journal, { force: true });
    }
    if (rolledBack)
      log.warn("restore rolled back", { txid: formatTxid(result.txid), command: ctx.body.id, err: errorMessage(err) });
    throw new Error(
      `${(err as Error).message}${
        !swapped
          ? "; the live database was not changed"
          : rolledBack
            ? "; rolled back to the database as it was before the restore"
            : "; the rollback failed too: the next agent start rolls it back"
      }`,
      { cause: err },
    );
  }
  lockedOut?.[Symbol.dispose]();
  // Committed: the application may reopen; the new lineage is uploaded meanwhile.
  rmSync(files.lock, { force: true });
  rmSync(files.rollback, { force: true });
  rmSync(files.journal, { force: true });
  await ctx.progress("swapped");
  await ctx.progress("healthy");
  try {
    await untilAborted(restarted, signal);
  } catch (err) {
    if (!signal.aborted)
      throw new Error(`The database was restored, but its replication did not restart: ${errorMessage(err)}`, {
        cause: err,
      });
  }
  const lineage = await snapshotUnlessLate(deps.store, db, signal, log);
  await ctx.progress("new-lineage", lineage ? { txid: formatTxid(lineage.txid), uploaded: lineage.uploaded } : {});
  const lineageTxid = agentOf()?.capture?.position?.txid;
  log.info("database restored", {
    txid: formatTxid(result.txid),
    pages: result.pages,
    command: ctx.body.id,
    ...(lineageTxid ? { lineageTxid: formatTxid(lineageTxid) } : {}),
  });
  return {
    db: db.path,
    txid: formatTxid(result.txid),
    pages: result.pages,
    live: true,
    ...(lineageTxid ? { lineageTxid: formatTxid(lineageTxid) } : {}),
  };
}

/** How a restore stops the agent: no final upload (the restart uploads under the time-box) and no handover tip. */
const QUICK_STOP = { timeoutMs: 0, handover: false, upload: false } as const;

/**
 * The new lineage's level-9 snapshot, waited for until the command's
 * deadline: past it, or when the replica fails meanwhile, the agent uploads
 * it in the background and the restore (already committed) goes on.
 */
async function snapshotUnlessLate(
  store: Store,
  db: DbConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<{ txid: Txid; uploaded: boolean } | undefined> {
  const agent = store.agents.find((a) => a.path === db.path);
  if (!agent) return undefined;
  try {
    return await untilAborted(agent.snapshotNow(), signal);
  } catch (err) {
    log.warn("restore: the new lineage is not uploaded yet; the agent uploads it in the background", {
      err: errorMessage(err),
    });
    return undefined;
  }
}

/** Removes `path`'s `-wal` and `-shm`. */
function removeSideFiles(path: string): void {
  for (const suffix of ["-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
}

/** Removes `path` and its `-wal` and `-shm`. */
function removeWithSideFiles(path: string): void {
  rmSync(path, { force: true });
  removeSideFiles(path);
}

/**
 * Finishes a live restore that a crash interrupted, before the agent opens
 * the database: a swap that happened (or may have) is rolled back from the
 * rollback copy; anything earlier is cleaned up. Returns what it did, or
 * undefined when there was nothing to recover.
 */
export async function recoverInterruptedRestore(
  db: DbConfig,
): Promise<{ id: string; outcome: "rolled-back" | "cleaned-up" } | undefined> {
  const files = restoreFiles(db.path);
  if (!existsSync(files.journal)) return undefined;
  let journal: Journal;
  try {
    journal = JSON.parse(readFileSync(files.journal, "utf8")) as Journal;
  } catch {
    // A torn journal is never written (atomic), so this is someone else's file: touch nothing live.
    journal = { id: "unknown", step: "staged" };
  }
  // The live file was replaced when the step says so, or when "copied" and the staged file is gone (renamed).
  const replaced = journal.step === "swapped" || (journal.step === "copied" && !existsSync(files.staged));
  let outcome: "rolled-back" | "cleaned-up" = "cleaned-up";
  if (replaced && existsSync(files.rollback)) {
    await replaceDatabase(files.rollback, db.path);
    rmSync(db.metaPath, { recursive: true, force: true });
    outcome = "rolled-back";
  }
  rmSync(files.rollback, { force: true });
  removeWithSideFiles(files.staged);
  rmSync(files.lock, { force: true });
  rmSync(files.journal, { force: true });
  return { id: journal.id, outcome };
}

function configuredDb<D extends Pick<DbConfig, "path">>(dbs: readonly D[], arg: unknown): D {
  if (typeof arg !== "string")
    throw new UsageError(`Cannot restore: 'db' must name a configured database (${dbs.map((d) => d.path).join(", ")})`);
  const db = dbs.find((d) => d.path === arg);
  if (!db)
    throw new UsageError(
      `Cannot restore '${arg}': it is not a configured database (${dbs.map((d) => d.path).join(", ")})`,
    );
  return db;
}

function restoreTarget(args: Readonly<Record<string, unknown>>): { txid?: Txid; timestamp?: Date } {
  const { txid, timestamp } = args;
  if (txid !== undefined && timestamp !== undefined)
    throw new UsageError("Cannot restore: give 'txid' or 'timestamp', not both");
  if (txid !== undefined) {
    if (typeof txid !== "string") throw new UsageError("Cannot restore: 'txid' must be a hex string");
    try {
      return { txid: parseTxid(txid) };
    } catch {
      throw new UsageError(`Cannot restore: 'txid' ${JSON.stringify(txid)} is not up to 16 hex digits`);
    }
  }
  if (timestamp !== undefined) return { timestamp: restoreTime(timestamp) };
  return {};
}

/** RFC 3339 `date-time` (section 5.6): full date, `T` (or `t`, space), time, `Z` or an offset. */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A restore `timestamp`: a number is Unix milliseconds (a non-negative
 * integer), a string an RFC 3339 time with its offset (docs/FLEET.md).
 * @throws {UsageError} naming the value otherwise
 */
function restoreTime(value: unknown): Date {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new UsageError(
        `Cannot restore: 'timestamp' ${value} is not a whole, non-negative number of Unix milliseconds`,
      );
    return new Date(value);
  }
  const t = typeof value === "string" && RFC3339_RE.test(value) ? new Date(value) : undefined;
  if (!t || Number.isNaN(t.getTime()))
    throw new UsageError(
      `Cannot restore: 'timestamp' ${JSON.stringify(value)} is neither Unix milliseconds (a number) nor an RFC 3339 time such as "2026-11-22T10:00:00Z"`,
    );
  return t;
}

/**
 * An output path must be absolute, lie inside one of `fleet.restore-dirs`
 * once symlinks are resolved (its directory must exist), and not exist —
 * not even as a dangling symlink, which a restore would otherwise follow
 * out of the allowed directories or replace.
 */
function outputPath(fleet: Pick<FleetConfig, "restoreDirs">, db: Pick<DbConfig, "path">, arg: unknown): string {
  if (typeof arg !== "string" || !isAbsolute(arg))
    throw new UsageError("Cannot restore: 'output' must be an absolute path");
  const out = resolve(arg);
  if (out === db.path)
    throw new UsageError("Cannot restore: 'output' is the live database; leave 'output' out to restore in place");
  let dir: string;
  try {
    dir = realpathSync(dirname(out));
  } catch {
    throw new UsageError(`Cannot restore to '${out}': its directory does not exist`);
  }
  const inside = (root: string) => {
    let real: string;
    try {
      real = realpathSync(root);
    } catch {
      return false;
    }
    return dir === real || dir.startsWith(real.endsWith(sep) ? real : real + sep);
  };
  if (!fleet.restoreDirs.some(inside)) {
    throw new UsageError(
      `Cannot restore to '${out}': it is not inside fleet.restore-dirs (${fleet.restoreDirs.join(", ") || "none configured"})`,
    );
  }
  const target = join(dir, basename(out));
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing?.isSymbolicLink())
    throw new UsageError(
      `Cannot restore to '${out}': it is a symbolic link (a restore never writes through or over one)`,
    );
  if (existing) throw new UsageError(`Cannot restore to '${out}': the file exists`);
  return target;
}

function fileSize(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

function checkFreeSpace(dir: string, needed: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed)
    throw new Error(`Cannot restore: ${free} bytes free in '${dir}', ${needed} needed (staged copy and rollback copy)`);
}

/** Runs `PRAGMA <check>` and the configured probe SQL on `path`; throws naming the failure. */
function probe(path: string, sql: string | undefined, check: "quick_check" | undefined = undefined): void {
  const conn = openSqlConnection(path, { readonly: true, busyTimeoutMs: 5000 });
  try {
    if (check) {
      const rows = conn.all<{ quick_check: string }>("PRAGMA quick_check").map((r) => r.quick_check);
      if (rows.join() !== "ok")
        throw new CommandError(`Cannot commit the restore: quick_check says ${rows.slice(0, 3).join("; ")}`, {
          code: "unhealthy",
        });
    }
    if (sql !== undefined) {
      try {
        conn.all(sql);
      } catch (err) {
        throw new CommandError(`Cannot commit the restore: the health probe failed: ${(err as Error).message}`, {
          code: "unhealthy",
          cause: err,
        });
      }
    }
  } finally {
    conn.close();
  }
}

/** Waits until SQLite grants an exclusive lock (no other process has the database open), or `signal` aborts. */
async function waitForRelease(path: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    const conn = openSqlConnection(path, { busyTimeoutMs: 0 });
    try {
      conn.exec("PRAGMA locking_mode = EXCLUSIVE");
      conn.exec("BEGIN EXCLUSIVE");
      conn.exec("COMMIT");
      return;
    } catch {
      // Someone still has it open.
    } finally {
      conn.close();
    }
    if (Date.now() >= deadline) {
      throw new CommandError(
        `Cannot restore '${path}': the application did not close the database within ${Math.round(timeoutMs / 1000)} s of '${path}.litefleet-lock' appearing`,
        {
          code: "quiesce-timeout",
        },
      );
    }
    await systemClock.sleep(200, signal);
  }
}

/** Folds the WAL into the database file, then copies it to `rollback` (fsynced). */
function checkpointAndCopy(path: string, rollback: string): void {
  const conn = openSqlConnection(path, { busyTimeoutMs: 5000 });
  try {
    conn.get("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    conn.close();
  }
  copyFileSync(path, rollback);
  const fd = openSync(rollback, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Renames `from` over `path`, removes `path`'s stale `-wal`/`-shm`, fsyncs the directory. */
async function replaceDatabase(from: string, path: string): Promise<void> {
  for (const suffix of ["-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
  renameSync(from, path);
  await fsyncDir(dirname(path));
}

async function writeJournal(path: string, journal: Journal): Promise<void> {
  await atomicWrite(path, Buffer.from(JSON.stringify(journal)));
}
