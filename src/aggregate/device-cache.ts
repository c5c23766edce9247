/**
 * The aggregator's local copy of each device's database, brought up to date
 * incrementally: `<cache>/<device>.db` plus `<device>.json` (the TXID it is
 * at and its LTX database checksum — the high-water mark).
 *
 * An update lists the device's replica; when its latest TXID is the cached
 * one, nothing is downloaded. Otherwise only the files after the cached TXID
 * are fetched and applied on top (each verified: pre-apply checksum against
 * the cached database, post-apply after). When no contiguous chain leads
 * from the cached TXID (retention removed it, or the cache does not match
 * its recorded checksum), the database is restored afresh. A crash mid-apply
 * leaves a copy that fails that checksum check next time and is rebuilt:
 * the cache is disposable, the replica is the truth.
 *
 * @module
 */

import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { hex64 } from "../ltx/header.ts";
import { formatTxid, parseTxid, type Txid } from "../ltx/txid.ts";
import { atomicWrite } from "../platform/atomic-write.ts";
import type { ReplicaClient } from "../replica/client.ts";
import { applyRestorePlan, ChainedDatabase } from "../restore/applier.ts";
import { chainFrom, listAllLtxFiles, planRestore } from "../restore/planner.ts";

/** The outcome of one device's update. */
export interface CacheUpdate {
  readonly path: string;
  /** TXID before (undefined: no cache) and after. */
  readonly from: Txid | undefined;
  readonly txid: Txid;
  /** How it was brought up to date. */
  readonly mode: "unchanged" | "incremental" | "full";
  /** LTX files downloaded and their bytes. */
  readonly files: number;
  readonly bytes: number;
}

/** The device's replica of the database holds no LTX files: the device has no such database, or never uploaded it. */
export class NoReplicaError extends Error {
  override name = "NoReplicaError";
  constructor(location: string) {
    super(`Cannot aggregate '${location}': it holds no LTX files (no replica of this database)`);
  }
}

interface CacheState {
  readonly txid: string;
  readonly checksum: string;
  readonly pageSize: number;
}

/**
 * Brings `<dir>/<device>.db` up to the replica's latest TXID.
 * @throws {NoReplicaError} when the replica holds no LTX files
 * @throws {NoRestorePointError} when the replica holds nothing restorable
 * @throws {CorruptFileError|ChecksumMismatchError} when a replica file does not verify
 */
export async function updateDeviceCache(client: ReplicaClient, dir: string, device: string): Promise<CacheUpdate> {
  const path = join(dir, `${device}.db`);
  const statePath = join(dir, `${device}.json`);
  const files = await listAllLtxFiles(client);
  if (files.length === 0) throw new NoReplicaError(client.location);
  const latest = files.reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n) as Txid;
  const state = readState(statePath, path);
  const from = state ? parseTxid(state.txid) : undefined;
  if (state && from === latest) return { path, from, txid: latest, mode: "unchanged", files: 0, bytes: 0 };

  const chain = state && from !== undefined && from < latest ? await chainFrom(files, from, latest) : undefined;
  if (state && chain) {
    const db = ChainedDatabase.fromFile(path, state.pageSize);
    if (hex64(db.checksum) === state.checksum) {
      const fd = openSync(path, "r+");
      try {
        for (const info of chain) await db.apply(client, info, fd, { first: false });
      } catch (err) {
        // Half applied: the recorded checksum no longer matches, so the next update rebuilds.
        closeSync(fd);
        rmSync(statePath, { force: true });
        throw err;
      }
      closeSync(fd);
      await writeState(statePath, { txid: formatTxid(latest), checksum: hex64(db.checksum), pageSize: db.pageSize });
      return {
        path,
        from,
        txid: latest,
        mode: "incremental",
        files: chain.length,
        bytes: chain.reduce((n, f) => n + f.size, 0),
      };
    }
  }

  const plan = await planRestore(client, {}, { files });
  const tmp = `${path}.rebuild`;
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${tmp}${suffix}`, { force: true });
  const result = await applyRestorePlan(client, plan, { output: tmp });
  rmSync(statePath, { force: true });
  renameSync(tmp, path);
  await writeState(statePath, {
    txid: formatTxid(result.txid),
    checksum: hex64(result.checksum),
    pageSize: result.pageSize,
  });
  return { path, from, txid: result.txid, mode: "full", files: result.files, bytes: result.bytes };
}

function readState(statePath: string, dbPath: string): CacheState | undefined {
  if (!existsSync(statePath) || !existsSync(dbPath)) return undefined;
  try {
    const s = JSON.parse(readFileSync(statePath, "utf8")) as CacheState;
    return typeof s.txid === "string" && typeof s.checksum === "string" && Number.isInteger(s.pageSize) ? s : undefined;
  } catch {
    return undefined;
  }
}

async function writeState(path: string, state: CacheState): Promise<void> {
  await atomicWrite(path, Buffer.from(JSON.stringify(state)));
}
