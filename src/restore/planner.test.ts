import { describe, expect, test } from "bun:test";
import { encodeHeader, newLtxHeader } from "../ltx/header.ts";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { HEADER_READ_CONCURRENCY, NoRestorePointError, planRestore, restorePoints } from "./planner.ts";

function f(level: number, min: number, max: number, at = 0): LtxFileInfo {
  return { level, minTxid: txid(min), maxTxid: txid(max), size: 1000, createdAt: new Date(at) };
}
// Listings are passed in, so the client is only named in messages.
const client = { location: "test://replica" } as ReplicaClient;
const shape = (files: readonly LtxFileInfo[]) => files.map((x) => `${x.level}:${x.minTxid}-${x.maxTxid}`);

describe("planRestore", () => {
  test("takes the newest snapshot and the fewest files after it", async () => {
    const files = [f(0, 1, 1), f(0, 2, 5), f(0, 6, 9), f(1, 2, 9), f(9, 1, 5), f(0, 10, 12)];
    expect(shape((await planRestore(client, {}, { files })).files)).toEqual(["9:1-5", "0:6-9", "0:10-12"]);
    expect(shape((await planRestore(client, { txid: txid(9) }, { files })).files)).toEqual(["9:1-5", "0:6-9"]);
    expect(
      shape((await planRestore(client, { txid: txid(5) }, { files: files.filter((x) => x.level !== 9) })).files),
    ).toEqual(["0:1-1", "0:2-5"]);
  });

  test("does not walk into a dead end a greedy choice would take", async () => {
    // L1 1..7 reaches furthest from 1 but nothing starts at 8; L0 batches do reach 12.
    const files = [f(0, 1, 1), f(1, 2, 7), f(0, 2, 4), f(0, 5, 9), f(0, 10, 12)];
    expect(shape((await planRestore(client, {}, { files })).files)).toEqual(["0:1-1", "0:2-4", "0:5-9", "0:10-12"]);
  });

  test("an object too small to be an LTX file (left by a failed upload) is planned around (chaos seed 53)", async () => {
    const empty = { ...f(1, 2, 9), size: 0 };
    const files = [f(0, 1, 1), f(0, 2, 5), f(0, 6, 9), empty];
    expect(shape((await planRestore(client, { txid: txid(9) }, { files })).files)).toEqual(["0:1-1", "0:2-5", "0:6-9"]);
  });

  test("a gap before the target is an error naming the missing TXID", async () => {
    const files = [f(0, 1, 1), f(0, 2, 3), f(0, 5, 6)];
    await expect(planRestore(client, {}, { files })).rejects.toThrow(
      "the chain of files ends at 0000000000000003 (file 0000000000000004 is missing)",
    );
    await expect(planRestore(client, {}, { files: [f(0, 2, 3)] })).rejects.toBeInstanceOf(NoRestorePointError);
  });

  /** A client whose headers carry the timestamps in `stamps` (by max TXID, per level), recording each read. */
  function stampedClient(stamps: (f: LtxFileInfo) => number) {
    const reads: string[] = [];
    const c = {
      location: "test://replica",
      async readLtxFile(key: LtxFileInfo) {
        reads.push(`${key.level}:${key.minTxid}-${key.maxTxid}`);
        return encodeHeader(
          newLtxHeader({
            pageSize: 4096,
            commit: 1,
            minTxid: key.minTxid,
            maxTxid: key.maxTxid,
            timestamp: stamps(key),
            preApplyChecksum: key.minTxid === 1n ? 0n : 1n << 63n,
          }),
        );
      },
    } as unknown as ReplicaClient;
    return { client: c, reads };
  }

  test("a timestamp picks the newest state whose header timestamp is at or before it, whatever the listing says (issue #11)", async () => {
    // Listed (LastModified) times are whole seconds, truncated: TXID 3 is
    // stamped 2465 but listed at 2000, before the target 2033.
    const files = [f(0, 1, 1, 1000), f(0, 2, 2, 1000), f(0, 3, 3, 2000), f(0, 4, 4, 3000)];
    const stamps = new Map([
      [1n, 1000],
      [2n, 1900],
      [3n, 2465],
      [4n, 3100],
    ]);
    const { client: c, reads } = stampedClient((k) => stamps.get(k.maxTxid) ?? 0);
    const plan = await planRestore(c, { timestamp: new Date(2033) }, { files });
    expect(plan.txid).toBe(txid(2));
    expect(plan.timestamp).toBe(1900);
    expect(reads.sort()).toEqual(["0:1-1", "0:2-2", "0:3-3", "0:4-4"]);
    expect((await planRestore(c, { timestamp: new Date(2465) }, { files })).txid).toBe(txid(3));
    await expect(planRestore(c, { timestamp: new Date(999) }, { files })).rejects.toThrow(
      "no LTX file at or before 1970-01-01T00:00:00.999Z",
    );
  });

  test("a timestamp dates a TXID by its earliest file, and any file may lead there", async () => {
    // The level-9 snapshot of TXID 3 was made at 5000, after the target, but
    // the state at TXID 3 (level 0, 3000) is before it: the snapshot is the shortest way there.
    const files = [f(0, 1, 1), f(0, 2, 2), f(0, 3, 3), f(0, 4, 4), f(9, 1, 3)];
    const { client: c } = stampedClient((k) => (k.level === 9 ? 5000 : Number(k.maxTxid) * 1000));
    const plan = await planRestore(c, { timestamp: new Date(3500) }, { files });
    expect(shape(plan.files)).toEqual(["9:1-3"]);
    expect(plan.timestamp).toBe(3000);
  });

  test("a timestamp reads headers newest TXID first, a bounded batch at a time", async () => {
    const files = Array.from({ length: 3 * HEADER_READ_CONCURRENCY }, (_, i) => f(0, i + 1, i + 1));
    const { client: c, reads } = stampedClient((k) => Number(k.maxTxid) * 1000);
    const newest = files.length;
    const plan = await planRestore(c, { timestamp: new Date((newest - 2) * 1000) }, { files });
    expect(plan.txid).toBe(txid(newest - 2));
    expect(reads.length).toBe(HEADER_READ_CONCURRENCY);
  });
  // Headers stamped 1000 ms per TXID: TXID 4 is 1970-01-01T00:00:04.000Z.
  const atTxid = (k: LtxFileInfo) => Number(k.maxTxid) * 1000;
  const reason = async (files: LtxFileInfo[], id: number): Promise<string> => {
    const err = await planRestore(stampedClient(atTxid).client, { txid: txid(id) }, { files }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRestorePointError);
    return (err as Error).message;
  };

  test("restorePoints() are the file ends a chain from a snapshot reaches", () => {
    expect(
      restorePoints([f(0, 1, 1), f(0, 2, 4), f(0, 5, 5), f(1, 2, 5), f(0, 7, 9), f(9, 1, 9), f(0, 10, 12)]),
    ).toEqual([1, 4, 5, 9, 12].map(txid));
    expect(restorePoints([f(0, 2, 4)])).toEqual([]);
  });

  test("a TXID inside a batch is not a restore point: the nearest ones below and above are named with their times, no repair is suggested", async () => {
    const msg = await reason([f(0, 1, 1), f(0, 2, 4), f(0, 5, 9), f(1, 2, 9)], 3);
    expect(msg).toBe(
      "Cannot restore TXID 0000000000000003 from 'test://replica': it is not a restore point: TXIDs 0000000000000002-0000000000000004 " +
        "were replicated together in one file (level 0), so the replica holds no state between them; the nearest restore points are " +
        "0000000000000001 (1970-01-01T00:00:01.000Z) and 0000000000000004 (1970-01-01T00:00:04.000Z): restore one of them with --txid",
    );
  });

  test("a TXID past the end names the latest restore point; with a gap before the end, the gap too", async () => {
    const files = [f(0, 1, 1), f(0, 2, 4), f(0, 5, 9)];
    expect(await reason(files, 0x20)).toBe(
      "Cannot restore TXID 0000000000000020 from 'test://replica': it is past the end of the replica; the latest restore point is " +
        "0000000000000009 (1970-01-01T00:00:09.000Z): restore it with --txid 0000000000000009, or leave out --txid for the latest state",
    );
    const broken = await reason([f(0, 1, 1), f(0, 2, 4), f(0, 6, 9)], 0x20);
    expect(broken).toContain(
      "the latest restore point is 0000000000000004 (1970-01-01T00:00:04.000Z); the chain of files ends there (file 0000000000000005 is missing",
    );
    expect(broken).toContain("repair the replica");
  });

  test("a TXID behind a real gap still reports the gap and says to repair the replica", async () => {
    // TXID 7 is a file end, but file 5 is missing; a later snapshot restores 12.
    const msg = await reason([f(0, 1, 1), f(0, 2, 4), f(0, 6, 7), f(9, 1, 12)], 7);
    expect(msg).toBe(
      "Cannot restore TXID 0000000000000007 from 'test://replica': the chain of files ends at 0000000000000004 (file 0000000000000005 is missing); " +
        "the nearest restore points are 0000000000000004 (1970-01-01T00:00:04.000Z) and, after the gap, 000000000000000c (1970-01-01T00:00:12.000Z): " +
        "restore one of them with --txid or repair the replica",
    );
  });

  test("a TXID older than the earliest snapshot kept names the earliest restore point", async () => {
    expect(await reason([f(9, 1, 8), f(0, 9, 9)], 3)).toBe(
      "Cannot restore TXID 0000000000000003 from 'test://replica': it is not a restore point: it is older than the replica's earliest " +
        "restore point 0000000000000008 (1970-01-01T00:00:08.000Z) (no snapshot at or before it is kept); restore --txid 0000000000000008 or later",
    );
  });
});
