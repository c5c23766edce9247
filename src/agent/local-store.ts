/**
 * The agent's local state directory for one database (`.<db>-litefleet/`):
 *
 * ```
 * ltx/0/<min>-<max>.ltx   captured L0 files not yet known to every replica (the spool)
 * ltx/9/<min>-<max>.ltx   a level-9 snapshot waiting for upload
 * position.json           where capture stands in the WAL (see CapturePosition)
 * replicas/<name>.json    the last TXID each replica is known to hold
 * ```
 *
 * Every write is atomic; leftover `*.tmp` files from a crash are removed at open.
 *
 * @module
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatLtxFileName, parseLtxFileName } from "../ltx/file-name.ts";
import { parseTxid, formatTxid, type Txid } from "../ltx/txid.ts";
import { createAtomicFile, TEMP_SUFFIX, type AtomicFile } from "../platform/atomic-write.ts";
import type { LtxFileInfo } from "../replica/client.ts";
import { CorruptFileError } from "../errors.ts";

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
   * (checkpoint sequence + 1, salt1 + 1) continues the chain from offset 32.
   */
  readonly expectRestart: boolean;
}

/** What a replica is known to hold. */
export interface RemotePosition {
  /** Highest TXID uploaded (0 when none). */
  readonly maxTxid: Txid;
  /** Max TXID of the newest level-9 snapshot uploaded (0 when none). */
  readonly snapshotTxid: Txid;
  /** When that snapshot was made (Unix ms; 0 when none). */
  readonly snapshotTime: number;
}

/** See the module documentation. */
export class LocalStore {
  readonly dir: string;

  /** Opens (creating) the state directory and removes temp files left by a crash. */
  constructor(dir: string) {
    this.dir = dir;
    for (const sub of ["ltx/0", "ltx/9", "replicas"]) {
      mkdirSync(join(dir, sub), { recursive: true });
      for (const name of readdirSync(join(dir, sub))) {
        if (name.endsWith(TEMP_SUFFIX)) rmSync(join(dir, sub, name), { force: true });
      }
    }
  }

  /** Path of a local LTX file. */
  ltxPath(level: number, minTxid: Txid, maxTxid: Txid): string {
    return join(this.dir, "ltx", String(level), formatLtxFileName(minTxid, maxTxid));
  }

  /** Starts writing a local LTX file atomically. */
  createLtxFile(level: number, minTxid: Txid, maxTxid: Txid): AtomicFile {
    return createAtomicFile(this.ltxPath(level, minTxid, maxTxid));
  }

  /** Lists local LTX files of a level in ascending TXID order. */
  listLtxFiles(level: number): LtxFileInfo[] {
    const dir = join(this.dir, "ltx", String(level));
    const out: LtxFileInfo[] = [];
    for (const name of readdirSync(dir)) {
      const parsed = parseLtxFileName(name);
      if (!parsed) continue;
      const st = statSync(join(dir, name));
      out.push({ level, ...parsed, size: st.size, createdAt: st.mtime });
    }
    return out.sort((a, b) => (a.minTxid < b.minTxid ? -1 : a.minTxid > b.minTxid ? 1 : 0));
  }

  /** Reads a local LTX file. */
  readLtxFile(level: number, minTxid: Txid, maxTxid: Txid): Uint8Array {
    return readFileSync(this.ltxPath(level, minTxid, maxTxid));
  }

  /** Removes a local LTX file (missing is fine). */
  removeLtxFile(level: number, minTxid: Txid, maxTxid: Txid): void {
    rmSync(this.ltxPath(level, minTxid, maxTxid), { force: true });
  }

  /** Reads the capture position; `undefined` when there is none. */
  readPosition(): CapturePosition | undefined {
    const raw = this.#readJson("position.json");
    if (raw === undefined) return undefined;
    try {
      const r = raw as Record<string, unknown>;
      const sum = r.walChecksum as [number, number];
      return {
        txid: parseTxid(String(r.txid)),
        walOffset: num(r.walOffset),
        walChecksum: [num(sum[0]), num(sum[1])],
        salt1: num(r.salt1),
        salt2: num(r.salt2),
        checkpointSeq: num(r.checkpointSeq),
        pageSize: num(r.pageSize),
        commit: num(r.commit),
        postApplyChecksum: BigInt(`0x${String(r.postApplyChecksum)}`),
        expectRestart: r.expectRestart === true,
      };
    } catch (err) {
      throw new CorruptFileError(`Cannot read capture position: '${join(this.dir, "position.json")}' is malformed`, {
        path: join(this.dir, "position.json"),
        autoRecoverable: true,
        cause: err,
      });
    }
  }

  /** Persists the capture position atomically. */
  writePosition(pos: CapturePosition): void {
    this.#writeJson("position.json", {
      ...pos,
      txid: formatTxid(pos.txid),
      postApplyChecksum: pos.postApplyChecksum.toString(16).padStart(16, "0"),
    });
  }

  /** Forgets the capture position (the next sync takes a full snapshot). */
  clearPosition(): void {
    rmSync(join(this.dir, "position.json"), { force: true });
  }

  /** Reads what replica `name` is known to hold; `undefined` when never recorded. */
  readRemotePosition(name: string): RemotePosition | undefined {
    const rel = join("replicas", `${encodeURIComponent(name)}.json`);
    const raw = this.#readJson(rel) as Record<string, unknown> | undefined;
    if (raw === undefined) return undefined;
    try {
      return {
        maxTxid: parseTxid(String(raw.maxTxid)),
        snapshotTxid: parseTxid(String(raw.snapshotTxid)),
        snapshotTime: num(raw.snapshotTime),
      };
    } catch (err) {
      throw new CorruptFileError(`Cannot read replica position: '${join(this.dir, rel)}' is malformed`, {
        path: join(this.dir, rel),
        autoRecoverable: true,
        cause: err,
      });
    }
  }

  /** Records what replica `name` holds. */
  writeRemotePosition(name: string, pos: RemotePosition): void {
    this.#writeJson(join("replicas", `${encodeURIComponent(name)}.json`), {
      maxTxid: formatTxid(pos.maxTxid),
      snapshotTxid: formatTxid(pos.snapshotTxid),
      snapshotTime: pos.snapshotTime,
    });
  }

  #readJson(rel: string): unknown {
    let text: string;
    try {
      text = readFileSync(join(this.dir, rel), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new CorruptFileError(`Cannot read state file: '${join(this.dir, rel)}' is not JSON`, {
        path: join(this.dir, rel),
        autoRecoverable: true,
        cause: err,
      });
    }
  }

  #writeJson(rel: string, value: unknown): void {
    const f = createAtomicFile(join(this.dir, rel));
    try {
      f.write(new TextEncoder().encode(`${JSON.stringify(value, null, 1)}\n`));
      f.commit();
    } catch (err) {
      f.abort();
      throw err;
    }
  }
}

function num(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`Cannot read number: '${String(v)}' is not a non-negative integer`);
  }
  return v;
}
