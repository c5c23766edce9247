import { describe, expect, test } from "bun:test";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo } from "../replica/client.ts";
import { planRetention } from "./retention.ts";

const HOUR = 3_600_000;
function f(level: number, min: number, max: number, ageHours: number): LtxFileInfo {
  return { level, minTxid: txid(min), maxTxid: txid(max), size: 1, createdAt: new Date(100 * HOUR - ageHours * HOUR) };
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
    expect(doomed.map((x) => `${x.level}:${x.minTxid}-${x.maxTxid}`).sort()).toEqual(["0:1-1", "0:11-20", "0:2-10", "9:1-10"]);
  });

  test("deletes nothing without snapshots, and nothing when every snapshot is young", () => {
    expect(planRetention([f(0, 1, 5, 100)], { now: 100 * HOUR, retentionMs: HOUR })).toEqual([]);
    expect(planRetention([f(9, 1, 5, 0.5), f(0, 1, 5, 0.5)], { now: 100 * HOUR, retentionMs: HOUR })).toEqual([]);
  });

  test("keeps young files below a young snapshot: they are points inside the window", () => {
    const files = [f(0, 1, 3, 30), f(0, 4, 5, 10), f(9, 1, 5, 5), f(0, 6, 6, 1)];
    expect(planRetention(files, { now: 100 * HOUR, retentionMs: 24 * HOUR })).toEqual([f(0, 1, 3, 30)]);
  });
});
