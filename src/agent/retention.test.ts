import { describe, expect, test } from "bun:test";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo } from "../replica/client.ts";
import { planRetention } from "./retention.ts";

const HOUR = 3_600_000;
function f(level: number, min: number, max: number, ageHours: number): LtxFileInfo {
  return {
    level,
    minTxid: txid(min),
    maxTxid: txid(max),
    size: 1000,
    createdAt: new Date(100 * HOUR - ageHours * HOUR),
  };
}

describe("planRetention", () => {
  test("keeps snapshots inside the window plus the newest older one, and everything above it", () => {
    const files = [
      f(9, 1, 10, 50),
      f(9, 1, 20, 30),
      f(9, 1, 30, 10),
      f(0, 1, 1, 60),
      f(0, 2, 10, 50),
      f(0, 11, 20, 30),
      f(0, 21, 25, 20),
      f(1, 11, 25, 20),
      f(0, 26, 30, 10),
      f(0, 31, 31, 1),
    ];
    const doomed = planRetention(files, { now: 100 * HOUR, retentionMs: 24 * HOUR });
    expect(doomed.map((x) => `${x.level}:${x.minTxid}-${x.maxTxid}`).sort()).toEqual([
      "0:1-1",
      "0:11-20",
      "0:2-10",
      "9:1-10",
    ]);
  });

  test("deletes nothing without snapshots, and nothing when every snapshot is young", () => {
    expect(planRetention([f(0, 1, 5, 100)], { now: 100 * HOUR, retentionMs: HOUR })).toEqual([]);
    expect(planRetention([f(9, 1, 5, 0.5), f(0, 1, 5, 0.5)], { now: 100 * HOUR, retentionMs: HOUR })).toEqual([]);
  });

  test("keeps young files below a young snapshot, and the state at the window's start", () => {
    // TXID 3 is what the database held 24 h ago (4-5 came later): still promised.
    const files = [f(0, 1, 2, 40), f(0, 3, 3, 30), f(0, 4, 5, 10), f(9, 1, 5, 5), f(0, 6, 6, 1)];
    expect(planRetention(files, { now: 100 * HOUR, retentionMs: 24 * HOUR })).toEqual([]);
    // Once a snapshot older than the window covers the start, the chain below it goes.
    const later = [f(9, 1, 3, 30), ...files];
    expect(planRetention(later, { now: 100 * HOUR, retentionMs: 24 * HOUR })).toEqual([f(0, 1, 2, 40), f(0, 3, 3, 30)]);
  });

  test("a snapshot taken inside a batch keeps the chain that reaches past it (issue #11)", () => {
    // Snapshot 1-60 falls inside the batch 5f-65; compactions 4d-65 and 20-65
    // straddle it too: nothing starts at 61, so the old chain must stay.
    const files = [
      f(0, 1, 1, 80),
      f(0, 2, 0x1f, 70),
      f(0, 0x20, 0x4c, 60),
      f(0, 0x4d, 0x5e, 50),
      f(9, 1, 0x60, 49),
      f(0, 0x5f, 0x65, 48),
      f(1, 0x4d, 0x65, 48),
      f(2, 0x20, 0x65, 48),
      f(0, 0x66, 0x6f, 1),
    ];
    const doomed = planRetention(files, { now: 100 * HOUR, retentionMs: 24 * HOUR });
    const kept = files.filter((x) => !doomed.includes(x));
    // The latest (0x6f) and the window's start (0x65) still restore, from 1-1.
    expect(kept).toContainEqual(f(0, 1, 1, 80));
    expect(kept).toContainEqual(f(2, 0x20, 0x65, 48));
    expect(kept).toContainEqual(f(0, 0x66, 0x6f, 1));
    expect(doomed.map((x) => `${x.level}:${x.minTxid.toString(16)}-${x.maxTxid.toString(16)}`).sort()).toEqual([
      "0:20-4c",
      "0:4d-5e",
      "0:5f-65",
      "1:4d-65",
      "9:1-60",
    ]);
  });

  test("a forward clock step that makes every file old keeps the latest restorable (issue #11)", () => {
    // Snapshot 1-15 sits inside the batch 11-20, so only 1-10 reaches 22.
    const files = [f(9, 1, 10, 30), f(0, 11, 20, 28), f(9, 1, 15, 26), f(0, 21, 22, 25)];
    const doomed = planRetention(files, { now: 100 * HOUR + 1000 * HOUR, retentionMs: 24 * HOUR });
    expect(doomed).toEqual([f(9, 1, 15, 26)]);
  });
});
