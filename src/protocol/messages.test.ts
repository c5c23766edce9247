import { describe, expect, test } from "bun:test";
import type { AgentStatus, DbStatus, ReplicaStatus } from "./agent-status.ts";
import { MessageError, encodeMessage, parseReply, parseStatus, parseTelemetry, summarizeStatus } from "./messages.ts";

function replica(overrides: Partial<ReplicaStatus> & { conflict?: string | null } = {}): ReplicaStatus {
  return {
    name: "s3",
    type: "s3",
    location: "s3://fleet/gw-01/app.db",
    txid: "0000000000000004",
    snapshotTxid: "0000000000000001",
    snapshotTime: 1_000,
    pending: { files: 0, bytes: 0, oldestAt: null },
    lagMs: 0,
    metered: false,
    lastUploadAt: 2_000,
    lastError: null,
    conflict: null,
    puts: 4,
    bytes: 100,
    lists: 1,
    deletes: 0,
    batches: 4,
    coalesced: 0,
    projectedPerMonth: { puts: 1, requests: 2, bytes: 1 },
    ...overrides,
  };
}

function dbStatus(overrides: Partial<DbStatus> = {}): DbStatus {
  return {
    path: "/data/app.db",
    txid: "0000000000000004",
    pageSize: 4096,
    pages: 2,
    captureError: null,
    diskFull: false,
    replicas: [replica()],
    ...overrides,
  };
}

function agentStatus(dbs: DbStatus[]): AgentStatus {
  return { version: 1, agent: "0.1.0", device: "gw-01", startedAt: 500, now: 3_000, dbs, mqtt: null };
}

describe("summarizeStatus()", () => {
  test("a failing replica is an error also before the first sync; a writer conflict is an error", () => {
    const [starting, conflict, pending] = summarizeStatus(
      agentStatus([
        dbStatus({ txid: null, pages: null, replicas: [replica({ lastError: "connect ECONNREFUSED 127.0.0.1:9" })] }),
        dbStatus({ path: "/data/b.db", replicas: [replica({ conflict: "another lineage in the prefix" })] }),
        dbStatus({
          path: "/data/c.db",
          diskFull: true,
          replicas: [replica({ pending: { files: 2, bytes: 10, oldestAt: 1_000 }, lagMs: 2_000 })],
        }),
      ]),
    );
    expect(starting).toMatchObject({
      state: "error",
      lastError: "connect ECONNREFUSED 127.0.0.1:9",
      size: null,
      replicas: [{ name: "s3", lastError: "connect ECONNREFUSED 127.0.0.1:9", conflict: null }],
    });
    expect(conflict).toMatchObject({
      state: "error",
      lastError: null,
      replicas: [{ conflict: "another lineage in the prefix" }],
    });
    expect(pending).toMatchObject({ state: "pending", diskFull: true, pendingFiles: 2, lagMs: 2_000 });
  });
});

describe("parseStatus()", () => {
  test("keeps the per-replica fields, and reads an older agent's database without them", () => {
    const dbs = summarizeStatus(agentStatus([dbStatus({ captureError: "disk I/O error" })]));
    const msg = parseStatus(
      encodeMessage({ v: 1, type: "status", device: "gw-01", online: true, session: 3, ts: 3_000, dbs }),
    );
    expect(msg.dbs).toEqual(dbs);
    const old = {
      path: "/data/app.db",
      txid: "00000000000004d2",
      state: "ok" as const,
      pendingFiles: 0,
      pendingBytes: 0,
      lagMs: 0,
      lastUploadAt: 1,
      lastError: null,
      size: 8192,
    };
    expect(
      parseStatus(
        Buffer.from(
          JSON.stringify({ v: 1, type: "status", device: "gw-01", online: true, session: 1, ts: 1, dbs: [old] }),
        ),
      ).dbs,
    ).toEqual([{ ...old, captureError: null, diskFull: false, replicas: [] }]);
  });
});

describe("issue #15 fields", () => {
  test("the status carries each replica's monthly projection (all requests) and the status interval", () => {
    const dbs = summarizeStatus(
      agentStatus([dbStatus({ replicas: [replica({ projectedPerMonth: { puts: 40, requests: 90, bytes: 7 } })] })]),
    );
    expect(dbs[0]?.replicas[0]?.projectedPerMonth).toEqual({ requests: 90, bytes: 7 });
    const msg = parseStatus(
      encodeMessage({ v: 1, type: "status", device: "gw-01", online: true, session: 3, ts: 3, dbs, intervalMs: 5_000 }),
    );
    expect(msg.intervalMs).toBe(5_000);
    expect(msg.dbs?.[0]?.replicas[0]?.projectedPerMonth).toEqual({ requests: 90, bytes: 7 });
  });

  test("an older agent: no interval, no projection in its status; its telemetry's PUTs stand in for requests", () => {
    const old = { name: "s3", lastError: null, lagMs: 0, lastUploadAt: 1 };
    const msg = parseStatus(
      Buffer.from(
        JSON.stringify({
          v: 1,
          type: "status",
          device: "gw-01",
          online: true,
          session: 1,
          ts: 1,
          intervalMs: -1,
          dbs: [{ path: "/a.db", replicas: [old] }],
        }),
      ),
    );
    expect(msg.intervalMs).toBeUndefined();
    expect(msg.dbs?.[0]?.replicas[0]?.projectedPerMonth).toBeNull();
    const status = agentStatus([dbStatus()]);
    const oldTele = {
      ...status,
      dbs: status.dbs.map((d) => ({
        ...d,
        replicas: d.replicas.map((r) => ({ ...r, projectedPerMonth: { puts: 30, bytes: 9 } })),
      })),
    };
    const tele = parseTelemetry(Buffer.from(JSON.stringify({ v: 1, type: "tele", ...oldTele })));
    expect(tele.dbs[0]?.replicas[0]?.projectedPerMonth).toEqual({ requests: 30, bytes: 9 });
  });
});

describe("parseTelemetry()", () => {
  test("summarises the full status object like a status message, timed by its 'now'", () => {
    const status = agentStatus([dbStatus({ replicas: [replica({ lastError: "Cannot upload: 503" })] })]);
    const tele = parseTelemetry(Buffer.from(JSON.stringify({ v: 1, type: "tele", ...status })));
    expect(tele).toEqual({ device: "gw-01", ts: 3_000, agent: "0.1.0", dbs: summarizeStatus(status) });
  });

  test("rejects a payload that is not telemetry", () => {
    expect(() => parseTelemetry(Buffer.from(JSON.stringify({ v: 1, type: "status", device: "x" })))).toThrow(
      MessageError,
    );
    expect(() =>
      parseTelemetry(Buffer.from(JSON.stringify({ v: 1, type: "tele", device: "x", now: 1, dbs: [{}] }))),
    ).toThrow("Cannot parse tele message: 'path' must be a string");
  });
});

describe("parseReply()", () => {
  test("keeps the code, also one this reader does not know", () => {
    const base = { v: 1, type: "reply", device: "gw-01", id: "c0000001", ts: 1 };
    expect(
      parseReply(Buffer.from(JSON.stringify({ ...base, status: "failed", error: "x", code: "timeout" }))).code,
    ).toBe("timeout");
    expect(
      parseReply(Buffer.from(JSON.stringify({ ...base, status: "failed", error: "x", code: "from-the-future" }))).code,
    ).toBe("from-the-future");
    expect(parseReply(Buffer.from(JSON.stringify({ ...base, status: "failed", error: "x" }))).code).toBeUndefined();
  });
});
