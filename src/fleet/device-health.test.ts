import { describe, expect, test } from "bun:test";
import { dbSummary, replicaSummary } from "../../test/harness/fleet-summaries.ts";
import type { DbSummary } from "../protocol/messages.ts";
import { deviceHealth, formatAge, type DeviceHealth } from "./device-health.ts";

/** A healthy database with one healthy replica. */
const db = (overrides: Partial<DbSummary> = {}): DbSummary => dbSummary({ replicas: [replicaSummary()], ...overrides });

describe("deviceHealth()", () => {
  test("derives each state from the status, worst first", () => {
    const cases: [string, Parameters<typeof deviceHealth>[0], DeviceHealth, string[]][] = [
      ["caught up", { online: true, dbs: [db()] }, "ok", []],
      [
        "pending within the threshold",
        { online: true, dbs: [db({ state: "pending", pendingFiles: 3, lagMs: 60_000 })] },
        "ok",
        [],
      ],
      ["no sync yet", { online: true, dbs: [db({ txid: null, state: "starting" })] }, "starting", []],
      ["no databases listed yet", { online: true, dbs: [] }, "starting", []],
      [
        "lag above the threshold",
        { online: true, dbs: [db({ lagMs: 31 * 60_000 })] },
        "degraded",
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
        "a capture error on a full disk beats degraded",
        { online: true, dbs: [db({ diskFull: true, captureError: "SQLITE_FULL", lagMs: 40 * 60_000 })] },
        "error",
        ["capture of '/data/app.db' fails: SQLITE_FULL", "'/data/app.db' is 40 min behind its replicas"],
      ],
      [
        "another writer",
        { online: true, dbs: [db({ replicas: [replicaSummary({ conflict: "lineage 7f3a from host gw-09" })] })] },
        "error",
        ["replica 's3' of '/data/app.db' has another writer: lineage 7f3a from host gw-09"],
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
    ];
    expect(cases.map(([what, input]) => [what, deviceHealth(input)])).toEqual(
      cases.map(([what, , state, problems]) => [what, { state, problems }]),
    );
  });

  test("the lag threshold is configurable", () => {
    expect(
      deviceHealth({ online: true, dbs: [db({ lagMs: 61_000 })] }, { degradedLagMs: 60_000, lowDiskFraction: 0 }).state,
    ).toBe("degraded");
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
