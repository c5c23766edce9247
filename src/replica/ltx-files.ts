/**
 * Free functions over a {@linkcode ReplicaClient} shared by restore,
 * verify, migrate and the CLI: every LTX file of a replica, and a name for
 * one of them in messages.
 *
 * @module
 */

import { formatLtxFileName } from "../ltx/file-name.ts";
import type { Txid } from "../ltx/txid.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type ReplicaClient, type SignalOptions } from "./client.ts";

/** Lists every LTX file of every level (0..9): in one listing where the backend can, else level by level. */
export async function listAllLtxFiles(client: ReplicaClient, options: SignalOptions = {}): Promise<LtxFileInfo[]> {
  const all: LtxFileInfo[] = [];
  if (client.listAllLevels) {
    for await (const f of client.listAllLevels(options)) all.push(f);
    return all;
  }
  for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
    for await (const f of client.listLtxFiles(level, options)) all.push(f);
  }
  return all;
}

/** A message-friendly name for one file of a replica. */
export function describe(
  client: Pick<ReplicaClient, "location">,
  f: LtxFileInfo | { level: number; minTxid: Txid; maxTxid: Txid },
): string {
  return `${client.location} level ${f.level} ${formatLtxFileName(f.minTxid, f.maxTxid)}`;
}
