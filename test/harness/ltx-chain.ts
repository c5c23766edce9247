/**
 * Writes a replica from database images: TXID 1 is a level-0 snapshot of
 * the first image, each later image becomes one level-0 file holding the
 * pages that changed (and every page the database grew by), with the LTX
 * timestamps given. For tests that need exact header timestamps or flags,
 * which the agent (`Date.now()` at capture) cannot give.
 *
 * @module
 */

import { lockPageNumber, PageChecksums } from "../../src/ltx/checksum.ts";
import { encodeLtxFile } from "../../src/ltx/encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "../../src/ltx/header.ts";
import { txid } from "../../src/ltx/txid.ts";
import type { ReplicaClient } from "../../src/replica/client.ts";

/** One state of the database and the LTX timestamp (Unix ms) of the file that reaches it. */
export interface ChainState {
  readonly image: Uint8Array;
  readonly timestamp: number;
}

/**
 * Writes `states` to `client` as TXIDs 1..n (see the module documentation).
 * `noChecksum` writes every file with the NoChecksum flag and zero checksums.
 */
export async function writeLtxChain(
  client: ReplicaClient,
  states: readonly ChainState[],
  options: { pageSize: number; noChecksum?: boolean },
): Promise<void> {
  const { pageSize } = options;
  const noChecksum = options.noChecksum === true;
  const lock = lockPageNumber(pageSize);
  const sums = new PageChecksums(pageSize);
  let prev: Uint8Array = new Uint8Array(0);
  for (const [i, state] of states.entries()) {
    const tx = txid(i + 1);
    const commit = state.image.length / pageSize;
    const prevCommit = prev.length / pageSize;
    const preApplyChecksum = i === 0 || noChecksum ? 0n : sums.databaseChecksum();
    const pages: Array<{ pgno: number; data: Uint8Array }> = [];
    for (let pgno = 1; pgno <= commit; pgno++) {
      if (pgno === lock) continue;
      const data = state.image.subarray((pgno - 1) * pageSize, pgno * pageSize);
      const old = pgno <= prevCommit ? prev.subarray((pgno - 1) * pageSize, pgno * pageSize) : undefined;
      if (i > 0 && old !== undefined && Buffer.compare(old, data) === 0) continue;
      pages.push({ pgno, data });
    }
    sums.truncate(commit);
    for (const { pgno, data } of pages) sums.set(pgno, data);
    const header = newLtxHeader({
      pageSize,
      commit,
      minTxid: tx,
      maxTxid: tx,
      timestamp: state.timestamp,
      preApplyChecksum,
      flags: noChecksum ? HEADER_FLAG_NO_CHECKSUM : 0,
    });
    const body = encodeLtxFile(header, pages, noChecksum ? 0n : sums.databaseChecksum());
    await client.writeLtxFile({ level: 0, minTxid: tx, maxTxid: tx }, body, { timestamp: new Date(state.timestamp) });
    prev = state.image;
  }
}
