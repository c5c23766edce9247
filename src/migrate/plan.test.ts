import { describe, expect, test } from "bun:test";
import { CorruptFileError } from "../errors.ts";
import { NoRestorePointError } from "../restore/planner.ts";
import type { V3Listing, V3Snapshot, V3WalSegment } from "../litestream-v3/layout.ts";
import { planMigration } from "./plan.ts";

const G1 = "0000000000000001";
const G2 = "0000000000000002";
const snap = (generation: string, index: number, ms: number): V3Snapshot => ({
  generation,
  index,
  size: 1,
  createdAt: new Date(ms),
});
const seg = (generation: string, index: number, offset: number, ms: number): V3WalSegment => ({
  generation,
  index,
  offset,
  size: 1,
  createdAt: new Date(ms),
});
const listing = (snapshots: V3Snapshot[], segments: V3WalSegment[]): V3Listing => ({ snapshots, segments });
const opts = (history: boolean) => ({ history, location: "replica" });

describe("planMigration", () => {
  // G1: snapshot at 100 (index 0 segment 0 written just before it), two
  // more segments, a checkpoint (index 1), a later snapshot at index 1.
  const g1 = listing(
    [snap(G1, 0, 100), snap(G1, 1, 400)],
    [seg(G1, 0, 0, 99), seg(G1, 0, 32, 200), seg(G1, 0, 64, 300), seg(G1, 1, 0, 350), seg(G1, 1, 40, 500)],
  );

  test("latest only: the restore plan's snapshot and segments, one point", () => {
    const plan = planMigration(g1, opts(false));
    expect(plan.generations).toHaveLength(1);
    const g = plan.generations[0]!;
    expect(g.snapshot.index).toBe(1);
    expect(g.segments.map((s) => [s.index, s.offset])).toEqual([
      [1, 0],
      [1, 40],
    ]);
    expect(g.points).toEqual([{ after: 2, timestamp: 500 }]);
  });

  test("history: the first snapshot with the segments up to it, then one point per segment", () => {
    const g = planMigration(g1, opts(true)).generations[0]!;
    expect(g.snapshot).toEqual(snap(G1, 0, 100));
    expect(g.segments).toHaveLength(5);
    expect(g.points).toEqual([
      { after: 1, timestamp: 100 },
      { after: 2, timestamp: 200 },
      { after: 3, timestamp: 300 },
      { after: 4, timestamp: 350 },
      { after: 5, timestamp: 500 },
    ]);
  });

  test("history: timestamps never go backwards", () => {
    const l = listing([snap(G1, 0, 100)], [seg(G1, 0, 0, 150), seg(G1, 0, 32, 120), seg(G1, 0, 64, 300)]);
    expect(planMigration(l, opts(true)).generations[0]!.points.map((p) => p.timestamp)).toEqual([100, 150, 150, 300]);
  });

  test("history: generations end to end, oldest first", () => {
    const l = listing([snap(G2, 0, 1000), snap(G1, 0, 100)], [seg(G2, 0, 0, 1001), seg(G1, 0, 0, 200)]);
    const plan = planMigration(l, opts(true));
    expect(plan.generations.map((g) => g.generation)).toEqual([G1, G2]);
    expect(plan.skipped).toEqual([]);
  });

  test("history: skips a generation overlapping a newer one, and one without a snapshot", () => {
    const G3 = "0000000000000003";
    const l = listing(
      [snap(G1, 0, 100), snap(G2, 0, 150)],
      [seg(G1, 0, 0, 500), seg(G2, 0, 0, 400), seg(G3, 0, 0, 50)],
    );
    const plan = planMigration(l, opts(true));
    expect(plan.generations.map((g) => g.generation)).toEqual([G1]);
    expect(plan.skipped).toEqual([
      { generation: G2, reason: "its time range overlaps a newer generation" },
      { generation: G3, reason: "it has no snapshot" },
    ]);
  });

  test("ErrGap: a missing WAL index in a kept generation", () => {
    const l = listing([snap(G1, 0, 100)], [seg(G1, 0, 0, 200), seg(G1, 2, 0, 300)]);
    expect(() => planMigration(l, opts(true))).toThrow(CorruptFileError);
  });

  test("ErrEmpty: nothing to migrate", () => {
    expect(() => planMigration(listing([], []), opts(true))).toThrow(NoRestorePointError);
  });
});
