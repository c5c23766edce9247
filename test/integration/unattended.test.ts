/**
 * Unattended devices never fail silently (issue #12), with the real agent,
 * s3rver and an MQTT broker:
 * - first boot with the bucket missing: capture goes into the spool at
 *   once, the failure shows in `status --json`, `/metrics` and the
 *   retained MQTT status within 10 s, and once the bucket exists every
 *   commit since the first boot restores;
 * - wrong credentials: the same reporting, and the dashboard in headless
 *   Chromium (that part skips, saying why, without Chromium);
 * - a second agent on the same replica (same device ID and prefix, another
 *   database; then a cloned state directory) is refused before it writes,
 *   loudly, and the original history stays restorable and verifies;
 *   `litefleet takeover` then makes the second one the writer.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { chromium } from "playwright-core";
import { LocalStore } from "../../src/agent/local-store.ts";
import type { AgentStatus } from "../../src/protocol/agent-status.ts";
import { startDashboard } from "../../src/fleet/dashboard/server.ts";
import { FleetView } from "../../src/fleet/fleet-view.ts";
import { DEFAULT_TOPIC_ROOT, deviceTopics } from "../../src/protocol/topics.ts";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import { txid } from "../../src/ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../../src/replica/client.ts";
import { createReplicaClient } from "../../src/replica/registry.ts";
import { parseReplicaUrl } from "../../src/replica/url.ts";
import { listAllLtxFiles } from "../../src/restore/planner.ts";
import { freePort, startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { watchDevice } from "../harness/device-watch.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { startTcpProxy } from "../harness/tcp-proxy.ts";
import { imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const CHROMIUM =
  Bun.which("chromium") ??
  Bun.which("chromium-browser") ??
  ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ??
  null;

/** The page's `document`, as far as the function run in the page uses it (no DOM types here). */
declare const document: {
  querySelector(selector: string): { readonly textContent: string | null } | null;
};

let broker: MqttBroker;
beforeAll(async () => {
  broker = await startMqttBroker();
});
afterAll(async () => {
  await broker.stop();
});

async function until<T>(
  what: string,
  find: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  log?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${log ? `\n${log()}` : ""}`);
    await Bun.sleep(100);
  }
}

/** One device: its config file, database, replica and local endpoints. */
interface Device {
  readonly id: string;
  readonly cfg: string;
  readonly db: string;
  readonly url: string;
  /** The agent's environment (its credentials). */
  readonly env: Record<string, string>;
  /** The environment of CLI commands that read the replica (the right credentials). */
  readonly cliEnv: Record<string, string>;
  readonly statusAddr: string;
  status(): Promise<AgentStatus>;
  metrics(): Promise<string>;
  replica(): Promise<ReplicaClient>;
}

async function device(
  dir: string,
  s3: S3Server,
  options: { id: string; bucket: string; accessKeyId?: string; brokerUrl?: string },
): Promise<Device> {
  const db = join(dir, "app.db");
  const statusAddr = `127.0.0.1:${await freePort()}`;
  const metricsAddr = `127.0.0.1:${await freePort()}`;
  const url = `s3://${options.bucket}/${options.id}/app.db?endpoint=${s3.endpoint}`;
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(
    cfg,
    [
      `device: { id: ${options.id} }`,
      `status: { addr: "${statusAddr}" }`,
      `metrics: { addr: "${metricsAddr}" }`,
      "mqtt:",
      `  url: ${options.brokerUrl ?? broker.url}`,
      `  protocol: ${broker.kind === "mosquitto" ? "5" : '"3.1.1"'}`,
      "  status-interval: 1s",
      `  state-dir: ${join(dir, "fleet-state")}`,
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 100ms",
      "    replica:",
      `      url: ${url}`,
      "      access-key-id: $S3_KEY",
      "      secret-access-key: $S3_SECRET",
      "      sync-interval: 200ms",
    ].join("\n"),
  );
  const env = { S3_KEY: options.accessKeyId ?? s3.accessKeyId, S3_SECRET: s3.secretAccessKey };
  const cliEnv = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  return {
    id: options.id,
    cfg,
    db,
    url,
    env,
    cliEnv,
    statusAddr,
    status: async () => JSON.parse((await runCli(["status", "--json", "--addr", statusAddr])).stdout) as AgentStatus,
    metrics: async () => (await fetch(`http://${metricsAddr}/metrics`)).text(),
    replica: () => createReplicaClient(parseReplicaUrl(url), { env: cliEnv }),
  };
}

function createDb(path: string, label: string): Database {
  const app = new Database(path, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  app.run("INSERT INTO t (v) VALUES (?)", [label]);
  return app;
}

const protocolVersion = () => (broker.kind === "mosquitto" ? 5 : 4);

/** Restores `dev`'s latest state into `out`; returns its image hash (integrity checked). */
async function restoredHash(dev: Device, out: string): Promise<string> {
  const r = await runCli(["restore", "-o", out, dev.url], { env: dev.cliEnv });
  expect(r.stderr).not.toContain("Error");
  expect(r.code).toBe(0);
  expect(integrityCheck(out)).toBe("ok");
  const db = new Database(out, { readonly: true });
  try {
    return imageHash(db);
  } finally {
    db.close();
  }
}

/** The node ID (writer) of every file in the replica. */
async function writersOf(client: ReplicaClient): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const f of (await listAllLtxFiles(client)) as LtxFileInfo[]) {
    const head = decodeHeader(await client.readLtxFile(f, { offset: 0, size: HEADER_SIZE }), { path: "test" });
    out.set(`${f.level}/${f.minTxid}-${f.maxTxid}`, head.nodeId);
  }
  return out;
}

describe("a replica that fails at first boot", () => {
  test("missing bucket: capture starts at once, the failure shows everywhere within 10 s, and every commit since first boot restores once the bucket exists", async () => {
    await using dir = await makeTempDir("first-boot-");
    await using s3 = await startS3Server();
    const dev = await device(dir.path, s3, { id: "gw-first", bucket: "fleet" });
    const app = createDb(dev.db, "before the agent");
    const watch = await watchDevice(broker.url, deviceTopics("litefleet/v1", dev.id), {
      protocolVersion: protocolVersion(),
    });
    const startedAt = Date.now();
    const agent = startAgent(dev.cfg, dev.env);
    try {
      await agent.waitForLog("capture started");
      for (let i = 0; i < 30; i++) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i}`]);
      const failing = await until(
        "status --json to show the replica failing",
        async () => {
          const s = (await dev.status()).dbs[0];
          return s?.replicas[0]?.lastError ? s : undefined;
        },
        10_000,
        agent.log,
      );
      expect(failing.replicas[0]?.lastError).toMatch(/bucket/i);
      expect(failing.txid).not.toBeNull(); // capture runs
      await until(
        "the rows in the spool",
        async () => (((await dev.status()).dbs[0]?.replicas[0]?.pending.files ?? 0) > 0 ? true : undefined),
        10_000,
      );
      expect(await dev.metrics()).toMatch(/^litefleet_replica_failing\{db="[^"]+",replica="[^"]+"\} 1$/m);
      await until(
        "the retained status in error",
        () => watch.statuses.find((s) => s.dbs?.[0]?.state === "error" && /bucket/i.test(s.dbs[0].lastError ?? "")),
        10_000,
      );
      expect(Date.now() - startedAt).toBeLessThan(12_000);
      expect(agent.log()).toContain("capturing into the local spool meanwhile");

      // The bucket appears: what the spool holds goes out.
      await s3.createBucket("fleet");
      const expected = imageHash(app);
      app.close();
      expect((await runCli(["sync", "--addr", dev.statusAddr, "--timeout", "30"])).code).toBe(0);
      await agent.stop();

      const files = await listAllLtxFiles(await dev.replica());
      // Every capture since first boot: the first state as the snapshot 1-1 (issue #13), level 0 after it.
      expect(files.filter((f) => f.level === 9).map((f) => [f.minTxid, f.maxTxid])).toContainEqual([txid(1), txid(1)]);
      expect(files.find((f) => f.level === 0)?.minTxid).toBe(txid(2));
      expect(await restoredHash(dev, join(dir.path, "restored.db"))).toBe(expected);
    } finally {
      await agent.kill().catch(() => {});
      await watch.client.endAsync();
    }
  }, 60_000);

  test("wrong credentials: the error shows in status --json, /metrics, the retained MQTT status and the dashboard (Chromium) within 10 s", async () => {
    await using dir = await makeTempDir("bad-creds-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const dev = await device(dir.path, s3, { id: "gw-creds", bucket: "fleet", accessKeyId: "NOT-A-KEY" });
    const app = createDb(dev.db, "x");
    const watch = await watchDevice(broker.url, deviceTopics("litefleet/v1", dev.id), {
      protocolVersion: protocolVersion(),
    });
    const agent = startAgent(dev.cfg, dev.env);
    try {
      await agent.waitForLog("capture started");
      const startedAt = Date.now();
      const s = await until(
        "status --json to show the error",
        async () => (await dev.status()).dbs[0]?.replicas[0]?.lastError ?? undefined,
        10_000,
        agent.log,
      );
      expect(s).toMatch(/credential|signature|access key/i);
      expect(await dev.metrics()).toMatch(/^litefleet_replica_failing\{db="[^"]+",replica="[^"]+"\} 1$/m);
      await until(
        "the retained status in error",
        () => watch.statuses.find((m) => m.dbs?.[0]?.state === "error"),
        10_000,
      );
      if (CHROMIUM === null) {
        console.log(
          "dashboard part skipped: no chromium or chromium-browser on PATH or in /usr/bin (Debian: apt-get install chromium)",
        );
      } else {
        const client = await mqtt.connectAsync(broker.url, { protocolVersion: protocolVersion(), reconnectPeriod: 0 });
        const view = await FleetView.open(client, { root: DEFAULT_TOPIC_ROOT });
        try {
          await using dashboard = await startDashboard({ view, addr: "127.0.0.1:0" });
          await using browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
          const page = await browser.newPage();
          await page.goto(dashboard.url);
          await page.waitForFunction(
            (id) => document.querySelector(`tr[data-device="${id}"] td[data-field="state"]`)?.textContent === "error",
            dev.id,
            { timeout: 10_000 },
          );
          expect(
            await page.$eval(`tr[data-device="${dev.id}"] td[data-field="error"]`, (td) => td.textContent),
          ).toMatch(/credential|access key/i);
        } finally {
          await view.close();
          await client.endAsync();
        }
      }
      expect(Date.now() - startedAt).toBeLessThan(10_000);
      app.close();
    } finally {
      await agent.kill().catch(() => {});
      await watch.client.endAsync();
    }
  }, 60_000);
});

describe("a second agent on the same replica", () => {
  test("another database under the same device ID is refused before it writes; the original history stays restorable and verifies; takeover makes it the writer", async () => {
    await using dirA = await makeTempDir("clone-a-");
    await using dirB = await makeTempDir("clone-b-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const a = await device(dirA.path, s3, { id: "gw-07", bucket: "fleet" });
    const b = await device(dirB.path, s3, { id: "gw-07", bucket: "fleet" });
    const appA = createDb(a.db, "the original device");
    const agentA = startAgent(a.cfg, a.env);
    const watch = await watchDevice(broker.url, deviceTopics("litefleet/v1", "gw-07"), {
      protocolVersion: protocolVersion(),
    });
    const appB = createDb(b.db, "the clone");
    appB.run("INSERT INTO t (v) VALUES ('only on the clone')");
    let agentB: ReturnType<typeof startAgent> | undefined;
    try {
      await agentA.waitForLog("capture started");
      appA.run("INSERT INTO t (v) VALUES ('a1')");
      expect((await runCli(["sync", "--addr", a.statusAddr, "--timeout", "20s"])).code).toBe(0);
      const before = await writersOf(await a.replica());
      agentB = startAgent(b.cfg, b.env);

      // B: refused, loudly, before any file of it lands.
      await agentB.waitForLog("capture started");
      const logB = agentB.log;
      const conflict = await until(
        "B's status to show the conflict",
        async () => (await b.status()).dbs[0]?.replicas[0]?.conflict ?? undefined,
        10_000,
        logB,
      );
      expect(conflict).toContain("did not write");
      expect(agentB.log()).toContain("second writer");
      expect(await b.metrics()).toMatch(/^litefleet_replica_conflict\{db="[^"]+",replica="[^"]+"\} 1$/m);
      await until("a replica.conflict event", () => watch.events.find((e) => e.event === "replica.conflict"), 10_000);
      const sync = await runCli(["sync", "--addr", b.statusAddr, "--timeout", "20s"]);
      expect(sync.code).not.toBe(0);
      expect(await writersOf(await a.replica())).toEqual(before);

      // A goes on; its history restores and verifies.
      appA.run("INSERT INTO t (v) VALUES ('a2')");
      expect((await runCli(["sync", "--addr", a.statusAddr, "--timeout", "20s"])).code).toBe(0);
      expect(await restoredHash(a, join(dirA.path, "restored.db"))).toBe(imageHash(appA));
      const verify = await runCli(["verify", "--config", a.cfg, a.db], { env: a.env });
      expect(verify.code).toBe(0);

      // The operator retires A and makes B the writer; takeover refuses while B's agent runs.
      expect((await runCli(["takeover", "--config", b.cfg], { env: b.env })).code).toBe(2);
      appA.close();
      await agentA.stop();
      await agentB.stop();
      const running = await runCli(["takeover", "--config", b.cfg], { env: b.env });
      expect(running.code).toBe(0);
      agentB = startAgent(b.cfg, b.env);
      await agentB.waitForLog("takeover: this database continues on top");
      appB.run("INSERT INTO t (v) VALUES ('after the takeover')");
      expect((await runCli(["sync", "--addr", b.statusAddr, "--timeout", "20s"])).code).toBe(0);
      expect(await restoredHash(b, join(dirB.path, "restored.db"))).toBe(imageHash(appB));
      expect((await runCli(["verify", "--config", b.cfg, b.db], { env: b.env })).code).toBe(0);
      appB.close();
      await agentB.stop();
    } finally {
      await agentA.kill().catch(() => {});
      await agentB?.kill().catch(() => {});
      await watch.client.endAsync();
    }
  }, 90_000);

  test("a cloned state directory: the copy that uploads second is refused, and the replica restores the first one's data", async () => {
    await using dirA = await makeTempDir("clone-state-a-");
    await using dirB = await makeTempDir("clone-state-b-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const a = await device(dirA.path, s3, { id: "gw-08", bucket: "fleet" });
    const b = await device(dirB.path, s3, { id: "gw-08", bucket: "fleet" });
    const appA = createDb(a.db, "before the image was cloned");
    let agentA = startAgent(a.cfg, a.env);
    await agentA.waitForLog("capture started");
    expect((await runCli(["sync", "--addr", a.statusAddr, "--timeout", "20s"])).code).toBe(0);
    appA.close();
    await agentA.stop();
    // The SD card is cloned: the database and the agent's state.
    cpSync(a.db, b.db);
    cpSync(join(dirA.path, ".app.db-litefleet"), join(dirB.path, ".app.db-litefleet"), { recursive: true });
    expect(LocalStore.open(join(dirB.path, ".app.db-litefleet")).writerIds()).toEqual(
      LocalStore.open(join(dirA.path, ".app.db-litefleet")).writerIds(),
    );

    agentA = startAgent(a.cfg, a.env);
    let agentB: ReturnType<typeof startAgent> | undefined;
    try {
      await agentA.waitForLog("capture started");
      const dbA = new Database(a.db);
      dbA.run("INSERT INTO t (v) VALUES ('written by A after cloning')");
      expect((await runCli(["sync", "--addr", a.statusAddr, "--timeout", "20s"])).code).toBe(0);
      const expected = imageHash(dbA);

      agentB = startAgent(b.cfg, b.env);
      await agentB.waitForLog("capture started");
      const dbB = new Database(b.db);
      dbB.run("INSERT INTO t (v) VALUES ('written by B after cloning')");
      dbB.close();
      const conflict = await until(
        "B's status to show the conflict",
        async () => (await b.status()).dbs[0]?.replicas[0]?.conflict ?? undefined,
        10_000,
        agentB.log,
      );
      expect(conflict).toContain("written by writer");
      // The clone's MQTT client has the same ID: the broker drops one for the other, and that is said.
      await until(
        "the MQTT client-ID warning",
        () =>
          /another client may use the same client ID/.test(agentA.log() + (agentB?.log() ?? "")) ? true : undefined,
        20_000,
        () => agentA.log() + agentB?.log(),
      );
      expect((await runCli(["sync", "--addr", b.statusAddr, "--timeout", "20s"])).code).not.toBe(0);

      dbA.close();
      expect(await restoredHash(a, join(dirA.path, "restored.db"))).toBe(expected);
      expect((await runCli(["verify", "--config", a.cfg, a.db], { env: a.env })).code).toBe(0);
      await agentB.stop();
      await agentA.stop();
    } finally {
      await agentA.kill().catch(() => {});
      await agentB?.kill().catch(() => {});
    }
  }, 90_000);

  test("SIGTERM while the MQTT link is black-holed still exits promptly, with the final upload done", async () => {
    await using dir = await makeTempDir("stalled-broker-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const [host, port] = new URL(broker.url).host.split(":") as [string, string];
    await using proxy = await startTcpProxy({ target: { host, port: Number(port) } });
    const dev = await device(dir.path, s3, {
      id: "gw-stall",
      bucket: "fleet",
      brokerUrl: `mqtt://127.0.0.1:${proxy.port}`,
    });
    const app = createDb(dev.db, "x");
    const agent = startAgent(dev.cfg, dev.env);
    try {
      await agent.waitForLog("mqtt connected");
      await agent.waitForLog("capture started");
      app.run("INSERT INTO t (v) VALUES ('before the stop')");
      const expected = imageHash(app);
      app.close();
      proxy.stall();
      const stoppedAt = Date.now();
      await agent.stop(); // exit 0
      expect(Date.now() - stoppedAt).toBeLessThan(15_000);
      expect(await restoredHash(dev, join(dir.path, "restored.db"))).toBe(expected);
    } finally {
      await agent.kill().catch(() => {});
    }
  }, 60_000);
});
