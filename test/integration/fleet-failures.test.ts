/**
 * Unattended devices never fail silently (issue #12), end to end: the
 * agent process (`litefleet replicate` with `mqtt:`) against a real broker,
 * the operator's `litefleet fleet …` commands, and the dashboard in
 * headless Chromium.
 *
 * - a `sync` to a device whose S3 endpoint refuses connections is answered
 *   by its deadline (failed, code "replica", naming it), a `status` sent
 *   while it runs is answered at once, and later `verify` and `restore`
 *   fail with code "replica"; the local `litefleet sync` tells that (exit 1)
 *   from an agent that is not there (exit 6);
 * - one whose endpoint accepts connections and never answers: the `sync`
 *   times out by its deadline (code "timeout", exit 5), `status` answered
 *   meanwhile, local `sync` exit 5;
 * - a replica that fails after start fails a `sync` with code "replica";
 * - after kill -9 (the Will), `fleet status` and the dashboard show the
 *   device offline, with when it was last seen and how old its data is.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import mqtt from "mqtt";
import { chromium } from "playwright-core";
import { startDashboard } from "../../src/fleet/dashboard/server.ts";
import type { DeviceView } from "../../src/fleet/fleet-view.ts";
import { FleetView } from "../../src/fleet/fleet-view.ts";
import { parseTelemetry, type ReplyMessage } from "../../src/protocol/messages.ts";
import { generateOperatorKey } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { freePort, startAgent, type AgentProcess } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { watchDevice, type DeviceWatch } from "../harness/device-watch.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const ROOT = "litefleet/v1";
const DEVICE = "gw-04";
const topics = deviceTopics(ROOT, DEVICE);
const CREDS = { LITEFLEET_ACCESS_KEY_ID: "S3RVER", LITEFLEET_SECRET_ACCESS_KEY: "S3RVER" };

const CHROMIUM =
  Bun.which("chromium") ??
  Bun.which("chromium-browser") ??
  ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ??
  null;

/** The page's `document` and `getComputedStyle`, as far as the functions run in the page use them (no DOM types here). */
declare const document: {
  querySelector(
    selector: string,
  ): { readonly textContent: string | null; getAttribute(name: string): string | null } | null;
};
declare function getComputedStyle(element: unknown): { readonly color: string };

interface Device {
  readonly db: string;
  readonly cfg: string;
  readonly statusAddr: string;
  readonly keyFile: string;
  readonly protocol: 4 | 5;
  readonly watch: DeviceWatch;
  readonly start: () => AgentProcess;
  send(command: string, args?: string[]): Promise<{ code: number; stderr: string; replies: ReplyMessage[] }>;
  fleet(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** A device config with one database whose replica is `replica` (YAML lines under `replica:`), and an operator. */
async function device(dir: string, broker: MqttBroker, replica: string[]): Promise<Device> {
  const protocol = broker.kind === "mosquitto" ? 5 : 4;
  const op = generateOperatorKey();
  const keyFile = join(dir, "operator.key");
  writeFileSync(keyFile, op.privatePem, { mode: 0o600 });
  const db = join(dir, "app.db");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
  app.close();
  const statusAddr = `127.0.0.1:${await freePort()}`;
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(
    cfg,
    [
      `device: { id: ${DEVICE} }`,
      `status: { addr: "${statusAddr}" }`,
      "mqtt:",
      `  url: ${broker.url}`,
      `  protocol: ${protocol === 5 ? "5" : '"3.1.1"'}`,
      "  status-interval: 1s",
      "  will-delay: 0s",
      `  state-dir: ${join(dir, "fleet-state")}`,
      "fleet:",
      `  operator-keys: ["${op.publicKey}"]`,
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 100ms",
      "    replica:",
      "      name: backup",
      ...replica.map((l) => `      ${l}`),
    ].join("\n"),
  );
  const watch = await watchDevice(broker.url, topics, {
    protocolVersion: protocol,
    clientId: `op-${Math.random().toString(16).slice(2)}`,
  });
  const brokerArgs = ["--broker", broker.url, "--protocol", protocol === 5 ? "5" : "3.1.1"];
  return {
    db,
    cfg,
    statusAddr,
    keyFile,
    protocol,
    watch,
    start: () => startAgent(cfg, CREDS),
    async send(command, args = []) {
      const res = await runCli([
        "fleet",
        "send",
        DEVICE,
        command,
        ...brokerArgs,
        "--operator-key",
        keyFile,
        "--json",
        ...args,
      ]);
      const replies = res.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReplyMessage);
      return { code: res.code, stderr: res.stderr, replies };
    },
    fleet: (args) => runCli(["fleet", ...args, ...brokerArgs]),
  };
}

async function until<T>(what: string, find: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

function insert(db: string, n: number): void {
  const app = new Database(db);
  // The agent's capture connection takes locks as it starts: wait, as an application would.
  app.exec("PRAGMA busy_timeout = 5000");
  for (let i = 0; i < n; i++) app.run("INSERT INTO t (v) VALUES (randomblob(2000))");
  app.close();
}

describe("unattended devices never fail silently (issue #12)", () => {
  test("a sync to a device whose S3 endpoint refuses connections is answered by its deadline with the replica's error; status is answered meanwhile; local sync says so (exit 1), an absent agent is exit 6", async () => {
    await using dir = await makeTempDir("lf-fail-s3-");
    await using broker = await startMqttBroker();
    const refused = await freePort();
    const d = await device(dir.path, broker, [`url: s3://fleet/gw-04/app.db?endpoint=http://127.0.0.1:${refused}`]);
    const agent = d.start();
    try {
      await agent.waitForLog("mqtt connected");
      await agent.waitForLog("cannot read the replica's position");
      const started = Date.now();
      const sync = d.send("sync", ["--timeout", "8s"]);
      // Sent while the sync waits: answered at once, not after it.
      const status = await d.send("status", ["--timeout", "20s"]);
      expect(status.code).toBe(0);
      expect(status.replies.map((r) => r.status)).toEqual(["accepted", "done"]);
      expect(Date.now() - started).toBeLessThan(7_000);
      // Capture runs (store and forward); the sync's upload attempts fail
      // at once on the refused endpoint, so it is answered before its
      // deadline, naming the replica.
      const synced = await sync;
      expect(Date.now() - started).toBeLessThan(10_000);
      const final = synced.replies.at(-1);
      expect(final).toMatchObject({ status: "failed", code: "replica" });
      expect(synced.code).toBe(1);
      expect(final?.error).toContain(`127.0.0.1:${refused}`);
      expect(d.watch.events.find((e) => e.event === "command.failed")?.data).toMatchObject({
        name: "sync",
        code: "replica",
      });
      // And the channel is not blocked: status, verify and restore afterwards are answered, the last two with the replica's error.
      expect((await d.send("status")).code).toBe(0);
      for (const [command, args] of [
        ["verify", []],
        ["restore", ["--db", d.db]],
      ] as const) {
        const res = await d.send(command, [...args, "--timeout", "30s"]);
        expect({ command, code: res.code, final: res.replies.at(-1)?.status, kind: res.replies.at(-1)?.code }).toEqual({
          command,
          code: 1,
          final: "failed",
          kind: "replica",
        });
        expect(res.replies.at(-1)?.error).toContain(`127.0.0.1:${refused}`);
      }

      // The operator's view: the device is in error, naming the replica.
      const table = await d.fleet(["status", "--json", "--wait", "300ms"]);
      const [view] = JSON.parse(table.stdout) as DeviceView[];
      expect(view).toMatchObject({ device: DEVICE, state: "error", online: true });
      expect(view?.problems[0]).toStartWith(`replica 'backup' of '${d.db}' fails:`);

      // Locally: the agent answers, the replica fails (1, with the replica named) …
      const local = await runCli(["sync", "--addr", d.statusAddr, "--timeout", "20"]);
      expect(local.code).toBe(1);
      expect(local.stderr).toStartWith("Error: Cannot sync");
      expect(local.stderr).toContain(`127.0.0.1:${refused}`);
      const json = await runCli(["sync", "--addr", d.statusAddr, "--timeout", "20", "--json"]);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, timedOut: false });
      // … unlike an agent that is not there (6).
      const absent = await runCli(["sync", "--addr", `127.0.0.1:${refused}`, "--timeout", "3"]);
      expect(absent.code).toBe(6);
      expect(absent.stderr).toStartWith(`Error: Cannot reach the agent at '127.0.0.1:${refused}'`);
      expect((await runCli(["status", "--addr", `127.0.0.1:${refused}`])).code).toBe(6);
    } finally {
      await d.watch.client.endAsync();
      await agent.stop();
    }
  }, 90_000);

  test("a sync to a device whose S3 endpoint accepts connections and never answers times out by its deadline (code timeout, exit 5), naming the replica; status is answered meanwhile", async () => {
    await using dir = await makeTempDir("lf-fail-hang-");
    await using broker = await startMqttBroker();
    // Accepts every connection and never says a word.
    const sockets: Socket[] = [];
    const blackhole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    const port = (blackhole.address() as AddressInfo).port;
    const d = await device(dir.path, broker, [`url: s3://fleet/gw-04/app.db?endpoint=http://127.0.0.1:${port}`]);
    const agent = d.start();
    try {
      await agent.waitForLog("mqtt connected");
      // The position read gives up after 10 s; capture starts without it.
      await agent.waitForLog("capturing into the local spool meanwhile");
      insert(d.db, 3);
      const started = Date.now();
      const sync = d.send("sync", ["--timeout", "8s"]);
      const status = await d.send("status", ["--timeout", "20s"]);
      expect(status.code).toBe(0);
      expect(Date.now() - started).toBeLessThan(7_000);
      const synced = await sync;
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(synced.code).toBe(5);
      const final = synced.replies.at(-1);
      expect(final).toMatchObject({ status: "failed", code: "timeout" });
      expect(final?.error).toContain("replica 'backup'");
      const local = await runCli(["sync", "--addr", d.statusAddr, "--timeout", "3"]);
      expect(local.code).toBe(5);
      expect(local.stderr).toStartWith("Error: Cannot sync within");
    } finally {
      await d.watch.client.endAsync();
      await agent.kill();
      for (const socket of sockets) socket.destroy();
      blackhole.close();
    }
  }, 90_000);

  test("a replica that fails after start fails a sync with code 'replica', naming it; once it is back the sync succeeds", async () => {
    await using dir = await makeTempDir("lf-fail-file-");
    await using broker = await startMqttBroker();
    const replicaDir = join(dir.path, "replica");
    const d = await device(dir.path, broker, [`path: ${replicaDir}`, "sync-interval: 200ms"]);
    const agent = d.start();
    try {
      await agent.waitForLog("mqtt connected");
      await agent.waitForLog("snapshot uploaded");
      expect((await d.send("sync")).code).toBe(0);
      // The replica directory becomes a file: every write to it fails.
      renameSync(replicaDir, `${replicaDir}.away`);
      writeFileSync(replicaDir, "not a directory");
      insert(d.db, 5);
      const failed = await d.send("sync", ["--timeout", "30s"]);
      expect(failed.code).toBe(1);
      expect(failed.replies.at(-1)).toMatchObject({ status: "failed", code: "replica" });
      expect(failed.replies.at(-1)?.error).toStartWith(`Cannot sync: replica 'backup' of '${d.db}' fails:`);
      const local = await runCli(["sync", "--addr", d.statusAddr, "--timeout", "30"]);
      expect(local.code).toBe(1);
      expect(local.stderr).toStartWith(`Error: Cannot sync: replica 'backup' of '${d.db}' fails:`);
      renameSync(replicaDir, `${replicaDir}.file`);
      renameSync(`${replicaDir}.away`, replicaDir);
      expect((await d.send("sync", ["--timeout", "30s"])).code).toBe(0);
    } finally {
      await d.watch.client.endAsync();
      await agent.stop();
    }
  }, 90_000);

  test("after kill -9, fleet status and the dashboard show the device offline, with its last data, when it was last seen and how old the data is", async () => {
    await using dir = await makeTempDir("lf-fail-offline-");
    await using broker = await startMqttBroker();
    const d = await device(dir.path, broker, [`path: ${join(dir.path, "replica")}`, "sync-interval: 200ms"]);
    // The device's retained telemetry, as a later operator will read it.
    const teles: { now: number; txid: string | null }[] = [];
    d.watch.client.on("message", (topic, payload) => {
      if (topic === topics.tele)
        teles.push({ now: parseTelemetry(payload).ts, txid: parseTelemetry(payload).dbs[0]?.txid ?? null });
    });
    await d.watch.client.subscribeAsync(topics.tele, { qos: 0 });
    insert(d.db, 5);
    const agent = d.start();
    try {
      const last = await until("telemetry with a TXID", () => teles.find((t) => t.txid !== null));
      await agent.kill();
      await until("the Will", () => d.watch.statuses.find((s) => !s.online));
      const lastTele = teles.at(-1)!;
      expect(lastTele.txid).not.toBeNull();

      // A fresh operator sees only the retained Will, and the retained telemetry.
      const json = await d.fleet(["status", "--json", "--wait", "1s"]);
      expect(json.code).toBe(0);
      const [view] = JSON.parse(json.stdout) as DeviceView[];
      expect(view).toMatchObject({
        device: DEVICE,
        state: "offline",
        online: false,
        reason: "lost",
        lastSeen: lastTele.now,
        dataAt: lastTele.now,
      });
      expect(view?.dbs.map((db) => db.txid)).toEqual([lastTele.txid]);
      expect(view!.lastSeen).toBeGreaterThanOrEqual(last.now);
      const table = await d.fleet(["status", "--wait", "1s"]);
      const row = table.stdout.split("\n").find((l) => l.startsWith(DEVICE)) ?? "";
      const dbPattern = d.db.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      expect(row).toMatch(
        new RegExp(`^${DEVICE} +${dbPattern} +offline \\(lost\\) +\\d+ s ago +\\d+ s +\\d+ s +\\d+ +${lastTele.txid}`),
      );

      if (CHROMIUM === null) {
        console.log(
          "dashboard part skipped: no chromium or chromium-browser on PATH or in /usr/bin (Debian: apt-get install chromium)",
        );
        return;
      }
      const client = await mqtt.connectAsync(broker.url, { protocolVersion: d.protocol, reconnectPeriod: 0 });
      const fleetView = await FleetView.open(client, { root: ROOT });
      try {
        await using dashboard = await startDashboard({ view: fleetView, addr: "127.0.0.1:0" });
        await using browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
        const page = await browser.newPage();
        await page.goto(dashboard.url);
        await page.waitForFunction(
          (id) => document.querySelector(`tr[data-device="${id}"] td[data-field="txid"]`)?.textContent?.length === 16,
          DEVICE,
          { timeout: 10_000 },
        );
        const shown = await page.$eval(`tr[data-device="${DEVICE}"]`, (tr) => {
          const text = (field: string) => tr.querySelector(`td[data-field="${field}"]`)?.textContent ?? null;
          return {
            state: tr.getAttribute("data-state"),
            online: tr.getAttribute("data-online"),
            cell: text("state"),
            seen: text("seen"),
            data: text("data"),
            txid: text("txid"),
            color: getComputedStyle(tr.querySelector('td[data-field="state"]')).color,
          };
        });
        expect(shown).toMatchObject({ state: "offline", cell: "offline (lost)", online: "false", txid: lastTele.txid });
        expect(shown.seen).toMatch(/^\d+ s ago$/);
        expect(shown.data).toMatch(/^\d+ s old$/);
        // Not the green of ok (#1a7f37).
        expect(shown.color).not.toBe("rgb(26, 127, 55)");
        expect(await page.textContent("#summary")).toMatch(
          /^1 device, 1 database: 1 offline \u00b7 0 ok \u00b7 oldest data \d+ s \(/,
        );
      } finally {
        await fleetView.close();
        await client.endAsync();
      }
    } finally {
      await d.watch.client.endAsync();
      if (agent.proc.exitCode === null) await agent.kill();
    }
  }, 90_000);
});
