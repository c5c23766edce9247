/**
 * `litefleet fleet send --select …` on a small simulated fleet over a real
 * broker (mosquitto when installed): devices with the real command checks
 * and runner (`test/harness/command-device.ts`), one offline device (its
 * retained Will and nothing listening), and the CLI selecting from the
 * retained statuses as `fleet status` does.
 *
 * @module
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { CommandError } from "../../src/fleet/command-error.ts";
import { encodeMessage, type StatusMessage } from "../../src/protocol/messages.ts";
import { generateOperatorKey } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { runCli } from "../harness/cli.ts";
import { startCommandDevice, type CommandDevice } from "../harness/command-device.ts";
import { dbSummary, replicaSummary } from "../harness/fleet-summaries.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { makeTempDir, type TempDir } from "../harness/temp-dir.ts";

const ROOT = "sim/v1";
const operator = generateOperatorKey();

let broker: MqttBroker;
let dir: TempDir;
let keyFile: string;
const devices: CommandDevice[] = [];

beforeAll(async () => {
  broker = await startMqttBroker();
  dir = await makeTempDir("lf-send-many-");
  keyFile = join(dir.path, "operator.key");
  writeFileSync(keyFile, operator.privatePem, { mode: 0o600 });
  const sync = { run: async () => ({ dbs: [] }) };
  const failingSync = {
    run: async () => {
      throw new CommandError("Cannot sync: replica 's3' fails: ECONNREFUSED", { code: "replica" });
    },
  };
  const common = { brokerUrl: broker.url, root: ROOT, operatorKey: operator.publicKey };
  devices.push(
    await startCommandDevice({ ...common, id: "gw-01", commands: { sync } }),
    await startCommandDevice({
      ...common,
      id: "gw-02",
      commands: { sync: failingSync },
      dbs: [dbSummary({ state: "error", replicas: [replicaSummary({ lastError: "ECONNREFUSED" })] })],
    }),
    await startCommandDevice({ ...common, id: "gw-03", agent: "0.0.9", commands: { sync } }),
  );
  // lab-01 is offline: its retained status is its Will, and nothing reads its commands.
  const will: StatusMessage = {
    v: 1,
    type: "status",
    device: "lab-01",
    online: false,
    session: 3,
    ts: Date.now(),
    reason: "lost",
  };
  const other = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  await other.publishAsync(deviceTopics(ROOT, "lab-01").status, encodeMessage(will), { qos: 1, retain: true });
  await other.endAsync();
});

afterAll(async () => {
  for (const d of devices) await d[Symbol.asyncDispose]();
  await dir[Symbol.asyncDispose]();
  await broker.stop();
});

function send(args: string[], options: { isTty?: boolean } = {}) {
  return runCli(
    [
      "fleet",
      "send",
      "--broker",
      broker.url,
      "--protocol",
      broker.kind === "mosquitto" ? "5" : "3.1.1",
      "--topic-root",
      ROOT,
      "--operator-key",
      keyFile,
      "--wait",
      "500ms",
      "--timeout",
      "3s",
      ...args,
    ],
    options,
  );
}

interface Report {
  command: string;
  summary: Record<string, number>;
  devices: {
    device: string;
    id: string | null;
    outcome: string;
    code: string | null;
    error: string | null;
    exitCode: number;
  }[];
}

describe("fleet send --select", () => {
  test("sends one command per selected device and reports each outcome; mixed outcomes exit 4", async () => {
    const res = await send(["--select", "search=gw", "sync", "--json", "--rate", "50/s"]);
    expect(res.code).toBe(4);
    const report = JSON.parse(res.stdout) as Report;
    expect(report.summary).toEqual({ total: 3, done: 2, failed: 1, rejected: 0, noReply: 0 });
    // In the order of `fleet status`: problems first (gw-02's replica fails), then by id.
    expect(report.devices.map((d) => [d.device, d.outcome, d.code, d.exitCode])).toEqual([
      ["gw-02", "failed", "replica", 1],
      ["gw-01", "done", null, 0],
      ["gw-03", "done", null, 0],
    ]);
    expect(new Set(report.devices.map((d) => d.id)).size).toBe(3);
    // Not a terminal: one summary line per change, ending with the totals.
    const lines = res.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(lines.at(-1)).toBe("sent 3/3  accepted 3  done 2  failed 1  rejected 0  no reply 0");
    expect(devices.map((d) => d.ran.length)).toEqual([1, 1, 1]);
  }, 30_000);

  test("selects by state as 'fleet status' derives it; the outcome table puts problems first", async () => {
    const res = await send(["--select", "state=error,offline", "sync"]);
    // gw-02 failed (1), lab-01 no reply (6): mixed.
    expect(res.code).toBe(4);
    const rows = res.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => r.slice(0, 3))).toEqual([
      ["DEVICE", "OUTCOME", "CODE"],
      ["gw-02", "failed", "replica"],
      ["lab-01", "no reply", "-"],
    ]);
    expect(res.stdout).toContain("Cannot reach device 'lab-01'");
  }, 30_000);

  test("on a terminal the summary is one line rewritten in place", async () => {
    const res = await send(["--devices", "gw-01,gw-03", "sync"], { isTty: true });
    expect(res.code).toBe(0);
    expect(res.stderr.startsWith("\r\x1b[Ksent 1/2")).toBe(true);
    expect(res.stderr.split("\n")).toEqual([expect.stringContaining("\r\x1b[Ksent 2/2  accepted 2  done 2"), ""]);
    expect(res.stderr.endsWith("\r\x1b[Ksent 2/2  accepted 2  done 2  failed 0  rejected 0  no reply 0\n")).toBe(true);
  }, 30_000);

  test("every device alike exits as a single send would: all refused 7, all unreachable 6", async () => {
    const refused = await send(["--devices", "gw-01,gw-03", "frobnicate", "--json"]);
    expect(refused.code).toBe(7);
    expect((JSON.parse(refused.stdout) as Report).devices.map((d) => d.code)).toEqual([
      "unknown-command",
      "unknown-command",
    ]);
    const offline = await send(["--select", "state=offline", "sync"]);
    expect(offline.code).toBe(6);
  }, 30_000);

  test("--dry-run lists the selection and sends nothing; a bad selector is a usage error", async () => {
    const before = devices.map((d) => d.ran.length);
    const res = await send(["--select", "version=0.0.9", "sync", "--dry-run", "--json"]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([{ device: "gw-03", state: "ok", agent: "0.0.9" }]);
    expect(devices.map((d) => d.ran.length)).toEqual(before);
    const bad = await send(["--select", "state=broken", "sync"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Cannot filter by state 'broken'");
    const both = await send(["gw-01", "sync", "--select", "state=ok"]);
    expect(both.code).toBe(2);
  }, 30_000);

  test("an explicit list that names no device is a usage error, not an empty success", async () => {
    await using dir = await makeTempDir("lf-send-empty-");
    const file = join(dir.path, "ids.txt");
    writeFileSync(file, "# nothing today\n\n");
    const before = devices.map((d) => d.ran.length);
    const fromFile = await send(["--devices-file", file, "sync"]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toStartWith(
      `Error: Cannot send: --devices-file '${file}' names no device (only blank lines and # comments)\n`,
    );
    const empty = await send(["--devices", "", "sync"]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toStartWith("Error: Cannot send: --devices names no device\n");
    expect(devices.map((d) => d.ran.length)).toEqual(before);
  }, 30_000);
});
