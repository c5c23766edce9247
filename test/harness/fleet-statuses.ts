/**
 * A large fleet's retained statuses, generated (no agents): for tests and
 * measurements of the operator's views at 10,000 devices. Every device
 * gets what a real agent would leave on the broker — an online status
 * (birth / periodic), or its Will plus its retained telemetry — with a
 * fixed mix of states, spread over the ids so that sorting by id alone
 * would scatter the problems:
 *
 * | `i % 100` | what the device reports | expected state |
 * |---|---|---|
 * | 0 | a replica fails | `error` |
 * | 1 | a replica has another writer | `conflict` |
 * | 2 | its Will (connection lost, 6 h ago) and its last telemetry | `offline` |
 * | 3 | online, but its last status is 10 min old (interval 60 s) | `stale` |
 * | 4 | 5 h behind (pending) | `lagging` |
 * | 5 | a full disk | `degraded` |
 * | 6 | no sync yet | `starting` |
 * | 7–16 | changes pending, within the RPO | `pending` |
 * | otherwise | caught up | `ok` |
 *
 * Every 10th device (`i % 10 === 9`) has a second database (caught up, or
 * what the device as a whole says). Ids are `gw-00000`, `gw-00001`, …;
 * agent versions alternate between `0.1.0` and `0.2.0` (every third
 * device); each replica projects 43,200 requests and 1,491 MiB a month
 * (round figures of the order of the default policy's in docs/COSTS.md).
 *
 * @module
 */

import mqtt from "mqtt";
import type { DeviceHealth } from "../../src/fleet/device-health.ts";
import { encodeMessage, type DbSummary, type StatusMessage } from "../../src/protocol/messages.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";

/** One generated device: its retained messages and what the views must make of it. */
export interface GeneratedDevice {
  readonly id: string;
  readonly expected: DeviceHealth;
  readonly databases: number;
  readonly status: StatusMessage;
  /** The retained `tele` payload of an offline device (its last data), else null. */
  readonly tele: Record<string, unknown> | null;
}

const MIB = 1_048_576;
const PROJECTION = { requests: 43_200, bytes: 1_491 * MIB };

/** The device id of index `i`. */
export function generatedId(i: number): string {
  return `gw-${String(i).padStart(5, "0")}`;
}

/** The state the mix gives device `i` (see the module documentation). */
export function expectedState(i: number): DeviceHealth {
  const k = i % 100;
  if (k <= 6) return (["error", "conflict", "offline", "stale", "lagging", "degraded", "starting"] as const)[k]!;
  return k <= 16 ? "pending" : "ok";
}

function db(
  path: string,
  now: number,
  overrides: Partial<DbSummary> = {},
  replica: Partial<DbSummary["replicas"][number]> = {},
): DbSummary {
  return {
    path,
    txid: "00000000000004d2",
    state: "ok",
    pendingFiles: 0,
    pendingBytes: 0,
    lagMs: 0,
    lastUploadAt: now - 30_000,
    lastError: null,
    size: 8 * MIB,
    captureError: null,
    diskFull: false,
    replicas: [
      {
        name: "s3",
        lastError: null,
        conflict: null,
        lagMs: overrides.lagMs ?? 0,
        lastUploadAt: now - 30_000,
        projectedPerMonth: PROJECTION,
        ...replica,
      },
    ],
    ...overrides,
  };
}

/** The first database of device `i`, as its state asks. */
function firstDb(state: DeviceHealth, now: number): DbSummary {
  const path = "/var/lib/app/app.db";
  switch (state) {
    case "error":
      return db(
        path,
        now,
        { state: "error", lastError: "Cannot upload: HTTP 503" },
        { lastError: "Cannot upload: HTTP 503" },
      );
    case "conflict":
      return db(path, now, { state: "error" }, { conflict: "another writer's files (lineage 7f3a) in the prefix" });
    case "lagging":
      return db(path, now, { state: "pending", pendingFiles: 300, pendingBytes: 40 * MIB, lagMs: 5 * 3_600_000 });
    case "degraded":
      return db(path, now, { diskFull: true });
    case "starting":
      return db(path, now, { state: "starting", txid: null, size: null, lastUploadAt: null }, { lastUploadAt: null });
    case "pending":
      return db(path, now, { state: "pending", pendingFiles: 3, pendingBytes: 12_288, lagMs: 20_000 });
    default:
      return db(path, now);
  }
}

/** Generates `count` devices as of `now` (see the module documentation). */
export function generateFleet(count: number, now: number): GeneratedDevice[] {
  const out: GeneratedDevice[] = [];
  for (let i = 0; i < count; i++) {
    const id = generatedId(i);
    const expected = expectedState(i);
    const dbState = expected === "offline" || expected === "stale" ? "ok" : expected;
    const dbs = [firstDb(dbState, now)];
    if (i % 10 === 9) dbs.push(db("/var/lib/app/events.db", now));
    const agent = i % 3 === 0 ? "0.1.0" : "0.2.0";
    const disk = { free: (4 + (i % 8)) * 1024 * MIB, total: 32 * 1024 * MIB };
    if (expected === "offline") {
      const lostAt = now - 6 * 3_600_000;
      out.push({
        id,
        expected,
        databases: dbs.length,
        status: {
          v: 1,
          type: "status",
          device: id,
          online: false,
          session: 4,
          ts: lostAt - 86_400_000,
          reason: "lost",
          agent,
        },
        tele: {
          v: 1,
          type: "tele",
          version: 1,
          agent,
          device: id,
          startedAt: lostAt - 86_400_000,
          now: lostAt,
          mqtt: null,
          dbs: dbs.map((d) => ({
            path: d.path,
            txid: d.txid,
            pageSize: 4096,
            pages: 2048,
            captureError: null,
            diskFull: false,
            replicas: [
              {
                name: "s3",
                lastError: null,
                conflict: null,
                lagMs: 0,
                lastUploadAt: lostAt - 30_000,
                pending: { files: 0, bytes: 0, oldestAt: null },
                projectedPerMonth: { puts: 21_600, ...PROJECTION },
              },
            ],
          })),
        },
      });
      continue;
    }
    const ts = expected === "stale" ? now - 10 * 60_000 : now - (i % 50) * 1_000;
    out.push({
      id,
      expected,
      databases: dbs.length,
      status: {
        v: 1,
        type: "status",
        device: id,
        online: true,
        session: 4,
        ts,
        agent,
        startedAt: now - 86_400_000,
        dbs,
        disk,
        intervalMs: 60_000,
      },
      tele: null,
    });
  }
  return out;
}

/**
 * Publishes the devices' retained messages to the broker at `url` under
 * `root` with one connection, as agents do: statuses at QoS 1, telemetry at
 * QoS 0, 500 at a time.
 *
 * @returns how long it took (ms)
 */
export async function publishFleet(url: string, root: string, devices: readonly GeneratedDevice[]): Promise<number> {
  const started = performance.now();
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `fleet-gen-${process.pid}` });
  try {
    for (let i = 0; i < devices.length; i += 500) {
      await Promise.all(
        devices.slice(i, i + 500).flatMap((d) => {
          const topics = deviceTopics(root, d.id);
          return [
            ...(d.tele === null
              ? []
              : [client.publishAsync(topics.tele, JSON.stringify(d.tele), { qos: 0, retain: true })]),
            client.publishAsync(topics.status, encodeMessage(d.status), { qos: 1, retain: true }),
          ];
        }),
      );
    }
  } finally {
    await client.endAsync();
  }
  return performance.now() - started;
}
