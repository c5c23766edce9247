import { describe, expect, test } from "bun:test";
import { dbSummary, replicaSummary } from "../../test/harness/fleet-summaries.ts";
import type { DbSummary } from "../protocol/messages.ts";
import {
  compareStates,
  deviceHealth,
  FLEET_STATES,
  formatAge,
  isFleetState,
  stateRank,
  worstState,
  type DeviceHealth,
} from "./device-health.ts";

/** A healthy database with one healthy replica. */
const db = (overrides: Partial<DbSummary> = {}): DbSummary => dbSummary({ replicas: [replicaSummary()], ...overrides });

describe("the severity order", () => {
  test("is error, conflict, offline, stale, lagging, degraded, starting, pending, ok", () => {
    expect(FLEET_STATES).toEqual([
      "error",
      "conflict",
      "offline",
      "stale",
      "lagging",
      "degraded",
      "starting",
      "pending",
      "ok",
    ]);
    expect(FLEET_STATES.map(stateRank)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("every pair of states compares by it, both ways, and the worst of a pair is the earlier one", () => {
    const wrong: string[] = [];
    for (const [i, a] of FLEET_STATES.entries()) {
      for (const [j, b] of FLEET_STATES.entries()) {
        const c = compareStates(a, b);
        const expected = Math.sign(i - j);
        if (Math.sign(c) !== expected) wrong.push(`compareStates(${a}, ${b}) = ${c}`);
        if (worstState([a, b]) !== FLEET_STATES[Math.min(i, j)]) wrong.push(`worstState([${a}, ${b}])`);
      }
    }
    expect(wrong).toEqual([]);
    expect(worstState([], "starting")).toBe("starting");
    expect(isFleetState("stale")).toBe(true);
    expect(isFleetState("degraded ")).toBe(false);
    expect(isFleetState("toString")).toBe(false);
  });
});

describe("deviceHealth()", () => {
  test("derives each state from the status, worst first", () => {
    const cases: [string, Parameters<typeof deviceHealth>[0], DeviceHealth, string[]][] = [
      ["caught up", { online: true, dbs: [db()] }, "ok", []],
      [
        "pending within the RPO",
        { online: true, dbs: [db({ state: "pending", pendingFiles: 3, lagMs: 60_000 })] },
        "pending",
        [],
      ],
      ["no sync yet", { online: true, dbs: [db({ txid: null, state: "starting" })] }, "starting", []],
      ["no databases listed yet", { online: true, dbs: [] }, "starting", []],
      [
        "lag past the RPO",
        { online: true, dbs: [db({ state: "pending", pendingFiles: 1, lagMs: 31 * 60_000 })] },
        "lagging",
        ["'/data/app.db' is 31 min behind its replicas"],
      ],
      [
        "a full disk while captures go on",
        { online: true, dbs: [db({ diskFull: true })] },
        "degraded",
        ["'/data/app.db': a disk is full (batches wait for space)"],
      ],
      [
        "little disk space",
        { online: true, dbs: [db()], disk: { free: 40, total: 1000 } },
        "degraded",
        ["the disk has 4.0% free"],
      ],
      [
        "a failing replica, before the first sync",
        { online: true, dbs: [db({ txid: null, replicas: [replicaSummary({ lastError: "connect ECONNREFUSED" })] })] },
        "error",
        ["replica 's3' of '/data/app.db' fails: connect ECONNREFUSED"],
      ],
      [
        "a capture error on a full disk beats lagging",
        { online: true, dbs: [db({ diskFull: true, captureError: "SQLITE_FULL", lagMs: 40 * 60_000 })] },
        "error",
        ["capture of '/data/app.db' fails: SQLITE_FULL", "'/data/app.db' is 40 min behind its replicas"],
      ],
      [
        "another writer",
        { online: true, dbs: [db({ replicas: [replicaSummary({ conflict: "lineage 7f3a from host gw-09" })] })] },
        "conflict",
        ["replica 's3' of '/data/app.db' has another writer: lineage 7f3a from host gw-09"],
      ],
      [
        "another writer and a failing replica: the error first",
        {
          online: true,
          dbs: [
            db({
              replicas: [replicaSummary({ conflict: "lineage 7f3a" }), replicaSummary({ name: "b", lastError: "503" })],
            }),
          ],
        },
        "error",
        ["replica 'b' of '/data/app.db' fails: 503", "replica 's3' of '/data/app.db' has another writer: lineage 7f3a"],
      ],
      [
        "an older agent's error",
        { online: true, dbs: [db({ state: "error", lastError: "Cannot upload: 503", replicas: [] })] },
        "error",
        ["'/data/app.db' fails: Cannot upload: 503"],
      ],
      [
        "offline keeps the last data's problems",
        { online: false, dbs: [db({ replicas: [replicaSummary({ lastError: "timeout" })] })] },
        "offline",
        ["replica 's3' of '/data/app.db' fails: timeout"],
      ],
      ["offline with no data", { online: false, dbs: [] }, "offline", []],
      [
        "stale: online by its status, silent for 3 intervals",
        { online: true, stale: true, intervalMs: 20_000, dbs: [db({ lagMs: 40 * 60_000 })] },
        "stale",
        ["no status for over 1 min (3 status intervals)", "'/data/app.db' is 40 min behind its replicas"],
      ],
      [
        "stale with no data",
        { online: true, stale: true, dbs: [] },
        "stale",
        ["no status for over 3 min (3 status intervals)"],
      ],
      ["a Will is offline, not stale", { online: false, stale: true, dbs: [db()] }, "offline", []],
    ];
    expect(cases.map(([what, input]) => [what, deviceHealth(input)])).toEqual(
      cases.map(([what, input, state, problems]) => [
        what,
        {
          state,
          problems,
          dbs: input.dbs.map((d) => ({ path: d.path, state, problems })),
        },
      ]),
    );
  });

  test("one state per database; device-wide problems apply to each; the device is the worst", () => {
    const report = deviceHealth({
      online: true,
      disk: { free: 1, total: 100 },
      dbs: [
        db({ path: "/a.db" }),
        db({ path: "/b.db", replicas: [replicaSummary({ conflict: "x" })] }),
        db({ path: "/c.db", state: "pending", pendingFiles: 1, lagMs: 5 }),
      ],
    });
    expect(report.dbs).toEqual([
      { path: "/a.db", state: "degraded", problems: ["the disk has 1.0% free"] },
      {
        path: "/b.db",
        state: "conflict",
        problems: ["replica 's3' of '/b.db' has another writer: x", "the disk has 1.0% free"],
      },
      { path: "/c.db", state: "degraded", problems: ["the disk has 1.0% free"] },
    ]);
    expect(report.state).toBe("conflict");
    expect(report.problems).toEqual(["replica 's3' of '/b.db' has another writer: x", "the disk has 1.0% free"]);
  });

  test("the RPO is configurable", () => {
    expect(
      deviceHealth({ online: true, dbs: [db({ lagMs: 61_000 })] }, { rpoMs: 60_000, lowDiskFraction: 0 }).state,
    ).toBe("lagging");
    expect(
      deviceHealth(
        { online: true, dbs: [db({ lagMs: 60_000, pendingFiles: 1 })] },
        { rpoMs: 60_000, lowDiskFraction: 0 },
      ).state,
    ).toBe("pending");
  });
});

describe("formatAge()", () => {
  test("picks one unit", () => {
    expect([0, 59_999, 60_000, 3_599_999, 3_600_000, 47 * 3_600_000, 48 * 3_600_000, -5].map(formatAge)).toEqual([
      "0 s",
      "59 s",
      "1 min",
      "59 min",
      "1 h",
      "47 h",
      "2 d",
      "0 s",
    ]);
  });
});
