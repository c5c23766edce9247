/**
 * Issue #16: every command writes all of its output before it exits, when
 * stdout is a pipe whose reader is slower than the writer (the pipe holds
 * 64 KiB; `process.exit()` used to drop the rest: `fleet status --json` on
 * 2,000 devices ended after 192 KiB, exit 0), a file, or a reader that
 * closes early (`| head`: silent, exit 141), and fails with exit 1 when
 * stdout cannot be written (/dev/full).
 *
 * Each command runs as a real process, `bun src/cli/main.ts` and the
 * compiled binary (built once per test process, shared with
 * compiled-binary.test.ts), through `bash -c 'litefleet … | slow reader'`,
 * and the whole output must parse:
 *
 * - `fleet status --json`: 5,000 retained statuses in the test broker (> 1 MiB);
 * - `ltx --json`: a file replica of 20,000 LTX files (> 2 MiB);
 * - `aggregate --json`: 20 devices merged and 5,000 with no replica yet (> 1 MiB);
 * - `databases --json`: a config of 4,500 databases (> 1 MiB);
 * - `status --json`, `verify --json`, `fleet send --json`: one running agent
 *   (small outputs, through the same exit path).
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { encodeMessage, type StatusMessage } from "../../src/protocol/messages.ts";
import { generateOperatorKey } from "../../src/protocol/signing.ts";
import { formatLtxFileName } from "../../src/ltx/file-name.ts";
import { txid } from "../../src/ltx/txid.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { freePort, startAgent, type AgentProcess } from "../harness/agent-process.ts";
import { CLI_ENTRY } from "../harness/cli.ts";
import { compiledBinary } from "../harness/compiled-binary.ts";
import { fastDbYaml } from "../harness/config.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { makeTempDir, type TempDir } from "../harness/temp-dir.ts";

const READER = fileURLToPath(new URL("../fixtures/slow-reader-fixture.ts", import.meta.url));
const MIB = 1024 * 1024;
const BULK_ROOT = "litefleet/bulk";
const BULK_DEVICES = 5_000;
const LTX_FILES = 20_000;
const REAL_DEVICES = 20;
const EMPTY_DEVICES = 5_000;
const CONFIG_DBS = 4_500;
/** Long names (as sites name their gateways) make 5,000 devices or 4,500 databases over 1 MiB; fewer files and directories to create. */
const LONG = "site-eu-west-warehouse-north-gateway-rack-07-unit";

/** How a run's stdout is consumed. */
type Sink = "slow-reader" | "head" | "file" | "full-disk";

/** What a run left behind. */
interface PipedRun {
  /** Exit status of the CLI (not of the reader). */
  readonly code: number;
  /** Everything the reader (or file) received. */
  readonly stdout: string;
  readonly stderr: string;
}

let dir: TempDir;
let broker: MqttBroker;
let agent: AgentProcess;
let runs = 0;
const paths = { ltxReplica: "", fleet: "", dbsConfig: "", agentConfig: "", agentDb: "", operatorKey: "" };

/** Runs `command … args` under bash with stdout into `sink`, as an operator's script would. */
async function piped(
  command: readonly string[],
  args: readonly string[],
  sink: Sink = "slow-reader",
): Promise<PipedRun> {
  const n = runs++;
  const out = join(dir.path, `run-${n}.out`);
  const err = join(dir.path, `run-${n}.err`);
  const script = {
    "slow-reader": `"$@" 2>"$ERR" | "$BUN" "$READER" "$OUT"; echo "\${PIPESTATUS[0]} \${PIPESTATUS[1]}"`,
    head: `"$@" 2>"$ERR" | head -c 100 >"$OUT"; echo "\${PIPESTATUS[0]} \${PIPESTATUS[1]}"`,
    file: `"$@" 2>"$ERR" >"$OUT"; echo "$? 0"`,
    "full-disk": `: >"$OUT"; "$@" 2>"$ERR" >/dev/full; echo "$? 0"`,
  }[sink];
  const proc = Bun.spawn(["bash", "-c", script, "piped", ...command, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ERR: err, OUT: out, BUN: process.execPath, READER },
    stdout: "pipe",
    stderr: "inherit",
  });
  const [statuses] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const [code, readerCode] = statuses.trim().split(" ").map(Number);
  expect(readerCode).toBe(0);
  return { code: code ?? -1, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
}

/** MQTT 5 with mosquitto; 3.1.1 with aedes (no mosquitto installed), which speaks nothing newer. */
function mqttProtocol(): "5" | "3.1.1" {
  return broker.kind === "mosquitto" ? "5" : "3.1.1";
}

/** 5,000 retained device statuses under {@linkcode BULK_ROOT}, published directly. */
async function publishBulkStatuses(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: mqttProtocol() === "5" ? 5 : 4, reconnectPeriod: 0 });
  try {
    const now = Date.now();
    for (let i = 0; i < BULK_DEVICES; i++) {
      const device = `gw-${String(i).padStart(5, "0")}`;
      const status: StatusMessage = {
        v: 1,
        type: "status",
        device,
        online: i % 7 !== 0,
        session: 1 + (i % 5),
        ts: now,
        ...(i % 7 === 0 ? { reason: "lost" as const } : {}),
        agent: "0.1.0",
        startedAt: now - 3_600_000,
        dbs: [
          {
            path: "/var/lib/app/app.db",
            txid: txidHex(i + 1),
            state: "ok",
            pendingFiles: 0,
            pendingBytes: 0,
            lagMs: 0,
            lastUploadAt: now - 1000,
            lastError: null,
            size: 4096 * (i + 1),
            captureError: null,
            diskFull: false,
            replicas: [],
          },
          {
            path: "/var/lib/app/metrics.db",
            txid: txidHex(i + 7),
            state: "pending",
            pendingFiles: 2,
            pendingBytes: 8192,
            lagMs: 1500,
            lastUploadAt: now - 5000,
            lastError: null,
            size: 65536,
            captureError: null,
            diskFull: false,
            replicas: [],
          },
        ],
        disk: { free: 1_000_000_000, total: 8_000_000_000 },
      };
      void client.publishAsync(`${BULK_ROOT}/${device}/status`, encodeMessage(status), { qos: 0, retain: true });
    }
    // Messages of one connection are handled in order: once this one is acknowledged the broker holds them all.
    await client.publishAsync(`${BULK_ROOT}/_probe`, "done", { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

function txidHex(n: number): string {
  return n.toString(16).padStart(16, "0");
}

/** A file replica of 20,000 empty LTX files (`ltx` lists names and sizes only). */
function writeLtxListing(replica: string): void {
  const level0 = join(replica, "ltx", "0");
  mkdirSync(level0, { recursive: true });
  for (let i = 1; i <= LTX_FILES; i++) writeFileSync(join(level0, formatLtxFileName(txid(i), txid(i))), "");
}

/** 20 devices with a one-snapshot replica of a small database, and 5,000 that have uploaded nothing yet. */
async function writeFleet(fleet: string): Promise<void> {
  const app = new Database(":memory:");
  app.exec("CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL)");
  for (let i = 0; i < 50; i++) app.run("INSERT INTO readings (sensor, value) VALUES (?, ?)", [`s${i % 5}`, i * 1.5]);
  const image = new Uint8Array(app.serialize());
  app.close();
  for (let i = 0; i < REAL_DEVICES; i++) {
    const client = new FileReplicaClient({
      type: "file",
      path: join(fleet, `dev-${String(i).padStart(3, "0")}`, "app.db"),
    });
    await client.init();
    await writeLtxChain(client, [{ image, timestamp: Date.now() }], { pageSize: 4096 });
  }
  for (let i = 0; i < EMPTY_DEVICES; i++) mkdirSync(join(fleet, `${LONG}-${String(i).padStart(5, "0")}`));
}

/** A config naming 4,500 databases. */
function writeDbsConfig(cfg: string, root: string): void {
  const lines = ["dbs:"];
  for (let i = 0; i < CONFIG_DBS; i++) {
    const name = `${LONG}-${String(i).padStart(5, "0")}`;
    lines.push(
      `  - path: ${join(root, "data", `${name}.db`)}`,
      "    replica:",
      `      path: ${join(root, "replicas", name)}`,
    );
  }
  writeFileSync(cfg, `${lines.join("\n")}\n`);
}

beforeAll(async () => {
  dir = await makeTempDir("piped-output-");
  broker = await startMqttBroker();
  paths.ltxReplica = join(dir.path, "ltx-replica");
  paths.fleet = join(dir.path, "fleet");
  paths.dbsConfig = join(dir.path, "dbs.yml");
  await Promise.all([publishBulkStatuses(broker.url), writeFleet(paths.fleet)]);
  writeLtxListing(paths.ltxReplica);
  writeDbsConfig(paths.dbsConfig, dir.path);

  // One agent (status server, MQTT, operator commands) for status, verify and fleet send.
  const op = generateOperatorKey();
  paths.operatorKey = join(dir.path, "operator.key");
  writeFileSync(paths.operatorKey, op.privatePem, { mode: 0o600 });
  paths.agentDb = join(dir.path, "app.db");
  const app = new Database(paths.agentDb, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  for (let i = 0; i < 100; i++) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i}`]);
  app.close();
  paths.agentConfig = join(dir.path, "agent.yml");
  writeFileSync(
    paths.agentConfig,
    [
      "device: { id: dev-1 }",
      `status: { addr: "127.0.0.1:${await freePort()}" }`,
      "mqtt:",
      `  url: ${broker.url}`,
      `  protocol: "${mqttProtocol()}"`,
      "  status-interval: 1s",
      `  state-dir: ${join(dir.path, "fleet-state")}`,
      "fleet:",
      `  operator-keys: ["${op.publicKey}"]`,
      ...fastDbYaml(paths.agentDb, join(dir.path, "agent-replica")),
    ].join("\n"),
  );
  agent = startAgent(paths.agentConfig);
  await agent.waitForLog("mqtt connected");
  await agent.waitForLog("capture started");
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await broker?.stop();
  await dir?.[Symbol.asyncDispose]();
});

const LAUNCHERS: ReadonlyArray<{ name: string; command: () => Promise<string[]> }> = [
  { name: "bun src/cli/main.ts", command: async () => [process.execPath, CLI_ENTRY] },
  { name: "compiled binary", command: async () => [await compiledBinary()] },
];

describe.each(LAUNCHERS)("issue #16: whole output through a slow pipe, $name", ({ command }) => {
  test("fleet status --json: 5,000 retained statuses", async () => {
    const run = await piped(await command(), [
      "fleet",
      "status",
      "--json",
      "--broker",
      broker.url,
      "--protocol",
      mqttProtocol(),
      "--topic-root",
      BULK_ROOT,
      "--wait",
      "2s",
    ]);
    expect(run.stderr).not.toContain("Error");
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(MIB);
    const devices = JSON.parse(run.stdout) as { device: string; dbs: unknown[] }[];
    expect(devices.length).toBe(BULK_DEVICES);
    expect(devices.at(-1)).toMatchObject({ device: `gw-${String(BULK_DEVICES - 1).padStart(5, "0")}`, dbs: [{}, {}] });
  }, 30_000);

  test("ltx --json: 20,000 LTX files", async () => {
    const run = await piped(await command(), ["ltx", "--json", paths.ltxReplica]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(2 * MIB);
    const files = JSON.parse(run.stdout) as { max_txid: string }[];
    expect(files.length).toBe(LTX_FILES);
    expect(files.at(-1)?.max_txid).toBe(txidHex(LTX_FILES));
  }, 30_000);

  test("aggregate --json: 5,020 device reports (exit 4: 5,000 devices have no replica yet, the others are merged)", async () => {
    const out = join(dir.path, `central-${runs}.db`);
    const run = await piped(await command(), [
      "aggregate",
      "--json",
      "--fleet",
      paths.fleet,
      "--out",
      out,
      "--concurrency",
      "32",
    ]);
    expect(run.stdout.length).toBeGreaterThan(MIB);
    const report = JSON.parse(run.stdout) as {
      discovered: number;
      devices: { device: string; error?: string; merge?: unknown }[];
    };
    expect(report.discovered).toBe(REAL_DEVICES + EMPTY_DEVICES);
    expect(report.devices.filter((d) => d.merge !== undefined).length).toBe(REAL_DEVICES);
    expect(report.devices.filter((d) => d.error !== undefined).length).toBe(EMPTY_DEVICES);
    expect(run.code).toBe(4);
  }, 30_000);

  test("databases --json: 4,500 databases", async () => {
    const run = await piped(await command(), ["databases", "--json", "--config", paths.dbsConfig]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.length).toBeGreaterThan(MIB);
    expect((JSON.parse(run.stdout) as unknown[]).length).toBe(CONFIG_DBS);
  }, 30_000);

  test("status --json, verify --json and fleet send --json against a running agent", async () => {
    const cmd = await command();
    const status = await piped(cmd, ["status", "--json", "--config", paths.agentConfig]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ device: "dev-1", dbs: [{ path: paths.agentDb }] });

    const verify = await piped(cmd, ["verify", "--json", "--config", paths.agentConfig, paths.agentDb]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, agentSynced: true, db: paths.agentDb });

    const send = await piped(cmd, [
      "fleet",
      "send",
      "dev-1",
      "sync",
      "--json",
      "--broker",
      broker.url,
      "--protocol",
      mqttProtocol(),
      "--operator-key",
      paths.operatorKey,
      "--timeout",
      "30s",
    ]);
    expect(send.stderr).not.toContain("Error");
    expect(send.code).toBe(0);
    expect(send.stdout.endsWith("\n")).toBe(true);
    const replies = send.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: string });
    expect(replies[0]?.status).toBe("accepted");
    expect(replies.at(-1)?.status).toBe("done");
  }, 60_000);

  test("ltx --json into a file is whole; a reader that closes early (| head) ends it silently with 141; a full disk exits 1", async () => {
    const file = await piped(await command(), ["ltx", "--json", paths.ltxReplica], "file");
    expect(file.code).toBe(0);
    expect((JSON.parse(file.stdout) as unknown[]).length).toBe(LTX_FILES);

    const head = await piped(await command(), ["ltx", "--json", paths.ltxReplica], "head");
    expect(head.stdout.length).toBe(100);
    expect(head.stderr).toBe("");
    expect(head.code).toBe(141);

    const full = await piped(await command(), ["ltx", "--json", paths.ltxReplica], "full-disk");
    expect(full.stderr).toBe("Error: Cannot write to stdout: ENOSPC: no space left on device, write\n");
    expect(full.code).toBe(1);
  }, 30_000);
});
