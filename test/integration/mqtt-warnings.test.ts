/**
 * Issue #12: with the release binary, every MQTT-enabled agent start and
 * every `fleet` command printed
 * `(node:PID) [DEP0169] DeprecationWarning: url.parse() …` on stderr:
 * MQTT.js parses a broker URL string with `url.parse()`. Operators learn to
 * ignore a stderr that always holds a warning. Now the URL is parsed by
 * `brokerConnectOptions()` and MQTT.js gets options.
 *
 * The test runs the compiled binary (built once per test process, shared
 * with compiled-binary.test.ts): Bun, like Node, warns about `url.parse()`
 * only for callers outside `node_modules/`, so from source the warning never
 * showed, while in the binary MQTT.js is bundled code and it always did.
 * Both sides run against a real broker; their stderr must hold no warning.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { compiledBinary } from "../harness/compiled-binary.ts";
import { fastDbYaml } from "../harness/config.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { makeTempDir, type TempDir } from "../harness/temp-dir.ts";

let broker: MqttBroker;
let dir: TempDir;
let bin: string;
/** aedes speaks only MQTT 3.1.1. */
let protocol: "5" | "3.1.1";

beforeAll(async () => {
  [broker, dir, bin] = await Promise.all([startMqttBroker(), makeTempDir("mqtt-warnings-"), compiledBinary()]);
  protocol = broker.kind === "mosquitto" ? "5" : "3.1.1";
}, 120_000);

afterAll(async () => {
  await broker.stop();
  await dir[Symbol.asyncDispose]();
});

describe("no deprecation warning on MQTT paths of the binary", () => {
  test("replicate with an mqtt: section connects and stops without a warning", async () => {
    const db = join(dir.path, "app.db");
    const app = new Database(db, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY);");
    app.close();
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        "device: { id: dev-warn }",
        'status: { addr: "" }',
        "mqtt:",
        `  url: ${broker.url}`,
        `  protocol: "${protocol}"`,
        `  state-dir: ${join(dir.path, "fleet-state")}`,
        ...fastDbYaml(db, join(dir.path, "replica")),
      ].join("\n"),
    );
    const agent = Bun.spawn([bin, "replicate", "--config", cfg], { stderr: "pipe", env: { PATH: process.env.PATH } });
    let log = "";
    const reader = (async () => {
      for await (const chunk of agent.stderr) log += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 30_000;
    while (!log.includes("mqtt connected")) {
      if (agent.exitCode !== null || Date.now() > deadline) throw new Error(`the agent never connected:\n${log}`);
      await Bun.sleep(20);
    }
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    await reader;
    expect(log).not.toContain("DEP0169");
    expect(log).not.toMatch(/Warning/);
  }, 60_000);

  test("fleet status prints no warning", async () => {
    // Spawned without blocking: the in-process test broker (aedes, when mosquitto is absent) must
    // keep serving while the command connects.
    const r = Bun.spawn([bin, "fleet", "status", "--broker", broker.url, "--protocol", protocol, "--wait", "200ms"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH },
    });
    const [stderr, code] = await Promise.all([new Response(r.stderr).text(), r.exited]);
    expect(stderr).not.toContain("DEP0169");
    expect(stderr).not.toMatch(/Warning/);
    // 0: it connected and read the retained statuses (1 when it cannot connect).
    expect(code).toBe(0);
  }, 60_000);
});
