import { describe, expect, test } from "bun:test";
import type { AgentStatus, DbStatus, ReplicaStatus } from "../protocol/agent-status.ts";
import { describeSyncWait, syncFailures, syncWithDeadline } from "./sync-report.ts";

function replica(overrides: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    name: "s3",
    type: "s3",
    location: "s3://fleet/gw-01/app.db",
    txid: "0000000000000000",
    snapshotTxid: "0000000000000000",
    snapshotTime: 0,
    pending: { files: 0, bytes: 0, oldestAt: null },
    lagMs: 0,
    metered: false,
    lastUploadAt: null,
    lastError: null,
    conflict: null,
    puts: 0,
    bytes: 0,
    lists: 0,
    deletes: 0,
    batches: 0,
    coalesced: 0,
    projectedPerMonth: { puts: 0, requests: 0, bytes: 0 },
    ...overrides,
  };
}

function status(dbs: Partial<DbStatus>[]): AgentStatus {
  return {
    version: 1,
    agent: "0.1.0",
    device: "gw-01",
    startedAt: 0,
    now: 1,
    dbs: dbs.map((d) => ({
      path: "/data/app.db",
      txid: "0000000000000001",
      pageSize: 4096,
      pages: 1,
      captureError: null,
      diskFull: false,
      replicas: [replica()],
      ...d,
    })),
    mqtt: null,
  };
}

const failing = status([
  {
    txid: null,
    replicas: [replica({ lastError: "Cannot reach 's3://fleet/gw-01/app.db': connect ECONNREFUSED 127.0.0.1:9" })],
  },
]);

describe("syncWithDeadline()", () => {
  test("answers 504 naming the failing replica when syncNow never returns", async () => {
    const answer = await syncWithDeadline({ status: () => failing, syncNow: () => new Promise<void>(() => {}) }, 50);
    expect(answer).toEqual({
      httpStatus: 504,
      body: {
        ok: false,
        timedOut: true,
        error:
          "Cannot sync within 0.1 s: replica 's3' of '/data/app.db' fails: Cannot reach 's3://fleet/gw-01/app.db': connect ECONNREFUSED 127.0.0.1:9",
        failures: [
          {
            db: "/data/app.db",
            replica: "s3",
            location: "s3://fleet/gw-01/app.db",
            error: "Cannot reach 's3://fleet/gw-01/app.db': connect ECONNREFUSED 127.0.0.1:9",
          },
        ],
      },
    });
  });

  test("answers 502 naming the replica when syncNow fails, and 200 with the status when it succeeds", async () => {
    const failed = await syncWithDeadline(
      { status: () => failing, syncNow: () => Promise.reject(new Error("connect ECONNREFUSED")) },
      5_000,
    );
    expect(failed.httpStatus).toBe(502);
    expect(failed.body["error"]).toBe(
      "Cannot sync: replica 's3' of '/data/app.db' fails: Cannot reach 's3://fleet/gw-01/app.db': connect ECONNREFUSED 127.0.0.1:9",
    );
    const bare = await syncWithDeadline(
      { status: () => status([{}]), syncNow: () => Promise.reject(new Error("Cannot sync: the agent is stopping")) },
      5_000,
    );
    expect(bare.body["error"]).toBe("Cannot sync: the agent is stopping");
    const ok = await syncWithDeadline({ status: () => status([{}]), syncNow: () => Promise.resolve() }, 5_000);
    expect(ok).toMatchObject({ httpStatus: 200, body: { ok: true, device: "gw-01" } });
  });
});

describe("describeSyncWait()", () => {
  test("without failures: what is still on its way", () => {
    const s = status([
      { txid: null },
      { path: "/data/b.db", replicas: [replica({ pending: { files: 3, bytes: 9, oldestAt: 0 } })] },
    ]);
    expect(describeSyncWait(s)).toBe(
      "capture of '/data/app.db' has not started (it waits for the database file to exist, or for its replicas' positions); replica 's3' of '/data/b.db' still has 3 file(s) to upload",
    );
    expect(describeSyncWait(s, ["/data/b.db"])).toBe("replica 's3' of '/data/b.db' still has 3 file(s) to upload");
    expect(describeSyncWait(status([{}]))).toBe("no replica reported an error");
    expect(syncFailures(status([{ captureError: "SQLITE_FULL", diskFull: true }]))).toEqual([
      { db: "/data/app.db", replica: null, location: null, error: "disk full: SQLITE_FULL" },
    ]);
  });
});
