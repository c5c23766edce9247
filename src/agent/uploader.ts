/**
 * Sends one database's local LTX files to one replica, in TXID order, and
 * keeps that replica's position locally so steady-state uploads need no
 * LIST. The position is re-read from the bucket only at start and after an
 * error that leaves it unknown.
 *
 * @module
 */

import { txid, type Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import { SNAPSHOT_LEVEL, type ReplicaClient } from "../replica/client.ts";
import type { LocalStore, RemotePosition } from "./local-store.ts";

/** What one upload pass did. */
export interface UploadResult {
  readonly files: number;
  readonly bytes: number;
  /** True when the replica is missing TXIDs the local spool no longer has. */
  readonly needsSnapshot: boolean;
}

/** See the module documentation. */
export class Uploader {
  readonly name: string;
  readonly client: ReplicaClient;
  #store: LocalStore;
  #log: Logger;
  #pos: RemotePosition | undefined;

  constructor(options: { name: string; client: ReplicaClient; store: LocalStore; log: Logger }) {
    this.name = options.name;
    this.client = options.client;
    this.#store = options.store;
    this.#log = options.log;
    this.#pos = options.store.readRemotePosition(options.name);
  }

  /** The replica's known position, if any. */
  get position(): RemotePosition | undefined {
    return this.#pos;
  }

  /**
   * Reads the replica's highest TXID from the bucket (LIST of levels 0 and
   * 9) and records it. Throws when the replica cannot be reached.
   */
  async refreshPosition(signal?: AbortSignal): Promise<RemotePosition> {
    await this.client.init(signal ? { signal } : {});
    let maxTxid = 0n;
    let snapshotTxid = 0n;
    let snapshotTime = 0;
    const remoteSizes = new Map<bigint, number>();
    for await (const f of this.client.listLtxFiles(0, signal ? { signal } : {})) {
      if (f.maxTxid > maxTxid) maxTxid = f.maxTxid;
      remoteSizes.set(f.minTxid, f.size);
    }
    // An upload cut off by a crash must not count as uploaded. S3 itself
    // never stores a partial PUT, but not every S3-compatible server is as
    // strict, so any file still in the spool whose remote copy is missing or
    // has another size is sent again (LTX files are immutable, so resending
    // is idempotent).
    for (const local of this.#store.listLtxFiles(0)) {
      if (local.maxTxid > maxTxid) break;
      if (remoteSizes.get(local.minTxid) !== local.size) {
        this.#log.warn("replica copy is missing or incomplete; uploading it again", {
          txid: local.minTxid.toString(16),
          size: remoteSizes.get(local.minTxid),
        });
        maxTxid = local.minTxid - 1n;
        break;
      }
    }
    for await (const f of this.client.listLtxFiles(SNAPSHOT_LEVEL, signal ? { signal } : {})) {
      if (f.maxTxid > maxTxid) maxTxid = f.maxTxid;
      if (f.maxTxid >= snapshotTxid) {
        snapshotTxid = f.maxTxid;
        snapshotTime = f.createdAt.getTime();
      }
    }
    this.#pos = { maxTxid: txid(maxTxid), snapshotTxid: txid(snapshotTxid), snapshotTime };
    this.#store.writeRemotePosition(this.name, this.#pos);
    return this.#pos;
  }

  /**
   * Uploads every pending level-9 snapshot and L0 file above the replica's
   * position, oldest first. On error the position is forgotten, so the next
   * pass re-reads it from the bucket.
   */
  async upload(signal?: AbortSignal): Promise<UploadResult> {
    const pos = this.#pos ?? (await this.refreshPosition(signal));
    let files = 0;
    let bytes = 0;
    let current = pos;
    try {
      for (const snap of this.#store.listLtxFiles(SNAPSHOT_LEVEL)) {
        if (snap.maxTxid <= current.snapshotTxid) continue;
        const body = this.#store.readLtxFile(SNAPSHOT_LEVEL, snap.minTxid, snap.maxTxid);
        await this.client.writeLtxFile(snap, body, { timestamp: snap.createdAt, ...(signal ? { signal } : {}) });
        files++;
        bytes += body.length;
        current = { ...current, snapshotTxid: snap.maxTxid, snapshotTime: snap.createdAt.getTime() };
        this.#setPosition(current);
        this.#log.info("snapshot uploaded", { txid: snap.maxTxid.toString(16), size: body.length });
      }
      let pending = this.#store.listLtxFiles(0).filter((f) => f.maxTxid > current.maxTxid);
      const first = pending[0];
      if (first && first.minTxid > current.maxTxid + 1n) {
        // The replica lacks TXIDs the spool no longer has. A snapshot at or
        // past the gap bridges it; the L0 chain continues after the snapshot.
        if (current.snapshotTxid + 1n < first.minTxid) return { files, bytes, needsSnapshot: true };
        pending = pending.filter((f) => f.minTxid > current.snapshotTxid);
        const next = pending[0];
        if (next && next.minTxid !== current.snapshotTxid + 1n) return { files, bytes, needsSnapshot: true };
        current = { ...current, maxTxid: current.snapshotTxid };
      }
      for (const f of pending) {
        const body = this.#store.readLtxFile(0, f.minTxid, f.maxTxid);
        await this.client.writeLtxFile(f, body, { timestamp: f.createdAt, ...(signal ? { signal } : {}) });
        files++;
        bytes += body.length;
        current = { ...current, maxTxid: f.maxTxid };
        this.#setPosition(current);
      }
    } catch (err) {
      this.#pos = undefined;
      throw err;
    }
    return { files, bytes, needsSnapshot: false };
  }

  #setPosition(pos: RemotePosition): void {
    this.#pos = pos;
    this.#store.writeRemotePosition(this.name, pos);
  }
}

/** The lowest TXID every uploader holds (local files at or below it can go). */
export function minUploadedTxid(uploaders: readonly Uploader[]): Txid {
  let min: bigint | undefined;
  for (const u of uploaders) {
    const m = u.position?.maxTxid ?? 0n;
    if (min === undefined || m < min) min = m;
  }
  return txid(min ?? 0n);
}
