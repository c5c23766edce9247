/**
 * The JSON Schemas of docs/schemas/ against real payloads: everything the
 * agent (`litefleet replicate` with `mqtt:`) publishes to a real broker
 * (mosquitto when installed) — status, telemetry, events, replies of every
 * kind, the Will after kill -9, the stopped status —, the commands the CLI
 * publishes, and the CLI's and the dashboard's JSON (`fleet status --json`,
 * `fleet send --devices … --json`, `/api/devices`, `/api/summary`,
 * `/api/history` with the entries a real history recorder wrote).
 *
 * Along the way: every rejection of a command with a parseable id is
 * answered with its code (unsigned, another device's, over 256 KiB, `v:2`,
 * bad arguments before "accepted"), and a restore `timestamp` is taken as
 * Unix ms and as RFC 3339.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { startDashboard } from "../../src/fleet/dashboard/server.ts";
import { FleetView } from "../../src/fleet/fleet-view.ts";
import { HistoryRecorder } from "../../src/fleet/history/history-recorder.ts";
import { HistoryStore } from "../../src/fleet/history/history-store.ts";
import { generateOperatorKey, parsePrivateKey, signCommand } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fastDbYaml } from "../harness/config.ts";
import { SchemaSet } from "../harness/json-schema.ts";
import { startMqttBroker } from "../harness/mqtt-broker.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const ROOT = "litefleet/v1";
const DEVICE = "dev-1";
const topics = deviceTopics(ROOT, DEVICE);
const schemas = SchemaSet.load(new URL("../../docs/schemas/", import.meta.url).pathname);

/** Fails naming the schema, the errors and the payload. */
function expectValid(schema: string, value: unknown): void {
  const errors = schemas.validate(schema, value);
  if (errors.length > 0) throw new Error(`${schema}: ${errors.join("\n")}\n${JSON.stringify(value).slice(0, 2000)}`);
}

describe("docs/schemas", () => {
  test("real payloads of the agent, the CLI and the dashboard validate; refusals with an id are answered with their code", async () => {
    await using dir = await makeTempDir("lf-schemas-");
    await using broker = await startMqttBroker();
    const protocol = broker.kind === "mosquitto" ? "5" : "3.1.1";
    const op = generateOperatorKey();
    const signer = parsePrivateKey(op.privatePem);
    const keyFile = join(dir.path, "operator.key");
    writeFileSync(keyFile, op.privatePem, { mode: 0o600 });
    const lab = join(dir.path, "lab");
    mkdirSync(lab);
    const db = join(dir.path, "app.db");
    const app = new Database(db, { create: true });
    app.exec(
      "PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a');",
    );
    app.close();
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        `device: { id: ${DEVICE} }`,
        'status: { addr: "" }',
        "mqtt:",
        `  url: ${broker.url}`,
        `  protocol: ${protocol === "5" ? "5" : '"3.1.1"'}`,
        "  status-interval: 1s",
        "  will-delay: 0s",
        `  state-dir: ${join(dir.path, "fleet-state")}`,
        "fleet:",
        `  operator-keys: ["${op.publicKey}"]`,
        `  restore-dirs: [${lab}]`,
        ...fastDbYaml(db, join(dir.path, "replica")),
      ].join("\n"),
    );
    // Every payload under the device, raw, by topic.
    const seen: { topic: string; payload: Buffer }[] = [];
    const watcher = await mqtt.connectAsync(broker.url, {
      reconnectPeriod: 0,
      protocolVersion: protocol === "5" ? 5 : 4,
    });
    watcher.on("message", (topic, payload) => void seen.push({ topic, payload }));
    await watcher.subscribeAsync(`${ROOT}/${DEVICE}/#`, { qos: 1 });
    const json = (kind: string) =>
      seen
        .filter((m) => m.topic.startsWith(`${ROOT}/${DEVICE}/${kind}`) && m.payload.length > 0)
        .map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
    const replyTo = (id: string) => json(`res/${id}`);
    const waitFor = async (what: string, cond: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
        await Bun.sleep(20);
      }
    };
    const cli = (args: string[]) => runCli(["fleet", ...args, "--broker", broker.url, "--protocol", protocol]);
    const send = (args: string[]) => cli(["send", ...args, "--operator-key", keyFile, "--json", "--timeout", "20s"]);

    let refusals: [string, object, string][] = [];
    let agent = startAgent(cfg);
    try {
      await agent.waitForLog("snapshot uploaded");
      await waitFor(
        "status, telemetry and an event",
        () =>
          json("status").some(
            (s) => s["online"] === true && Array.isArray(s["dbs"]) && (s["dbs"] as unknown[]).length > 0,
          ) &&
          json("tele").length > 0 &&
          json("evt").length > 0,
      );
      // The first status of a database may come before its first sync: txid null.
      for (const s of json("status")) expectValid("status.schema.json", s);

      // Replies of each kind, from the CLI's commands.
      const sync = await send([DEVICE, "sync"]);
      expect(sync.code).toBe(0);
      const restoreMs = await send([
        DEVICE,
        "restore",
        "--db",
        db,
        "--output",
        join(lab, "ms.db"),
        "--timestamp",
        String(Date.now()),
      ]);
      expect(restoreMs.code).toBe(0);
      const restoreIso = await send([
        DEVICE,
        "restore",
        "--db",
        db,
        "--output",
        join(lab, "iso.db"),
        "--timestamp",
        new Date().toISOString(),
      ]);
      expect(restoreIso.code).toBe(0);
      const outside = await send([DEVICE, "restore", "--db", db, "--output", join(dir.path, "out.db")]);
      expect(outside.code).toBe(2);
      const cliReplies = [sync, restoreMs, restoreIso, outside].flatMap((r) =>
        r.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
      expect(new Set(cliReplies.map((r) => r["status"]))).toEqual(
        new Set(["accepted", "progress", "done", "rejected"]),
      );
      expect(cliReplies.at(-1)).toMatchObject({ status: "rejected", code: "bad-arguments" });

      // Refusals answered with their code, published by hand.
      const now = Date.now();
      const body = (id: string, extra: Record<string, unknown> = {}) => ({
        id,
        device: DEVICE,
        name: "status",
        args: {},
        issuedAt: now,
        expiresAt: now + 60_000,
        ...extra,
      });
      refusals = [
        ["unsigned-01", { v: 1, type: "command", body: body("unsigned-01") }, "bad-signature"],
        ["foreign-01", signCommand(body("foreign-01", { device: "dev-2" }), signer), "wrong-device"],
        ["version-02", { ...signCommand(body("version-02"), signer), v: 2 }, "bad-version"],
        ["oversize-1", signCommand(body("oversize-1", { args: { pad: "x".repeat(300 * 1024) } }), signer), "too-large"],
        [
          "badargs-01",
          signCommand(body("badargs-01", { name: "sync", args: { db: "/nope.db" } }), signer),
          "bad-arguments",
        ],
      ];
      for (const [, payload] of refusals) await watcher.publishAsync(topics.cmd, JSON.stringify(payload), { qos: 1 });
      await waitFor("a reply to every refusal", () => refusals.every(([id]) => replyTo(id).length > 0));
      expect(refusals.map(([id]) => replyTo(id).map((r) => [r["status"], r["code"]]))).toEqual(
        refusals.map(([, , code]) => [["rejected", code]]),
      );

      // The CLI's and the dashboard's JSON.
      const status = await cli(["status", "--json", "--wait", "500ms"]);
      expect(status.code).toBe(0);
      expectValid("fleet-status.schema.json", JSON.parse(status.stdout));
      const many = await send(["--devices", DEVICE, "status", "--wait", "0s"]);
      expect(many.code).toBe(0);
      expectValid("fleet-send.schema.json", JSON.parse(many.stdout));
      const operator = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      const view = await FleetView.open(operator, { root: ROOT });
      const recorder = new HistoryRecorder(view, HistoryStore.open(join(dir.path, "fleet-history.db")));
      const dashboard = await startDashboard({ view, addr: "127.0.0.1:0", history: recorder });
      try {
        await waitFor("the view to know the device", () => view.devices().length > 0);
        // A command while the dashboard records: its events join the device's states and lag.
        expect((await send(["--devices", DEVICE, "status", "--wait", "0s"])).code).toBe(0);
        const kinds = () => new Set(recorder.query({ device: DEVICE })?.entries.map((e) => e.kind));
        await waitFor("history with states, lag and events", () => kinds().size === 3);
        const history = await fetch(new URL(`/api/history?device=${DEVICE}`, dashboard.url));
        expect(history.status).toBe(200);
        expectValid("history.schema.json", await history.json());
        const perDbRes = await fetch(new URL(`/api/history?device=${DEVICE}&db=${db}&limit=2`, dashboard.url));
        const perDb = (await perDbRes.json()) as { entries: unknown[] };
        expect(perDb.entries).toHaveLength(2);
        expectValid("history.schema.json", perDb);
        const res = await fetch(new URL("/api/devices", dashboard.url));
        expect(res.status).toBe(200);
        expectValid("api-devices.schema.json", await res.json());
        const summary = await fetch(new URL("/api/summary", dashboard.url));
        expect(summary.status).toBe(200);
        expectValid("summary.schema.json", await summary.json());
      } finally {
        await dashboard.close();
        await recorder.stop();
        await view.close();
        await operator.endAsync();
      }

      // The Will, after kill -9; then a clean stop.
      await agent.kill();
      await waitFor("the Will", () => json("status").some((s) => s["reason"] === "lost"));
      agent = startAgent(cfg);
      await agent.waitForLog("mqtt connected");
      await agent.stop();
      await waitFor("the stopped status", () => json("status").some((s) => s["reason"] === "stopped"));
    } finally {
      if (agent.proc.exitCode === null) await agent.kill();
    }
    await watcher.endAsync();

    const will = json("status").find((s) => s["reason"] === "lost");
    expectValid("will.schema.json", will);
    for (const s of json("status")) expectValid("status.schema.json", s);
    for (const t of json("tele")) expectValid("telemetry.schema.json", t);
    const events = json("evt");
    expect(new Set(events.map((e) => e["event"]))).toContain("command.rejected");
    for (const e of events) expectValid("event.schema.json", e);
    // The CLI's commands (the hand-made refusals above are invalid on purpose).
    const handMade = new Set(refusals.map(([id]) => id));
    const commands = json("cmd").filter((c) => !handMade.has(String((c["body"] as Record<string, unknown>)["id"])));
    expect(commands.map((c) => (c["body"] as Record<string, unknown>)["name"])).toEqual([
      "sync",
      "restore",
      "restore",
      "restore",
      "status",
      "status", // while the dashboard records history
    ]);
    for (const c of commands) expectValid("command.schema.json", c);
    const replies = json("res");
    expect(new Set(replies.map((r) => r["status"]))).toEqual(new Set(["accepted", "progress", "done", "rejected"]));
    for (const r of replies) expectValid("reply.schema.json", r);
  }, 120_000);
});
