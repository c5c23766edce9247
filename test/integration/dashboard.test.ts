/**
 * The fleet dashboard in a real browser: twelve simulated devices publish
 * retained statuses (one of them then loses its connection, so its Will
 * marks it offline), a `FleetView` and the dashboard server follow them, and
 * headless Chromium, driven by playwright-core, must show every row,
 * problems first, with the right state (only `ok` in green; the offline
 * device as offline, with when it was last seen) and lag, then follow a
 * live update over Server-Sent Events without reloading. A screenshot goes
 * to `.artifacts/dashboard.png`. (10,000 devices: fleet-views.test.ts.)
 *
 * Needs Chromium (Debian: `apt-get install chromium`, which .ci/run does when
 * it can); without it the test is skipped and says why.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { chromium } from "playwright-core";
import { startDashboard } from "../../src/fleet/dashboard/server.ts";
import { FleetView } from "../../src/fleet/fleet-view.ts";
import { encodeMessage, type DbSummary, type StatusMessage } from "../../src/protocol/messages.ts";
import { DEFAULT_TOPIC_ROOT, deviceTopics } from "../../src/protocol/topics.ts";
import { startMqttBroker } from "../harness/mqtt-broker.ts";

const CHROMIUM =
  Bun.which("chromium") ??
  Bun.which("chromium-browser") ??
  ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ??
  null;
if (CHROMIUM === null) {
  console.log(
    "dashboard browser test skipped: no chromium or chromium-browser on PATH or in /usr/bin (Debian: apt-get install chromium)",
  );
}

const ROOT = DEFAULT_TOPIC_ROOT;
const ARTIFACTS = join(import.meta.dir, "..", "..", ".artifacts");
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const HOSTILE_ERROR = `Cannot upload: <img src=x onerror="window.pwned=1">`;

/** What each simulated device reports, and what its row must show. */
interface Sim {
  readonly db: Partial<DbSummary>;
  readonly row: { readonly state: string; readonly lag: string; readonly pending: string };
}

const SIMS: readonly Sim[] = [
  { db: { state: "ok", lagMs: 0 }, row: { state: "ok", lag: "0 s", pending: "0" } },
  { db: { state: "ok", lagMs: 900 }, row: { state: "ok", lag: "0 s", pending: "0" } },
  // Changes waiting for the batch policy, within the RPO (30 min): working as configured.
  {
    db: { state: "pending", lagMs: 3_000, pendingFiles: 2, pendingBytes: 1_536 },
    row: { state: "pending", lag: "3 s", pending: "2 files / 1.5 KiB" },
  },
  {
    db: { state: "pending", lagMs: 59_999, pendingFiles: 1, pendingBytes: 512 },
    row: { state: "pending", lag: "59 s", pending: "1 file / 512 B" },
  },
  {
    db: { state: "pending", lagMs: 120_000, pendingFiles: 40, pendingBytes: 5 * 1024 * 1024 },
    row: { state: "pending", lag: "2 min", pending: "40 files / 5.0 MiB" },
  },
  {
    db: {
      state: "error",
      lagMs: 3_600_000,
      lastError: "Cannot upload: HTTP 503",
      replicas: [
        {
          name: "s3",
          lastError: "Cannot upload: HTTP 503",
          conflict: null,
          lagMs: 3_600_000,
          lastUploadAt: null,
          projectedPerMonth: { requests: 43_200, bytes: 1_491 * 1024 * 1024 },
        },
      ],
    },
    row: { state: "error", lag: "1 h", pending: "0" },
  },
  // An agent that reports no replicas apart (before 0.2): its summary's error.
  {
    db: { state: "error", lagMs: 7_200_000, lastError: HOSTILE_ERROR },
    row: { state: "error", lag: "2 h", pending: "0" },
  },
  {
    db: { state: "starting", txid: null, lagMs: 0, lastUploadAt: null },
    row: { state: "starting", lag: "0 s", pending: "0" },
  },
  { db: { state: "ok", lagMs: 3 * 86_400_000 }, row: { state: "lagging", lag: "3 d", pending: "0" } },
  { db: { state: "ok", lagMs: 45_000 }, row: { state: "ok", lag: "45 s", pending: "0" } },
  {
    db: { state: "pending", lagMs: 600_000, pendingFiles: 3, pendingBytes: 3 },
    row: { state: "pending", lag: "10 min", pending: "3 files / 3 B" },
  },
  // dev-12 loses its connection: only its Will (no databases) is retained.
  { db: { state: "ok" }, row: { state: "offline (lost)", lag: "\u2014", pending: "\u2014" } },
];

/** The devices (1-based, as in their ids) in the order the page shows them: problems first, then by id. */
const ORDER = [6, 7, 12, 9, 8, 3, 4, 5, 11, 1, 2, 10];

/**
 * The page's `document`, as far as the functions run in the page use it: this
 * project's tsconfig has no DOM types, and the page's CSP forbids the string
 * form of `waitForFunction` (eval).
 */
declare const document: {
  querySelectorAll(selector: string): { readonly length: number };
  querySelector(
    selector: string,
  ): { readonly textContent: string | null; getAttribute(name: string): string | null } | null;
};
declare function getComputedStyle(element: unknown): { readonly color: string };

function deviceId(i: number): string {
  return `dev-${String(i + 1).padStart(2, "0")}`;
}

function statusOf(device: string, session: number, db: Partial<DbSummary>): StatusMessage {
  const summary: DbSummary = {
    path: "/var/lib/app/app.db",
    txid: "00000000000004d2",
    state: "ok",
    pendingFiles: 0,
    pendingBytes: 0,
    lagMs: 0,
    lastUploadAt: Date.now() - 12_000,
    lastError: null,
    size: 1 << 20,
    captureError: null,
    diskFull: false,
    replicas: [],
    ...db,
  };
  return {
    v: 1,
    type: "status",
    device,
    online: true,
    session,
    ts: Date.now(),
    agent: "litefleet/0.1.0",
    dbs: [summary],
  };
}

/** The first message on `topic` for which `accept` holds. */
function messageWhere(client: MqttClient, topic: string, accept: (payload: Buffer) => boolean): Promise<void> {
  return new Promise((resolve) => {
    client.on("message", (t, payload) => {
      if (t === topic && accept(payload)) resolve();
    });
  });
}

describe.skipIf(CHROMIUM === null)("fleet dashboard in Chromium", () => {
  test(
    "shows every device, follows a live update, and saves a screenshot",
    async () => {
      await using broker = await startMqttBroker();
      const devices: MqttClient[] = [];
      const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      try {
        for (const [i, sim] of SIMS.entries()) {
          const id = deviceId(i);
          const topic = deviceTopics(ROOT, id).status;
          const will: StatusMessage = {
            v: 1,
            type: "status",
            device: id,
            online: false,
            session: 1,
            ts: Date.now(),
            reason: "lost",
          };
          const client = await mqtt.connectAsync(broker.url, {
            reconnectPeriod: 0,
            clientId: id,
            will: { topic, payload: encodeMessage(will), qos: 1, retain: true },
          });
          devices.push(client);
          await client.publishAsync(topic, encodeMessage(statusOf(id, 1, sim.db)), { qos: 1, retain: true });
        }
        // dev-12 drops off; wait until the broker has published (and retained) its Will.
        const lost = deviceTopics(ROOT, deviceId(11)).status;
        const willSeen = messageWhere(
          watcher,
          lost,
          (p) => (JSON.parse(p.toString()) as StatusMessage).online === false,
        );
        await watcher.subscribeAsync(lost, { qos: 1 });
        devices[11]?.stream.destroy();
        await willSeen;
        await watcher.unsubscribeAsync(lost);

        const view = await FleetView.open(watcher, { root: ROOT });
        await using dashboard = await startDashboard({ view, addr: "127.0.0.1:0" });
        await using browser = await chromium.launch({ executablePath: CHROMIUM ?? "", args: ["--no-sandbox"] });
        const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
        const problems: string[] = [];
        page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
        page.on("console", (msg) => {
          if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
        });

        await page.goto(dashboard.url);
        await page.waitForFunction(
          (n) => document.querySelectorAll("#devices tr[data-device]").length === n,
          SIMS.length,
          { timeout: 5_000 },
        );
        await page.waitForSelector('#connection[data-state="live"]', { timeout: 5_000 });
        const shown = await page.$$eval("#devices tr[data-device]", (trs) =>
          trs.map((tr) => {
            const text = (field: string) => tr.querySelector(`td[data-field="${field}"]`)?.textContent ?? null;
            return {
              device: tr.getAttribute("data-device"),
              online: tr.getAttribute("data-online"),
              state: text("state"),
              lag: text("lag"),
              pending: text("pending"),
              txid: text("txid"),
              upload: text("upload"),
              seen: text("seen"),
              data: text("data"),
              error: text("error"),
              color: getComputedStyle(tr.querySelector('td[data-field="state"]')).color,
            };
          }),
        );
        // Problems first: error, offline, lagging, starting, pending, ok; then by id.
        expect(shown.map((r) => r.device)).toEqual(ORDER.map((n) => deviceId(n - 1)));
        // From here on in id order.
        const rows = SIMS.map((_, i) => shown.find((r) => r.device === deviceId(i))!);
        expect(rows.map((r) => ({ state: r.state, lag: r.lag, pending: r.pending }))).toEqual(SIMS.map((s) => s.row));
        expect(rows.map((r) => r.online)).toEqual([...Array<string>(11).fill("true"), "false"]);
        expect(rows[0]?.txid).toBe("00000000000004d2");
        expect(rows[7]).toMatchObject({ txid: "\u2014", upload: "never" });
        expect(rows[0]?.upload).toMatch(/^1\d s ago$/);
        expect(rows[5]?.error).toBe("replica 's3' of '/var/lib/app/app.db' fails: Cannot upload: HTTP 503 (+1 more)");
        // Text from the network stays text.
        expect(rows[6]?.error).toBe(`'/var/lib/app/app.db' fails: ${HOSTILE_ERROR} (+1 more)`);
        expect(rows[8]?.error).toBe("'/var/lib/app/app.db' is 3 d behind its replicas");
        // Only ok is green; the offline device shows when it was last seen, and that no data is known.
        const green = rows[0]?.color;
        expect(rows.filter((r) => r.color === green).map((r) => r.state)).toEqual(
          rows.filter((r) => r.state === "ok").map((r) => r.state),
        );
        expect(rows[11]).toMatchObject({ state: "offline (lost)", data: "\u2014", txid: "\u2014", upload: "\u2014" });
        expect(rows[11]?.seen).toMatch(/^\d+ s ago$/);
        expect(rows[0]?.data).toMatch(/^\d+ s old$/);
        expect(await page.textContent("#summary")).toMatch(
          /^12 devices, 11 databases: 2 error · 1 offline · 1 lagging · 1 starting · 4 pending · 3 ok · oldest data \d+ s \(dev-\d\d\) · S3 per month: 43,200 requests, 1,491 MiB \(1 of 12 devices report\)$/,
        );
        expect(await page.$$eval("#devices img", (imgs) => imgs.length)).toBe(0);
        expect(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned)).toBeUndefined();

        // Live: dev-03 starts failing and dev-12 reconnects with a new session; the page must follow without a reload.
        await page.evaluate(() => {
          (globalThis as { marker?: string }).marker = "same page";
        });
        const dev03 = deviceTopics(ROOT, deviceId(2)).status;
        await devices[2]?.publishAsync(
          dev03,
          encodeMessage(
            statusOf(deviceId(2), 1, {
              state: "error",
              lagMs: 180_000,
              pendingFiles: 5,
              pendingBytes: 2_048,
              lastError: "Cannot upload: timeout",
            }),
          ),
          { qos: 1, retain: true },
        );
        await devices[0]?.publishAsync(lost, encodeMessage(statusOf(deviceId(11), 2, { state: "ok", lagMs: 1_000 })), {
          qos: 1,
          retain: true,
        });
        await page.waitForFunction(
          () =>
            document.querySelector('tr[data-device="dev-03"] td[data-field="state"]')?.textContent === "error" &&
            document.querySelector('tr[data-device="dev-12"]')?.getAttribute("data-online") === "true",
          undefined,
          { timeout: 5_000 },
        );
        const dev03Row = await page.$eval('tr[data-device="dev-03"]', (tr) =>
          ["lag", "pending", "error"].map((f) => tr.querySelector(`td[data-field="${f}"]`)?.textContent),
        );
        expect(dev03Row).toEqual(["3 min", "5 files / 2.0 KiB", "'/var/lib/app/app.db' fails: Cannot upload: timeout"]);
        expect(await page.$eval('tr[data-device="dev-12"] td[data-field="lag"]', (td) => td.textContent)).toBe("1 s");
        expect(await page.evaluate(() => (globalThis as { marker?: string }).marker)).toBe("same page");
        expect(await page.textContent("#summary")).toMatch(
          /^12 devices, 12 databases: 3 error · 1 lagging · 1 starting · 3 pending · 4 ok · oldest data /,
        );
        // dev-03 moved up to the errors, dev-12 down to ok.
        expect(
          await page.$$eval("#devices tr[data-device]", (trs) => trs.map((tr) => tr.getAttribute("data-device"))),
        ).toEqual([3, 6, 7, 9, 8, 4, 5, 11, 1, 2, 10, 12].map((n) => deviceId(n - 1)));

        await mkdir(ARTIFACTS, { recursive: true });
        const png = join(ARTIFACTS, "dashboard.png");
        await rm(png, { force: true });
        await page.screenshot({ path: png, fullPage: true });
        expect([...(await readFile(png)).subarray(0, 8)]).toEqual(PNG_SIGNATURE);
        expect(problems).toEqual([]);
        await view.close();
      } finally {
        for (const client of devices) await client.endAsync(true);
        await watcher.endAsync();
      }
    },
    { timeout: 30_000 },
  );
});
