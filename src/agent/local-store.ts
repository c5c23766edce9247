/**
 * The agent's local state directory for one database (`.<db>-litefleet/`):
 *
 * ```
 * ltx/0/<min>-<max>.ltx          captured L0 files (the spool)
 * ltx/9/<min>-<max>.ltx          a level-9 snapshot waiting for upload
 * position.json                  where capture stands in the WAL (CapturePosition)
 * pages.crc                      page checksums of the last captured state (PageChecksumFile)
 * replicas/<name>/state.json     what the replica holds (ReplicaState)
 * writers.json                   this state's writer IDs, newest last (see `beginWriterSession`)
 * takeover                       present after `litefleet takeover`: the next start continues
 *                                on top of whatever the replicas hold
 * replicas/<name>/ltx/<level>/   the replica's batches and compactions, kept
 *                                until compacted upward (no GETs on the device)
 * ```
 *
 * LTX files and `writers.json` are written atomically (temp file, rename);
 * `position.json` and `state.json` are rewritten in place with one write of
 * under a page, which a crash of the process never tears (a rename over
 * them cost more CPU than the rest of a capture, issue #13; see
 * `overwriteSmallFile`); `pages.crc` is updated in place and validated
 * before use. Leftover `*.tmp` files from a crash are removed once, at
 * `open`.
 *
 * Durability: a capture fsyncs only its LTX file and that file's directory
 * (`local-ltx.ts`). `position.json`, `pages.crc` and `state.json` are
 * written without fsync: each is written after the durable thing it
 * describes, so a power loss can only leave it stale, empty or missing,
 * never ahead, and each start checks it against something durable:
 * - `position.json` must name the newest local L0 file and the WAL and
 *   database must still match it (`DbCapture`); otherwise the first sync
 *   resyncs from the database (only the changed pages when `pages.crc`
 *   still records the newest file's state). An unreadable one counts as
 *   none.
 * - `state.json` is a cache of the replica's position: every start lists
 *   the replica (`Uploader.settle`) and rebuilds what a stale file misses;
 *   the files above a stale position carry this state's writer IDs, so the
 *   second-writer guard accepts them. An unreadable one counts as none.
 * - `writers.json` is fsynced (once per start): a writer ID must be on disk
 *   before any file carries it.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CorruptFileError, isDiskFull } from "../errors.ts";
import { formatTxid, parseTxid, txid, type Txid } from "../ltx/txid.ts";
import { createAtomicFile, overwriteSmallFile, sweepTempFiles } from "../platform/atomic-write.ts";
import { LtxDir } from "./ltx-dir.ts";
import { Spool } from "./spool.ts";
import { PAGE_CHECKSUM_FILE, PageChecksumFile } from "./page-checksum-file.ts";

/** Where capture stands: enough to resume reading the WAL exactly where it stopped. */
export interface CapturePosition {
  /** TXID of the last L0 file written. */
  readonly txid: Txid;
  /** Offset just past the last committed frame captured. */
  readonly walOffset: number;
  /** Cumulative WAL checksum of the frame ending at `walOffset`. */
  readonly walChecksum: readonly [number, number];
  readonly salt1: number;
  readonly salt2: number;
  readonly checkpointSeq: number;
  readonly pageSize: number;
  /** Database size in pages at `txid`. */
  readonly commit: number;
  /** LTX database checksum at `txid`. */
  readonly postApplyChecksum: bigint;
  /**
   * True after our own checkpoint captured every frame: the next WAL restart
   * (salt1 + 1) continues the chain from offset 32.
   */
  readonly expectRestart: boolean;
}

/** What one replica holds, and how far its local batches go. */
export interface ReplicaState {
  /** Highest max TXID uploaded at each level 0..9 (0 = none). */
  readonly uploaded: readonly Txid[];
  /** When the newest uploaded level-9 snapshot was made (Unix ms; 0 = none). */
  readonly snapshotTime: number;
  /** Highest TXID merged into a local batch (level-0 copy) for this replica. */
  readonly built: Txid;
}

/** A replica that holds nothing. */
export function emptyReplicaState(): ReplicaState {
  return { uploaded: Array.from({ length: 10 }, () => txid(0)), snapshotTime: 0, built: txid(0) };
}

/**
 * Writer IDs kept: the files of any session this state remembers count as
 * its own. Older ones can only be above the recorded position after that
 * many starts without a state write, which does not happen.
 */
const WRITER_IDS_KEPT = 8;

/** See the module documentation. */
export class LocalStore {
  readonly dir: string;
  /** Captured L0 files and pending level-9 snapshots. */
  readonly spool: Spool;
  /** Page checksums of the last captured state (for resyncs that send only changed pages). */
  readonly pageChecksums: PageChecksumFile;

  #writerId = 0n;
  /** `writers.json` as last read or written by this process. */
  #writerIds: bigint[] | undefined;

  /** Local copies per replica name (one object each: they keep their listing in memory). */
  #replicaDirs = new Map<string, LtxDir>();

  private constructor(dir: string) {
    this.dir = dir;
    this.spool = new Spool(dir);
    this.pageChecksums = new PageChecksumFile(join(dir, PAGE_CHECKSUM_FILE));
  }

  /**
   * Opens (creating) the state directory and removes the temp files a
   * crash left anywhere in it: the only sweep (no write path sweeps).
   */
  static open(dir: string): LocalStore {
    mkdirSync(dir, { recursive: true });
    sweepTempFiles(dir);
    return new LocalStore(dir);
  }

  /**
   * The writer ID of this process's session (0 before `beginWriterSession`):
   * the node ID of every LTX file it writes.
   */
  get writerId(): bigint {
    return this.#writerId;
  }

  /**
   * Starts a writer session: a new random 64-bit writer ID, recorded in
   * `writers.json` before any file carries it. A new one per start, so two
   * devices that booted the same cloned state tell their files apart: each
   * sees the other's newest files as written by someone else.
   */
  beginWriterSession(): bigint {
    let id = 0n;
    while (id === 0n) id = randomBytes(8).readBigUInt64BE();
    const known = this.writerIds();
    const ids = [...known, id].slice(-WRITER_IDS_KEPT);
    try {
      writeJson(join(this.dir, "writers.json"), { ids: ids.map((v) => v.toString(16).padStart(16, "0")) });
      this.#writerIds = ids;
    } catch (err) {
      // A full disk must not keep the agent from starting: this session
      // goes on with the newest recorded ID (or none), which later starts
      // still know as ours; only telling clones apart waits for a new one.
      if (!isDiskFull(err)) throw err;
      id = known.at(-1) ?? 0n;
    }
    this.#writerId = id;
    return id;
  }

  /**
   * Every writer ID this state remembers (its own sessions). Read from
   * `writers.json` once; only `beginWriterSession` changes it.
   */
  writerIds(): bigint[] {
    if (this.#writerIds) return this.#writerIds;
    const path = join(this.dir, "writers.json");
    const raw = readJson(path) as { ids?: unknown } | undefined;
    this.#writerIds =
      raw === undefined ? [] : malformedAs(path, () => (raw.ids as unknown[]).map((v) => BigInt(`0x${String(v)}`)));
    return this.#writerIds;
  }

  /**
   * Marks this state for a takeover (`litefleet takeover`, a live restore):
   * the next start continues on top of whatever the replicas hold, without
   * the second-writer check of their history.
   */
  static requestTakeover(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "takeover"), `${new Date().toISOString()}\n`);
  }

  /**
   * After a database was restored in place: its local state described the
   * database before (drop it), and the restored one continues on top of the
   * replica's history (a takeover).
   */
  static resetAfterRestore(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    LocalStore.requestTakeover(dir);
  }

  /** True while a takeover is requested (see `requestTakeover`). */
  takeoverRequested(): boolean {
    return existsSync(join(this.dir, "takeover"));
  }

  /** Ends a takeover once every replica's state was recorded from the replica. */
  clearTakeover(): void {
    rmSync(join(this.dir, "takeover"), { force: true });
  }

  /** The local copies of replica `name`. */
  replicaDir(name: string): LtxDir {
    let dir = this.#replicaDirs.get(name);
    if (!dir) {
      dir = new LtxDir(join(this.dir, "replicas", encodeURIComponent(name)));
      this.#replicaDirs.set(name, dir);
    }
    return dir;
  }

  /**
   * Reads the capture position; `undefined` when there is none, or when
   * the file cannot be read as one (torn by a power loss: it is written
   * without fsync; see the module documentation).
   */
  readPosition(): CapturePosition | undefined {
    const path = join(this.dir, "position.json");
    const raw = orUndefinedIfMalformed(() => readJson(path)) as Record<string, unknown> | undefined;
    if (raw === undefined) return undefined;
    return orUndefinedIfMalformed(() =>
      malformedAs(path, () => {
        const sum = raw.walChecksum as [number, number];
        return {
          txid: parseTxid(String(raw.txid)),
          walOffset: num(raw.walOffset),
          walChecksum: [num(sum[0]), num(sum[1])],
          salt1: num(raw.salt1),
          salt2: num(raw.salt2),
          checkpointSeq: num(raw.checkpointSeq),
          pageSize: num(raw.pageSize),
          commit: num(raw.commit),
          postApplyChecksum: BigInt(`0x${String(raw.postApplyChecksum)}`),
          expectRestart: raw.expectRestart === true,
        };
      }),
    );
  }

  /** Records the capture position: rewritten in place, not fsynced (see the module documentation). */
  writePosition(pos: CapturePosition): void {
    writeJsonCache(join(this.dir, "position.json"), {
      ...pos,
      txid: formatTxid(pos.txid),
      postApplyChecksum: pos.postApplyChecksum.toString(16).padStart(16, "0"),
    });
  }

  /** Forgets the capture position and the page checksums (the next sync takes a full snapshot). */
  clearPosition(): void {
    rmSync(join(this.dir, "position.json"), { force: true });
    this.pageChecksums.remove();
  }

  /**
   * Reads what replica `name` holds; `undefined` when never recorded, or
   * when the file cannot be read as a state (torn by a power loss: it is
   * written without fsync, and `Uploader.settle` rebuilds it from the
   * replica).
   */
  readReplicaState(name: string): ReplicaState | undefined {
    const path = join(this.replicaDir(name).root, "state.json");
    const raw = orUndefinedIfMalformed(() => readJson(path)) as Record<string, unknown> | undefined;
    if (raw === undefined) return undefined;
    return orUndefinedIfMalformed(() =>
      malformedAs(path, () => {
        const uploaded = (raw.uploaded as unknown[]).map((v) => parseTxid(String(v)));
        if (uploaded.length !== 10) throw new RangeError("uploaded must list levels 0..9");
        return { uploaded, snapshotTime: num(raw.snapshotTime), built: parseTxid(String(raw.built)) };
      }),
    );
  }

  /** Records what replica `name` holds: rewritten in place, not fsynced (see the module documentation). */
  writeReplicaState(name: string, state: ReplicaState): void {
    const root = this.replicaDir(name).root;
    const path = join(root, "state.json");
    const value = {
      uploaded: state.uploaded.map(formatTxid),
      snapshotTime: state.snapshotTime,
      built: formatTxid(state.built),
    };
    try {
      writeJsonCache(path, value);
    } catch (err) {
      // The directory is made on the first write, not checked on every one (issue #13).
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      mkdirSync(root, { recursive: true });
      writeJsonCache(path, value);
    }
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return malformedAs(path, () => JSON.parse(text) as unknown);
}

function writeJson(path: string, value: unknown): void {
  const f = createAtomicFile(path);
  try {
    f.write(new TextEncoder().encode(`${JSON.stringify(value, null, 1)}\n`));
    f.commit();
  } catch (err) {
    f.abort();
    throw err;
  }
}

/**
 * Writes a state file that a start can do without: rewritten in place,
 * padded with spaces, no fsync (see the module documentation and
 * `overwriteSmallFile`).
 */
function writeJsonCache(path: string, value: unknown): void {
  overwriteSmallFile(path, new TextEncoder().encode(`${JSON.stringify(value, null, 1)}\n`), 0x20);
}

/** Runs `read`; a malformed file (CorruptFileError) reads as none. */
function orUndefinedIfMalformed<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof CorruptFileError) return undefined;
    throw err;
  }
}

/** Runs `read`, turning any failure into a CorruptFileError naming `path`. */
function malformedAs<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new CorruptFileError(`Cannot read state file '${path}': it is malformed (${String(err)})`, {
      path,
      autoRecoverable: true,
      cause: err,
    });
  }
}

function num(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`'${String(v)}' is not a non-negative integer`);
  }
  return v;
}
