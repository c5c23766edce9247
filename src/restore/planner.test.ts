import { describe, expect, test } from "bun:test";
import { encodeHeader, newLtxHeader } from "../ltx/header.ts";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { NoRestorePointError, planRestore } from "./planner.ts";

function f(level: number, min: number, max: number, at = 0): LtxFileInfo {
  return { level, minTxid: txid(min), maxTxid: txid(max), size: 100, createdAt: new Date(at) };
}
// Listings are passed in, so the client is only named in messages.
const client = { location: "test://replica" } as ReplicaClient;
const shape = (files: readonly LtxFileInfo[]) => files.map((x) => `${x.level}:${x.minTxid}-${x.maxTxid}`);

describe("planRestore", () => {
  test("takes the newest snapshot and the fewest files after it", async () => {
    const files = [f(0, 1, 1), f(0, 2, 5), f(0, 6, 9), f(1, 2, 9), f(9, 1, 5), f(0, 10, 12)];
    expect(shape((await planRestore(client, {}, { files })).files)).toEqual(["9:1-5", "0:6-9", "0:10-12"]);
    expect(shape((await planRestore(client, { txid: txid(9) }, { files })).files)).toEqual(["9:1-5", "0:6-9"]);
    expect(shape((await planRestore(client, { txid: txid(5) }, { files: files.filter((x) => x.level !== 9) })).files)).toEqual(["0:1-1", "0:2-5"]);
  });

  test("does not walk into a dead end a greedy choice would take", async () => {
    // L1 1..7 reaches furthest from 1 but nothing starts at 8; L0 batches do reach 12.
    const files = [f(0, 1, 1), f(1, 2, 7), f(0, 2, 4), f(0, 5, 9), f(0, 10, 12)];
    expect(shape((await planRestore(client, {}, { files })).files)).toEqual(["0:1-1", "0:2-4", "0:5-9", "0:10-12"]);
  });

  test("a gap before the target is an error naming the missing TXID", async () => {
    const files = [f(0, 1, 1), f(0, 2, 3), f(0, 5, 6)];
    await expect(planRestore(client, {}, { files })).rejects.toThrow(
      "the chain of files ends at 0000000000000003 (file 0000000000000004 is missing)",
    );
    await expect(planRestore(client, {}, { files: [f(0, 2, 3)] })).rejects.toBeInstanceOf(NoRestorePointError);
  });

  test("a timestamp picks the last file made at or before it, reading headers only when needed", async () => {
    // Objects are listed with their upload time; TXID 3 was captured at 2400
    // but uploaded at 3000, so only its header can tell that it fits.
    const files = [f(0, 1, 1, 1000), f(0, 2, 2, 2000), f(0, 3, 3, 3000), f(0, 4, 4, 3000)];
    const captured = new Map([[3n, 2400], [4n, 2600]]);
    const reads: bigint[] = [];
    const headerClient = {
      location: "test://replica",
      async readLtxFile(key: LtxFileInfo) {
        reads.push(key.minTxid);
        return encodeHeader(
          newLtxHeader({ pageSize: 4096, commit: 1, minTxid: key.minTxid, maxTxid: key.maxTxid, timestamp: captured.get(key.minTxid) ?? 0, preApplyChecksum: 1n << 63n }),
        );
      },
    } as unknown as ReplicaClient;
    const plan = await planRestore(headerClient, { timestamp: new Date(2500) }, { files });
    expect(plan.txid).toBe(txid(3));
    expect(reads.sort()).toEqual([3n, 4n]);
  });
});
