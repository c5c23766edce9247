import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { request } from "node:http";
import mqtt, { type MqttClient } from "mqtt";
import { startMqttBroker, type MqttBroker } from "../../../test/harness/mqtt-broker.ts";
import { FleetView, type DeviceView } from "../fleet-view.ts";
import { encodeMessage, type StatusMessage } from "../../protocol/messages.ts";
import { deviceTopics } from "../../protocol/topics.ts";
import { HistoryRecorder } from "../history/history-recorder.ts";
import { HistoryStore } from "../history/history-store.ts";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import { join } from "node:path";
import { PAGE_CSP } from "./page.ts";
import { DashboardListenError, startDashboard } from "./server.ts";

function status(device: string, lagMs: number): StatusMessage {
  return {
    v: 1,
    type: "status",
    device,
    online: true,
    session: 1,
    ts: 1_000,
    dbs: [
      {
        path: "/app.db",
        txid: "00000000000000a1",
        state: "ok",
        pendingFiles: 0,
        pendingBytes: 0,
        lagMs,
        lastUploadAt: 900,
        lastError: null,
        size: 4096,
        captureError: null,
        diskFull: false,
        replicas: [],
      },
    ],
  };
}

/** Reads Server-Sent Events frames (the text between blank lines) from a response. */
function sseReader(res: Response) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    /** The next frame, or null when the stream ended. */
    async next(): Promise<string | null> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          return frame;
        }
        const { done, value } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    /** The data of the next frame of event `name`, parsed (frames of other events are skipped). */
    async nextEvent(name: string): Promise<unknown> {
      for (;;) {
        const frame = await this.next();
        if (frame === null) throw new Error(`Cannot read SSE event '${name}': the stream ended`);
        const lines = frame.split("\n");
        if (!lines.includes(`event: ${name}`)) continue;
        const data = lines.find((l) => l.startsWith("data: "));
        if (data !== undefined) return JSON.parse(data.slice(6));
      }
    },
    /** The next frame with a `data:` line, parsed. */
    async nextData(): Promise<unknown> {
      for (;;) {
        const frame = await this.next();
        if (frame === null) throw new Error("Cannot read SSE data: the stream ended");
        const data = frame.split("\n").find((l) => l.startsWith("data: "));
        if (data !== undefined) return JSON.parse(data.slice(6));
      }
    },
    cancel: () => reader.cancel(),
  };
}

let broker: MqttBroker;
let publisher: MqttClient;
let watcher: MqttClient;
beforeAll(async () => {
  broker = await startMqttBroker();
  publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
});
afterAll(async () => {
  await publisher.endAsync();
  await watcher.endAsync();
  await broker.stop();
});

describe("startDashboard()", () => {
  test("listens on loopback and serves the page with its CSP", async () => {
    const view = await FleetView.open(watcher, { root: "dash/page" });
    await using dashboard = await startDashboard({ view });
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(dashboard.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe(PAGE_CSP);
    expect(await res.text()).toContain('<tbody id="devices">');
    // The one severity order, as fleet-query.ts sorts.
    expect(await (await fetch(dashboard.url)).text()).toContain(
      'var STATES = ["error","conflict","offline","stale","lagging","degraded","starting","pending","ok"];',
    );
    await view.close();
  });

  test("GET /api/devices returns the view's devices", async () => {
    const root = "dash/api";
    await publisher.publishAsync(deviceTopics(root, "dev-01").status, encodeMessage(status("dev-01", 3_000)), {
      qos: 1,
      retain: true,
    });
    const view = await FleetView.open(watcher, { root });
    await using dashboard = await startDashboard({ view, addr: ":0" });
    // The retained status may arrive before or after open() returns.
    if (view.devices().length === 0) await new Promise<void>((resolve) => view.onChange(() => resolve()));
    const res = await fetch(new URL("api/devices", dashboard.url));
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(view.devices())));
    expect(view.devices()).toHaveLength(1);
    await view.close();
  });

  test("GET /api/devices and /api/summary: problems first, filtered by the URL's query; 400 on a bad filter", async () => {
    const root = "dash/api-filter";
    for (const [id, lag] of [
      ["dev-01", 0],
      ["dev-02", 2 * 3_600_000],
      ["dev-03", 0],
    ] as const) {
      await publisher.publishAsync(deviceTopics(root, id).status, encodeMessage(status(id, lag)), {
        qos: 1,
        retain: true,
      });
    }
    const view = await FleetView.open(watcher, { root, now: () => 2_000 });
    await using dashboard = await startDashboard({ view });
    while (view.size < 3) await new Promise<void>((resolve) => view.onChange(() => resolve()));
    const ids = async (query: string) =>
      ((await (await fetch(new URL(`api/devices${query}`, dashboard.url))).json()) as DeviceView[]).map(
        (d) => d.device,
      );
    expect(await ids("")).toEqual(["dev-02", "dev-01", "dev-03"]);
    expect(await ids("?state=lagging")).toEqual(["dev-02"]);
    expect(await ids("?lag-over=1h&search=DEV-0")).toEqual(["dev-02"]);
    expect(await ids("?search=dev-03&version=0.1")).toEqual([]);
    const bad = await fetch(new URL("api/devices?state=red", dashboard.url));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toStartWith("Cannot filter by state 'red': use one or more of error, conflict,");
    const summary = await (await fetch(new URL("api/summary", dashboard.url))).json();
    expect(summary).toMatchObject({ at: 2_000, devices: 3, databases: 3, states: { lagging: 1, ok: 2 } });
    await view.close();
  });

  test("GET /events: a snapshot at once, then updates with only the changed devices, per client filter, and heartbeats", async () => {
    const root = "dash/events";
    await publisher.publishAsync(deviceTopics(root, "dev-01").status, encodeMessage(status("dev-01", 0)), {
      qos: 1,
      retain: true,
    });
    const view = await FleetView.open(watcher, { root, now: () => 2_000 });
    while (view.size < 1) await new Promise<void>((resolve) => view.onChange(() => resolve()));
    await using dashboard = await startDashboard({ view, heartbeatMs: 20 });
    const res = await fetch(new URL("events", dashboard.url));
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const all = sseReader(res);
    const lagging = sseReader(await fetch(new URL("events?state=lagging", dashboard.url)));
    const first = (await all.nextEvent("snapshot")) as { summary: unknown; devices: Record<string, unknown>[] };
    expect(first.devices.map((d) => d.device)).toEqual(["dev-01"]);
    // The raw summaries stay out of the stream: rows carry them.
    expect(first.devices[0]).not.toHaveProperty("dbs");
    expect(first.devices[0]).toMatchObject({ rows: [{ db: "/app.db", state: "ok" }] });
    expect(first.summary).toMatchObject({ devices: 1, states: { ok: 1 } });
    expect(await lagging.nextEvent("snapshot")).toMatchObject({ devices: [] });

    // A burst of changes becomes one update per client; dev-01 does not change, so it is not sent again.
    await Promise.all(
      (
        [
          ["dev-07", 120_000],
          ["dev-08", 3_600_000],
          ["dev-07", 7_200_000],
        ] as const
      ).map(([id, lag]) =>
        publisher.publishAsync(deviceTopics(root, id).status, encodeMessage(status(id, lag)), { qos: 1 }),
      ),
    );
    const update = (await all.nextEvent("update")) as { devices: DeviceView[]; removed: string[]; summary: unknown };
    expect(update.devices.map((d) => [d.device, d.maxLagMs])).toEqual([
      ["dev-07", 7_200_000],
      ["dev-08", 3_600_000],
    ]);
    expect(update.removed).toEqual([]);
    expect(update.summary).toMatchObject({ devices: 3, states: { lagging: 2, ok: 1 } });
    expect(await lagging.nextEvent("update")).toMatchObject({ devices: [{ device: "dev-07" }, { device: "dev-08" }] });

    // dev-08 catches up: still listed for all, removed for the lagging client.
    await publisher.publishAsync(deviceTopics(root, "dev-08").status, encodeMessage(status("dev-08", 0)), { qos: 1 });
    expect(await all.nextEvent("update")).toMatchObject({ devices: [{ device: "dev-08", state: "ok" }], removed: [] });
    expect(await lagging.nextEvent("update")).toMatchObject({ devices: [], removed: ["dev-08"] });

    let frame = await all.next();
    while (frame !== null && !frame.startsWith(":")) frame = await all.next();
    expect(frame).toBe(": heartbeat");
    await lagging.cancel();

    await dashboard.close();
    // close() ends the stream.
    while (frame !== null) frame = await all.next();
    await view.close();
  });

  test("GET /events with a filter it cannot use: one 'invalid' event, then heartbeats only", async () => {
    const view = await FleetView.open(watcher, { root: "dash/invalid" });
    await using dashboard = await startDashboard({ view, heartbeatMs: 20 });
    const sse = sseReader(await fetch(new URL("events?lag-over=soon", dashboard.url)));
    expect(await sse.nextEvent("invalid")).toEqual({
      error: "Cannot filter by lag-over 'soon': expected a number followed by a unit (e.g. '10s', '1m30s')",
    });
    expect(await sse.next()).toBe(": heartbeat");
    await sse.cancel();
    await view.close();
  });

  test("GET /api/history: a device's recorded timeline from the live stream, oldest first; 400, 404 and 503 explained", async () => {
    await using dir = await makeTempDir("dash-hist-");
    const root = "dash/history";
    const topics = deviceTopics(root, "dev-01");
    await publisher.publishAsync(topics.status, encodeMessage(status("dev-01", 0)), { qos: 1, retain: true });
    let now = 10_000;
    const view = await FleetView.open(watcher, { root, now: () => now, staleCheckMs: 0 });
    const recorder = new HistoryRecorder(view, HistoryStore.open(join(dir.path, "h.db")), {
      now: () => now,
      flushMs: 0,
      pruneEveryMs: 0,
    });
    await using dashboard = await startDashboard({ view, history: recorder, now: () => now });
    const changes = (n: number) =>
      new Promise<void>((resolve) => {
        let seen = 0;
        const off = view.onChange(() => {
          if (++seen < n) return;
          off();
          resolve();
        });
      });
    if (view.size === 0) await changes(1);
    now = 20_000;
    const next = changes(2);
    await publisher.publishAsync(topics.status, encodeMessage(status("dev-01", 2 * 3_600_000)), { qos: 1 });
    await publisher.publishAsync(
      topics.evt,
      encodeMessage({
        v: 1,
        type: "event",
        device: "dev-01",
        id: "1-0",
        ts: 1_500,
        event: "upload.error",
        data: { db: "/app.db", error: "SlowDown" },
      }),
      { qos: 1 },
    );
    await next;
    const get = (query: string) => fetch(new URL(`api/history${query}`, dashboard.url));
    const res = await get("?device=dev-01&db=/app.db");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await res.json()).toEqual({
      device: "dev-01",
      db: "/app.db",
      truncated: false,
      entries: [
        { ts: 10_000, kind: "state", db: "/app.db", state: "ok" },
        { ts: 10_000, kind: "lag", db: "/app.db", lagMs: 0 },
        { ts: 20_000, kind: "state", db: "/app.db", state: "lagging", detail: "'/app.db' is 2 h behind its replicas" },
        { ts: 20_000, kind: "lag", db: "/app.db", lagMs: 7_200_000 },
        {
          ts: 20_000,
          kind: "event",
          db: "/app.db",
          event: "upload.error",
          detail: { db: "/app.db", error: "SlowDown" },
        },
      ],
    });
    const newest = await (await get("?device=dev-01&limit=2&since=15s")).json();
    expect(newest).toMatchObject({ db: null, truncated: true, entries: [{ kind: "lag" }, { kind: "event" }] });

    const bad = await get("?device=dev-01&limit=0");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe("Cannot parse limit '0': use a whole number from 1 to 10000\n");
    expect(await (await get("?since=1h")).text()).toBe("Cannot read history: the 'device' parameter is required\n");
    expect((await get("?device=dev-01&since=yesterday")).status).toBe(400);
    const unknown = await get("?device=dev-99");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/json");
    expect(await unknown.json()).toEqual({
      error: "Cannot find history of device 'dev-99': nothing was recorded",
      device: "dev-99",
      db: null,
    });
    expect((await get("?device=dev-01&db=/other.db")).status).toBe(404);
    const emptyDb = await get("?device=dev-01&db=");
    expect(emptyDb.status).toBe(400);
    expect(await emptyDb.text()).toBe(
      "Cannot read history: the 'db' parameter is empty (leave it out for the whole device)\n",
    );
    for (const since of ["2026-02-30T00:00:00Z", "2026-12-01T00:00", "2026-12-01T24:00:00Z"])
      expect((await get(`?device=dev-01&since=${encodeURIComponent(since)}`)).status).toBe(400);

    await using off = await startDashboard({ view });
    const disabled = await fetch(new URL("api/history?device=dev-01", off.url));
    expect(disabled.status).toBe(503);
    expect(await disabled.text()).toContain("it was started with --no-history");
    await recorder.stop();
    await view.close();
  });

  test("answers 404 for other paths and 405 for other methods", async () => {
    const view = await FleetView.open(watcher, { root: "dash/errors" });
    await using dashboard = await startDashboard({ view });
    const missing = await fetch(new URL("nope", dashboard.url));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("Cannot find /nope\n");
    const post = await fetch(new URL("api/devices", dashboard.url), { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await view.close();
  });

  test("on loopback, refuses a Host that is not a loopback name (DNS rebinding)", async () => {
    const view = await FleetView.open(watcher, { root: "dash/host" });
    await using dashboard = await startDashboard({ view });
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(dashboard.url, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    const port = new URL(dashboard.url).port;
    expect(await get(`evil.example:${port}`)).toBe(421);
    expect(await get(`localhost:${port}`)).toBe(200);
    expect(await get(`127.0.0.1:${port}`)).toBe(200);
    await view.close();
  });

  test("rejects a malformed address, and a port in use with its system code", async () => {
    const view = await FleetView.open(watcher, { root: "dash/addr" });
    for (const addr of ["8080", "127.0.0.1:70000", "a:b:1"]) {
      await expect(startDashboard({ view, addr })).rejects.toThrow(
        new RangeError(`Cannot parse dashboard address '${addr}': use host:port with a port in 0-65535`),
      );
    }
    await using first = await startDashboard({ view });
    const addr = new URL(first.url).host;
    const err = await startDashboard({ view, addr }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DashboardListenError);
    expect((err as DashboardListenError).code).toBe("EADDRINUSE");
    expect((err as DashboardListenError).addr).toBe(addr);
    expect((err as Error).message).toBe(
      `Cannot start dashboard: listening on '${addr}' failed: the address is already in use (EADDRINUSE)`,
    );
    await view.close();
  });
});
