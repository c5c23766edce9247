import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { dbSummary as db, replicaSummary as replica } from "../../test/harness/fleet-summaries.ts";
import { startMqttBroker, type MqttBroker } from "../../test/harness/mqtt-broker.ts";
import { encodeMessage, type EventMessage, type StatusMessage } from "../protocol/messages.ts";
import { DEFAULT_TOPIC_ROOT, deviceTopics } from "../protocol/topics.ts";
import { FleetView, type FleetChange } from "./fleet-view.ts";

const ROOT = DEFAULT_TOPIC_ROOT;

function status(device: string, overrides: Partial<StatusMessage> = {}): StatusMessage {
  return {
    v: 1,
    type: "status",
    device,
    online: true,
    session: 1,
    ts: 1_000,
    agent: "litefleet/0.1.0",
    dbs: [db()],
    ...overrides,
  };
}

function event(device: string, id: string): EventMessage {
  return { v: 1, type: "event", device, id, ts: 1_000, event: "snapshot.written", data: {} };
}

/** Resolves once `cond()` holds, checking after every change of `view` (10 s limit). */
function waitFor(view: FleetView, cond: () => boolean, what: string): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`Timed out waiting for ${what}: ${JSON.stringify(view.devices())}`));
    }, 10_000);
    const off = view.onChange(() => {
      if (!cond()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

let broker: MqttBroker;
beforeAll(async () => {
  broker = await startMqttBroker();
});
afterAll(async () => {
  await broker.stop();
});

/**
 * A watcher client and a publisher client. Each test uses its own topic root,
 * so no test sees another's retained messages.
 */
async function setup() {
  const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const publish = (topic: string, payload: string | Buffer, retain = true) =>
    publisher.publishAsync(topic, payload, { qos: 1, retain });
  return {
    watcher,
    publisher,
    publish,
    async [Symbol.asyncDispose]() {
      await publisher.endAsync();
      await watcher.endAsync();
    },
  };
}

/** The next message on `topic` that `client` receives. */
function nextMessage(client: MqttClient, topic: string): Promise<void> {
  return new Promise((resolve) => {
    client.on("message", (t) => {
      if (t === topic) resolve();
    });
  });
}

describe("FleetView", () => {
  test("devices() lists retained statuses problems first, one row per database, with derived fields", async () => {
    const root = `${ROOT}-sorted`;
    await using t = await setup();
    for (const id of ["dev-c", "dev-a", "dev-b"])
      await t.publish(deviceTopics(root, id).status, encodeMessage(status(id)));
    await t.publish(
      deviceTopics(root, "dev-b").status,
      encodeMessage(
        status("dev-b", {
          session: 3,
          ts: 5_000,
          intervalMs: 10_000,
          disk: { free: 500, total: 1000 },
          dbs: [
            db({
              path: "/a.db",
              state: "pending",
              pendingFiles: 2,
              pendingBytes: 100,
              lagMs: 3_000,
              lastUploadAt: 4_000,
              replicas: [replica({ projectedPerMonth: { requests: 100, bytes: 2_000 } })],
            }),
            db({
              path: "/b.db",
              state: "error",
              pendingFiles: 1,
              pendingBytes: 50,
              lagMs: 9_000,
              lastUploadAt: 2_000,
              lastError: "Cannot upload: 503",
              replicas: [
                replica({ lastError: "Cannot upload: 503", projectedPerMonth: { requests: 10, bytes: 20 } }),
                replica({ name: "b", projectedPerMonth: { requests: 1, bytes: 2 } }),
              ],
            }),
            db({ path: "/c.db", state: "starting", txid: null, lastUploadAt: null }),
          ],
        }),
      ),
    );

    const view = await FleetView.open(t.watcher, { root, now: () => 6_000 });
    await waitFor(view, () => view.device("dev-b")?.session === 3, "dev-b session 3");
    expect(view.devices().map((d) => d.device)).toEqual(["dev-b", "dev-a", "dev-c"]);
    const devB = view.devices()[0];
    expect({ ...devB, dbs: devB?.dbs.length }).toEqual({
      device: "dev-b",
      state: "error",
      problems: ["replica 's3' of '/b.db' fails: Cannot upload: 503"],
      online: true,
      reason: null,
      session: 3,
      lastSeen: 5_000,
      heardAt: 5_000,
      stale: false,
      intervalMs: 10_000,
      disk: { free: 500, total: 1000 },
      projectedPerMonth: { requests: 111, bytes: 2_022 },
      rows: [
        {
          db: "/b.db",
          state: "error",
          problems: ["replica 's3' of '/b.db' fails: Cannot upload: 503"],
          txid: "0000000000000001",
          lagMs: 9_000,
          pendingFiles: 1,
          pendingBytes: 50,
          lastUploadAt: 2_000,
          size: 4096,
          projectedPerMonth: { requests: 11, bytes: 22 },
        },
        {
          db: "/c.db",
          state: "starting",
          problems: [],
          txid: null,
          lagMs: 0,
          pendingFiles: 0,
          pendingBytes: 0,
          lastUploadAt: null,
          size: 4096,
          projectedPerMonth: null,
        },
        {
          db: "/a.db",
          state: "pending",
          problems: [],
          txid: "0000000000000001",
          lagMs: 3_000,
          pendingFiles: 2,
          pendingBytes: 100,
          lastUploadAt: 4_000,
          size: 4096,
          projectedPerMonth: { requests: 100, bytes: 2_000 },
        },
      ],
      dataAt: 5_000,
      agent: "litefleet/0.1.0",
      dbs: 3,
      dbState: "error",
      maxLagMs: 9_000,
      pendingFiles: 3,
      pendingBytes: 150,
      lastUploadAt: 4_000,
      lastError: "Cannot upload: 503",
    });
    expect(view.device("dev-a")).toMatchObject({ state: "ok", rows: [{ db: "/data/app.db", state: "ok" }] });
    expect(view.size).toBe(3);
    expect(view.summary()).toMatchObject({
      at: 6_000,
      devices: 3,
      databases: 5,
      states: { error: 1, ok: 2 },
      dbStates: { error: 1, starting: 1, pending: 1, ok: 2 },
      oldestData: { device: "dev-a", ageMs: 5_000 },
      projectedPerMonth: { requests: 111, bytes: 2_022, devices: 1 },
    });
    await view.close();
  });

  test("stale: an online device silent for 3 status intervals, on an injected clock; a live status ends it", async () => {
    const root = `${ROOT}-staleness`;
    await using t = await setup();
    let now = 100_000;
    // Retained: heard at their own ts (at most now). dev-old reports no interval: 60 s is assumed.
    await t.publish(
      deviceTopics(root, "dev-fast").status,
      encodeMessage(status("dev-fast", { ts: 99_000, intervalMs: 10_000 })),
    );
    await t.publish(deviceTopics(root, "dev-old").status, encodeMessage(status("dev-old", { ts: 99_000 })));
    await t.publish(
      deviceTopics(root, "dev-future").status,
      encodeMessage(status("dev-future", { ts: 10_000_000, intervalMs: 10_000 })),
    );
    await t.publish(
      deviceTopics(root, "dev-will").status,
      encodeMessage(status("dev-will", { online: false, reason: "lost", ts: 1, dbs: [] })),
    );
    const view = await FleetView.open(t.watcher, { root, now: () => now, staleCheckMs: 0 });
    const changes: FleetChange[] = [];
    view.onChange((c) => changes.push(c));
    await waitFor(view, () => view.size === 4, "four devices");
    expect(view.device("dev-future")?.heardAt).toBe(100_000);
    const states = () => Object.fromEntries(view.devices().map((d) => [d.device, d.state]));
    expect(states()).toEqual({ "dev-will": "offline", "dev-fast": "ok", "dev-future": "ok", "dev-old": "ok" });

    now = 99_000 + 30_000; // exactly 3 intervals of dev-fast: not yet
    view.checkStale();
    expect(changes.filter((c) => c.kind === "stale")).toEqual([]);
    now = 99_000 + 30_001;
    view.checkStale();
    expect(changes.filter((c) => c.kind === "stale")).toEqual([{ kind: "stale", device: "dev-fast" }]);
    expect(view.device("dev-fast")).toMatchObject({
      state: "stale",
      stale: true,
      online: true,
      rows: [{ state: "stale", problems: ["no status for over 30 s (3 status intervals)"] }],
    });
    expect(view.devices().map((d) => d.device)).toEqual(["dev-will", "dev-fast", "dev-future", "dev-old"]);
    view.checkStale(); // no flip, no change
    expect(changes.filter((c) => c.kind === "stale")).toHaveLength(1);

    now = 100_000 + 180_001; // dev-old: 3 × 60 s; dev-future: heard at 100 000
    view.checkStale();
    expect(states()).toEqual({ "dev-will": "offline", "dev-fast": "stale", "dev-future": "stale", "dev-old": "stale" });
    expect(view.summary().states).toMatchObject({ stale: 3, offline: 1, ok: 0 });

    // A live status: heard now (whatever its ts says), not stale any more.
    changes.length = 0;
    await t.publish(
      deviceTopics(root, "dev-fast").status,
      encodeMessage(status("dev-fast", { ts: 5, intervalMs: 10_000 })),
      false,
    );
    await waitFor(view, () => view.device("dev-fast")?.stale === false, "dev-fast heard again");
    expect(view.device("dev-fast")).toMatchObject({ state: "ok", heardAt: now, lastSeen: 99_000 });
    expect(changes).toEqual([{ kind: "status", device: "dev-fast", retained: false }]);
    view.checkStale();
    expect(changes).toHaveLength(1);
    await view.close();
  });

  test("checks staleness on its own every staleCheckMs", async () => {
    const root = `${ROOT}-stale-timer`;
    await using t = await setup();
    let now = 1_000;
    await t.publish(
      deviceTopics(root, "dev-01").status,
      encodeMessage(status("dev-01", { ts: 1_000, intervalMs: 1_000 })),
    );
    const view = await FleetView.open(t.watcher, { root, now: () => now, staleCheckMs: 20 });
    await waitFor(view, () => view.size === 1, "dev-01");
    const turned = new Promise<FleetChange>((resolve) => view.onChange((c) => c.kind === "stale" && resolve(c)));
    now = 10_000;
    expect(await turned).toEqual({ kind: "stale", device: "dev-01" });
    await view.close();
  });

  test("sees every one of 2,500 retained QoS 1 statuses on mosquitto's default limits (a QoS 1 subscription gets ~1,020)", async () => {
    if (broker.kind !== "mosquitto") {
      console.log("skipped: the QoS 1 queue limit is mosquitto's (max_queued_messages)");
      return;
    }
    const root = `${ROOT}-many`;
    await using t = await setup();
    const ids = Array.from({ length: 2_500 }, (_, i) => `dev-${String(i).padStart(4, "0")}`);
    await Promise.all(
      ids.map((id) =>
        t.publisher.publishAsync(deviceTopics(root, id).status, encodeMessage(status(id)), { qos: 1, retain: true }),
      ),
    );
    const view = await FleetView.open(t.watcher, { root });
    await waitFor(view, () => view.size === ids.length, "2,500 devices");
    await view.close();
    // The control: the same retained statuses through a QoS 1 subscription.
    let received = 0;
    t.watcher.on("message", (topic) => {
      if (topic.startsWith(`${root}/`)) received++;
    });
    await t.watcher.subscribeAsync(`${root}/+/status`, { qos: 1 });
    await Bun.sleep(1_000);
    expect(received).toBeLessThan(ids.length);
  });

  test("a device first seen offline (only its Will retained) gets its last data and last-seen time from its retained telemetry", async () => {
    const root = `${ROOT}-tele`;
    await using t = await setup();
    const topics = deviceTopics(root, "dev-01");
    const tele = {
      v: 1,
      type: "tele",
      version: 1,
      agent: "litefleet/0.1.0",
      device: "dev-01",
      startedAt: 1_000,
      now: 9_000,
      mqtt: null,
      dbs: [
        {
          path: "/data/app.db",
          txid: "0000000000000007",
          pageSize: 4096,
          pages: 3,
          captureError: null,
          diskFull: false,
          replicas: [
            {
              name: "s3",
              lastError: "Cannot upload: 503",
              lagMs: 4_000,
              lastUploadAt: 8_000,
              pending: { files: 1, bytes: 10, oldestAt: 5_000 },
            },
          ],
        },
      ],
    };
    await t.publish(topics.tele, JSON.stringify(tele));
    await t.publish(
      topics.status,
      encodeMessage({ v: 1, type: "status", device: "dev-01", online: false, session: 4, ts: 2_000, reason: "lost" }),
    );
    const view = await FleetView.open(t.watcher, { root });
    await waitFor(view, () => view.devices()[0]?.dataAt === 9_000, "the telemetry");
    expect(view.devices()[0]).toMatchObject({
      state: "offline",
      online: false,
      reason: "lost",
      lastSeen: 9_000,
      dataAt: 9_000,
      dbState: "error",
      maxLagMs: 4_000,
      problems: ["replica 's3' of '/data/app.db' fails: Cannot upload: 503"],
      dbs: [{ path: "/data/app.db", txid: "0000000000000007", size: 12_288 }],
    });
    // Back online: its statuses are the data again.
    await t.publish(topics.status, encodeMessage(status("dev-01", { session: 5, ts: 10_000 })));
    await waitFor(view, () => view.devices()[0]?.online === true, "dev-01 online");
    await t.publish(topics.tele, JSON.stringify({ ...tele, now: 11_000 }));
    await t.publish(topics.status, encodeMessage(status("dev-01", { session: 5, ts: 12_000 })));
    await waitFor(view, () => view.devices()[0]?.lastSeen === 12_000, "the next status");
    expect(view.devices()[0]).toMatchObject({ state: "ok", dataAt: 12_000 });
    await view.close();
  });

  test("ignores an offline status of an older session (a stale Will) but applies one of the same session", async () => {
    const root = `${ROOT}-stale`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    const topic = deviceTopics(root, "dev-01").status;
    const seen: string[] = [];
    view.onChange(() => {
      const d = view.devices()[0];
      seen.push(`${d?.session} ${d?.online ? "online" : "offline"} ${d?.lastSeen}`);
    });

    await t.publish(topic, encodeMessage(status("dev-01", { session: 2, ts: 2_000 })));
    await t.publish(
      topic,
      encodeMessage(status("dev-01", { online: false, session: 1, ts: 1_000, reason: "lost", dbs: [] })),
    );
    await t.publish(topic, encodeMessage(status("dev-01", { session: 2, ts: 3_000, agent: "litefleet/0.2.0" })));
    await waitFor(view, () => view.devices()[0]?.lastSeen === 3_000, "the second online status");
    expect(seen).toEqual(["2 online 2000", "2 online 3000"]);
    expect(view.devices()[0]).toMatchObject({ online: true, session: 2, agent: "litefleet/0.2.0" });
    expect(view.stats()).toEqual({ malformed: 0, stale: 1 });

    // The Will of the current session: offline, and the last known databases stay.
    const will: StatusMessage = {
      v: 1,
      type: "status",
      device: "dev-01",
      online: false,
      session: 2,
      ts: 2_000,
      reason: "lost",
    };
    await t.publish(topic, encodeMessage(will));
    await waitFor(view, () => view.devices()[0]?.online === false, "dev-01 offline");
    expect(view.devices()[0]).toMatchObject({
      online: false,
      reason: "lost",
      session: 2,
      lastSeen: 3_000,
      dataAt: 3_000,
      agent: "litefleet/0.2.0",
      state: "offline",
      dbState: "ok",
    });
    expect(view.devices()[0]?.dbs).toHaveLength(1);
    await view.close();
  });

  test("counts malformed payloads and keeps going", async () => {
    const root = `${ROOT}-malformed`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    const topics = deviceTopics(root, "dev-01");

    await t.publish(topics.status, "not json", false);
    await t.publish(topics.status, JSON.stringify({ ...status("dev-01"), v: 2 }), false);
    await t.publish(topics.status, encodeMessage(status("dev-02")), false); // another device's payload
    await t.publish(topics.status, JSON.stringify({ v: 1, type: "status", device: "dev-01" }), false);
    await t.publish(topics.evt, "{}", false);
    await t.publish(`${root}/bad device!/status`, encodeMessage(status("bad device!")), false);
    await t.publish(`${root}/dev-01/tele`, "ignored: not a topic the view reads", false);
    await t.publish(topics.status, encodeMessage(status("dev-01", { ts: 7_000 })), false);

    await waitFor(view, () => view.devices().length === 1, "the valid status");
    expect(view.devices()[0]).toMatchObject({ device: "dev-01", lastSeen: 7_000 });
    expect(view.stats()).toEqual({ malformed: 6, stale: 0 });
    await view.close();
  });

  test("applies statuses of one device in order: the last one wins", async () => {
    const root = `${ROOT}-order`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    const topic = deviceTopics(root, "dev-01").status;
    const seen: number[] = [];
    view.onChange(() => seen.push(view.devices()[0]?.maxLagMs ?? -1));

    for (let i = 1; i <= 20; i++)
      t.publisher.publish(topic, encodeMessage(status("dev-01", { ts: i, dbs: [db({ lagMs: i })] })), { qos: 1 });
    await waitFor(view, () => seen.length === 20, "20 changes");
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await view.close();
  });

  test("keeps the newest maxEvents events per device, once each", async () => {
    const root = `${ROOT}-events`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root, maxEvents: 3 });
    const topic = deviceTopics(root, "dev-01").evt;

    for (const id of ["1-1", "1-2", "1-2", "1-3", "1-4"])
      await t.publish(topic, encodeMessage(event("dev-01", id)), false);
    await waitFor(view, () => view.events("dev-01").at(-1)?.id === "1-4", "event 1-4");
    expect(view.events("dev-01").map((e) => e.id)).toEqual(["1-2", "1-3", "1-4"]);
    expect(view.events("dev-02")).toEqual([]);
    await view.close();
  });

  test("an empty retained status forgets the device", async () => {
    const root = `${ROOT}-removed`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    const changes: FleetChange[] = [];
    view.onChange((c) => changes.push(c));
    const topics = deviceTopics(root, "dev-01");

    await t.publish(topics.status, encodeMessage(status("dev-01")));
    await t.publish(topics.evt, encodeMessage(event("dev-01", "1-1")), false);
    await t.publish(topics.status, "");
    await waitFor(view, () => changes.length === 3, "three changes");
    expect(changes).toEqual([
      { kind: "status", device: "dev-01", retained: false },
      { kind: "event", device: "dev-01" },
      { kind: "removed", device: "dev-01", retained: false },
    ]);
    expect(view.devices()).toEqual([]);
    expect(view.events("dev-01")).toEqual([]);
    await view.close();
  });

  test("onChange() returns a function that removes the listener", async () => {
    const root = `${ROOT}-listeners`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    let removedCalls = 0;
    const off = view.onChange(() => removedCalls++);
    off();
    const topic = deviceTopics(root, "dev-01").status;
    await t.publish(topic, encodeMessage(status("dev-01")));
    await waitFor(view, () => view.devices().length === 1, "dev-01");
    expect(removedCalls).toBe(0);
    await view.close();
  });

  test("close() unsubscribes: later messages reach neither the view nor the client", async () => {
    const root = `${ROOT}-close`;
    await using t = await setup();
    const view = await FleetView.open(t.watcher, { root });
    const topic = deviceTopics(root, "dev-01").status;
    await t.publish(topic, encodeMessage(status("dev-01", { ts: 1 })));
    await waitFor(view, () => view.devices().length === 1, "dev-01");
    await view.close();
    await view.close();

    const received: string[] = [];
    t.watcher.on("message", (topic) => received.push(topic));
    await t.watcher.subscribeAsync(`${root}-marker`, { qos: 1 });
    const marker = nextMessage(t.watcher, `${root}-marker`);
    await t.publish(topic, encodeMessage(status("dev-01", { ts: 2 })), false);
    await t.publish(`${root}-marker`, "marker", false);
    await marker;
    expect(received).toEqual([`${root}-marker`]);
    expect(view.devices()[0]?.lastSeen).toBe(1);
  });

  test("open() rejects a bad root or maxEvents", async () => {
    await using t = await setup();
    await expect(FleetView.open(t.watcher, { root: "a/+/b" })).rejects.toThrow(RangeError);
    await expect(FleetView.open(t.watcher, { maxEvents: 0 })).rejects.toThrow(
      new RangeError("Cannot open fleet view: 'maxEvents' must be a positive integer: current value is 0"),
    );
  });
});
