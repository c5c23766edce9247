/**
 * The fleet link end to end: the agent process (`litefleet replicate` with
 * an `mqtt:` section) against a real broker (mosquitto when installed, else
 * aedes, MQTT 5 or 3.1.1 to match), an operator MQTT client, and the
 * `litefleet fleet send` command.
 *
 * - retained status; the Will after kill -9 carries the birth's session;
 * - a command runs exactly once however often it is delivered;
 * - unsigned, wrongly signed, expired, replayed and foreign commands are
 *   rejected with no effect;
 * - a remote restore of a live database whose writer honours the lock-file
 *   contract ends in the requested state, integrity ok, and replication
 *   continues; a health probe that fails leaves the live database as it was;
 * - a crash right after the swap (failpoint) is rolled back on restart, with
 *   nothing lost.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { encodeMessage, parseStatus, type EventMessage, type StatusMessage } from "../../src/protocol/messages.ts";
import { generateOperatorKey, parsePrivateKey, signCommand } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { freePort, startAgent, type AgentProcess } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fastDbYaml } from "../harness/config.ts";
import { watchDevice } from "../harness/device-watch.ts";
import { findMosquitto, startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { makeTestCertificates, opensslMissing } from "../harness/tls-certs.ts";
import { imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { startTcpProxy } from "../harness/tcp-proxy.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const ROOT = "litefleet/v1";
const DEVICE = "dev-1";
const topics = deviceTopics(ROOT, DEVICE);

interface Rig {
  readonly dir: string;
  readonly db: string;
  readonly cfg: string;
  readonly keyFile: string;
  readonly broker: MqttBroker;
  readonly protocol: 4 | 5;
  readonly operator: MqttClient;
  /** Every event and status seen by the operator so far. */
  readonly events: EventMessage[];
  readonly statuses: StatusMessage[];
  start(env?: Record<string, string>): AgentProcess;
  send(
    command: string,
    args?: string[],
  ): Promise<{
    code: number;
    replies: { status: string; error?: string; code?: string; result?: Record<string, unknown> }[];
  }>;
  waitFor<T>(what: string, find: () => T | undefined, timeoutMs?: number): Promise<T>;
}

async function rig(
  dir: string,
  broker: MqttBroker,
  extra: { fleet?: string[]; mqtt?: string[]; url?: string; operator?: mqtt.IClientOptions; statusAddr?: string } = {},
): Promise<Rig> {
  const protocol = broker.kind === "mosquitto" ? 5 : 4;
  const op = generateOperatorKey();
  const keyFile = join(dir, "operator.key");
  writeFileSync(keyFile, op.privatePem, { mode: 0o600 });
  const db = join(dir, "app.db");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
  app.close();
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(
    cfg,
    [
      `device: { id: ${DEVICE} }`,
      `status: { addr: "${extra.statusAddr ?? ""}" }`,
      "mqtt:",
      `  url: ${extra.url ?? broker.url}`,
      `  protocol: ${protocol === 5 ? "5" : '"3.1.1"'}`,
      "  status-interval: 1s",
      "  will-delay: 0s",
      `  state-dir: ${join(dir, "fleet-state")}`,
      ...(extra.mqtt ?? []),
      "fleet:",
      `  operator-keys: ["${op.publicKey}"]`,
      "  quiesce-timeout: 10s",
      ...(extra.fleet ?? []),
      ...fastDbYaml(db, join(dir, "replica")),
    ].join("\n"),
  );
  const {
    client: operator,
    events,
    statuses,
  } = await watchDevice(broker.url, topics, {
    protocolVersion: protocol,
    clientId: `op-${Math.random().toString(16).slice(2)}`,
    ...extra.operator,
  });
  const r: Rig = {
    dir,
    db,
    cfg,
    keyFile,
    broker,
    protocol,
    operator,
    events,
    statuses,
    start: (env = {}) => startAgent(cfg, env),
    async send(command, args = []) {
      const res = await runCli([
        "fleet",
        "send",
        DEVICE,
        command,
        "--broker",
        broker.url,
        "--protocol",
        protocol === 5 ? "5" : "3.1.1",
        "--operator-key",
        keyFile,
        "--json",
        "--timeout",
        "30s",
        ...args,
      ]);
      const replies = res.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { status: string; error?: string; result?: Record<string, unknown> });
      return { code: res.code, replies };
    },
    async waitFor(what, find, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = find();
        if (found !== undefined) return found;
        if (Date.now() > deadline)
          throw new Error(`Timed out waiting for ${what}; events: ${JSON.stringify(events.map((e) => e.event))}`);
        await Bun.sleep(50);
      }
    },
  };
  return r;
}

function insert(db: string, n: number): void {
  const app = new Database(db);
  for (let i = 0; i < n; i++) app.run("INSERT INTO t (v) VALUES (randomblob(2000))");
  app.close();
}

/**
 * The application's data: schema and rows, without the agent's own
 * `_litefleet_*` bookkeeping (which the agent bumps when it opens a database
 * whose WAL is empty, as after a swap).
 */
function appData(db: string): string {
  const app = new Database(db, { readonly: true });
  try {
    const schema = app
      .query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '_litefleet%' ORDER BY name")
      .all();
    const rows = app.query("SELECT id, hex(v) AS v FROM t ORDER BY id").all();
    return createHash("sha256")
      .update(JSON.stringify([schema, rows]))
      .digest("hex");
  } finally {
    app.close();
  }
}

function liveHash(db: string): string {
  const app = new Database(db, { readonly: true });
  try {
    return imageHash(app);
  } finally {
    app.close();
  }
}

describe("fleet over MQTT", () => {
  test("retained status, and the Will after kill -9 carries the same session", async () => {
    await using dir = await makeTempDir("lf-fleet-");
    await using broker = await startMqttBroker();
    const statusAddr = `127.0.0.1:${await freePort()}`;
    const r = await rig(dir.path, broker, { statusAddr });
    const agent = r.start();
    try {
      const online = await r.waitFor("online status", () =>
        r.statuses.find((s) => s.online && (s.dbs?.[0]?.txid ?? null) !== null),
      );
      // The link's state is in the local status and the metrics too.
      const local = await runCli(["status", "--addr", statusAddr, "--json"]);
      expect(JSON.parse(local.stdout).mqtt).toEqual({
        connected: true,
        session: online.session,
        connections: 1,
        outboxEvents: expect.any(Number),
      });
      expect(await (await fetch(`http://${statusAddr}/metrics`)).text()).toContain("litefleet_mqtt_connected 1");
      expect(online).toMatchObject({ device: DEVICE, online: true });
      expect(online.dbs?.[0]?.path).toBe(r.db);
      // A late subscriber gets the retained status.
      const late = await mqtt.connectAsync(broker.url, { protocolVersion: r.protocol, reconnectPeriod: 0 });
      const retained = new Promise<StatusMessage>((resolve) => late.on("message", (_t, p) => resolve(parseStatus(p))));
      await late.subscribeAsync(topics.status, { qos: 1 });
      expect((await retained).device).toBe(DEVICE);
      await late.endAsync();
      // The operator's table, from the same retained status.
      const table = await runCli([
        "fleet",
        "status",
        "--broker",
        broker.url,
        "--protocol",
        r.protocol === 5 ? "5" : "3.1.1",
        "--wait",
        "300ms",
        "--json",
      ]);
      expect(table.code).toBe(0);
      expect(JSON.parse(table.stdout)).toMatchObject([{ device: DEVICE, online: true, session: online.session }]);
      await agent.kill();
      const will = await r.waitFor("the Will", () => r.statuses.find((s) => !s.online));
      expect(will).toMatchObject({ online: false, reason: "lost", session: online.session });
    } finally {
      await r.operator.endAsync();
      if (agent.proc.exitCode === null) await agent.kill();
    }
  }, 60_000);

  test("mTLS: the agent reaches a broker that requires client certificates; a wrong CA is refused", async () => {
    const missing =
      opensslMissing() ??
      (findMosquitto() === null
        ? "mosquitto is not installed (the harness serves TLS with mosquitto only)"
        : undefined);
    if (missing) {
      console.log(`Skipping the MQTT TLS test: ${missing}`);
      return;
    }
    await using dir = await makeTempDir("lf-fleet-tls-");
    const certs = makeTestCertificates(dir.path);
    await using broker = await startMqttBroker({
      kind: "mosquitto",
      tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requireCertificate: true },
    });
    const tlsFiles = (ca: string) => [`  ca: ${ca}`, `  cert: ${certs.clientCert}`, `  key: ${certs.clientKey}`];
    const operator = {
      ca: readFileSync(certs.ca),
      cert: readFileSync(certs.clientCert),
      key: readFileSync(certs.clientKey),
    };
    const r = await rig(dir.path, broker, { mqtt: tlsFiles(certs.ca), operator });
    const agent = r.start();
    try {
      await agent.waitForLog("mqtt connected");
      const online = await r.waitFor("online status over TLS", () => r.statuses.find((s) => s.online));
      expect(online.device).toBe(DEVICE);
    } finally {
      await agent.stop();
    }
    // The same device trusting another CA refuses the broker's certificate and keeps retrying.
    await using other = await makeTempDir("lf-fleet-tls-bad-");
    const bad = await rig(other.path, broker, { mqtt: tlsFiles(certs.otherCa), operator });
    const refused = bad.start();
    try {
      await refused.waitForLog("cannot connect to the MQTT broker");
      expect(refused.log()).not.toContain("mqtt connected");
    } finally {
      await Promise.all([r.operator.endAsync(), bad.operator.endAsync()]);
      await refused.stop();
    }
  }, 60_000);

  test("events wait on disk through an offline start and a restart, and arrive in order once the broker is reachable", async () => {
    await using dir = await makeTempDir("lf-fleet-offline-");
    await using broker = await startMqttBroker();
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: broker.port } });
    proxy.cut();
    const r = await rig(dir.path, broker, { url: `mqtt://127.0.0.1:${proxy.port}` });
    let agent = r.start();
    try {
      await agent.waitForLog("snapshot written");
      await agent.waitForLog("cannot connect to the MQTT broker");
      await agent.stop();
      agent = r.start();
      await agent.waitForLog("capture started");
      insert(r.db, 5);
      await Bun.sleep(300);
      expect(r.events).toEqual([]);
      proxy.resume();
      await agent.waitForLog("mqtt connected");
      const written = await r.waitFor("the offline snapshot event", () =>
        r.events.find((e) => e.event === "snapshot.written"),
      );
      expect(written.data["txid"]).toBe("0000000000000001");
      // In the order they happened.
      const ids = r.events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((a, b) => Number(a.split("-")[0]) - Number(b.split("-")[0])));
      await r.waitFor("the outbox to drain", () =>
        readdirSync(join(dir.path, "fleet-state", "outbox")).length === 0 ? true : undefined,
      );
    } finally {
      await r.operator.endAsync();
      await agent.stop();
    }
  }, 60_000);

  test("a command runs once despite duplicates; unsigned, wrongly signed, expired, replayed and foreign ones are rejected with no effect", async () => {
    await using dir = await makeTempDir("lf-fleet-cmd-");
    await using broker = await startMqttBroker();
    const r = await rig(dir.path, broker);
    const agent = r.start();
    try {
      await agent.waitForLog("mqtt connected");
      // The agent's own first snapshot, before any command.
      await agent.waitForLog("snapshot uploaded");
      await r.waitFor("the first snapshot event", () => r.events.find((e) => e.event === "snapshot.written"));
      const signer = parsePrivateKey(readFileSync(r.keyFile, "utf8"));
      const now = Date.now();
      const body = (id: string, extra: Partial<{ device: string; issuedAt: number; expiresAt: number }> = {}) => ({
        id,
        device: DEVICE,
        name: "snapshot",
        args: {},
        issuedAt: now,
        expiresAt: now + 60_000,
        ...extra,
      });
      const publish = (payload: Buffer) => r.operator.publishAsync(topics.cmd, payload, { qos: 1 });
      // The same command three times (QoS 1 redelivery or an operator retry).
      const once = encodeMessage(signCommand(body("dup-00001"), signer));
      for (let i = 0; i < 3; i++) await publish(once);
      await r.waitFor("the command to finish", () =>
        r.events.find((e) => e.event === "command.done" && e.data["id"] === "dup-00001"),
      );
      await r.waitFor("two duplicate rejections", () =>
        r.events.filter((e) => e.event === "command.rejected" && e.data["id"] === "dup-00001").length === 2
          ? true
          : undefined,
      );
      expect(r.events.filter((e) => e.event === "command.accepted" && e.data["id"] === "dup-00001")).toHaveLength(1);
      expect(r.events.filter((e) => e.event === "snapshot.written")).toHaveLength(2);

      const other = parsePrivateKey(generateOperatorKey().privatePem);
      const bad: [string, Buffer][] = [
        ["unsigned", encodeMessage({ ...signCommand(body("unsigned-1"), signer), signature: "" })],
        ["wrongly signed", encodeMessage(signCommand(body("wrongkey-1"), other))],
        [
          "tampered",
          encodeMessage({ ...signCommand(body("tamper-01"), signer), body: { ...body("tamper-01"), name: "sync" } }),
        ],
        [
          "expired",
          encodeMessage(signCommand(body("expired-1", { issuedAt: now - 120_000, expiresAt: now - 60_000 }), signer)),
        ],
        ["foreign", encodeMessage(signCommand(body("foreign-1", { device: "dev-2" }), signer))],
        ["replayed", once],
        ["not JSON", Buffer.from("{nope")],
      ];
      for (const [, payload] of bad) await publish(payload);
      await r.waitFor("every bad command rejected", () =>
        r.events.filter((e) => e.event === "command.rejected").length >= 2 + bad.length ? true : undefined,
      );
      const reasons = r.events.filter((e) => e.event === "command.rejected").map((e) => String(e.data["reason"]));
      expect(reasons.some((x) => x.includes("not 64 bytes"))).toBe(true);
      expect(reasons.some((x) => x.includes("does not trust"))).toBe(true);
      expect(reasons.some((x) => x.includes("does not match"))).toBe(true);
      expect(reasons.some((x) => x.startsWith("expired"))).toBe(true);
      expect(reasons.some((x) => x.includes("addressed to device 'dev-2'"))).toBe(true);
      expect(reasons.some((x) => x.includes("payload is not JSON"))).toBe(true);
      expect(reasons.filter((x) => x.includes("already received"))).toHaveLength(3);
      // No effect: still exactly one accepted command and one snapshot.
      expect(r.events.filter((e) => e.event === "command.accepted")).toHaveLength(1);
      expect(r.events.filter((e) => e.event === "snapshot.written")).toHaveLength(2);

      // And through the CLI: a signed status command is answered.
      const res = await r.send("status");
      expect(res.code).toBe(0);
      expect(res.replies.map((x) => x.status)).toEqual(["accepted", "done"]);
      expect(res.replies[1]?.result?.["device"]).toBe(DEVICE);
    } finally {
      await r.operator.endAsync();
      await agent.stop();
    }
  }, 60_000);

  test("remote restore of a live database: the writer is quiesced, the database ends at the requested TXID, replication continues", async () => {
    await using dir = await makeTempDir("lf-fleet-restore-");
    await using broker = await startMqttBroker();
    const r = await rig(dir.path, broker);
    insert(r.db, 20);
    const agent = r.start();
    let writer: ReturnType<typeof Bun.spawn> | undefined;
    try {
      await agent.waitForLog("mqtt connected");
      const synced = await r.send("sync");
      expect(synced.code).toBe(0);
      const target = (synced.replies.at(-1)?.result?.["dbs"] as { txid: string }[])[0]!.txid;
      const wanted = appData(r.db);
      insert(r.db, 30);
      // The application: writes until the lock file appears, closes, waits, reopens.
      const script = join(dir.path, "writer.ts");
      writeFileSync(script, WRITER);
      writer = Bun.spawn([process.execPath, script, r.db], { stdout: "pipe", stderr: "inherit" });
      await Bun.sleep(300);
      const res = await r.send("restore", ["--db", r.db, "--txid", target]);
      expect(res.replies.at(-1)?.error).toBeUndefined();
      expect(res.code).toBe(0);
      const steps = res.replies.filter((x) => x.status === "progress").map((x) => (x as { step?: string }).step);
      expect(steps).toEqual(["planned", "staged", "quiesced", "swapped", "healthy", "new-lineage"]);
      expect(await new Response(writer.stdout as ReadableStream).text()).toContain("paused");
      expect(appData(r.db)).toBe(wanted);
      expect(integrityCheck(r.db)).toBe("ok");
      // Nothing of the staged copy is left beside the database (issue #12), and the log says what was restored.
      expect(
        readdirSync(dir.path).filter((f) => f.includes("litefleet-staged") || f.includes("litefleet-rollback")),
      ).toEqual([]);
      expect(agent.log()).toMatch(new RegExp(`database restored .*txid=${target}`));
      // Replication continues on the new lineage: the latest restore is the restored database.
      insert(r.db, 5);
      const after = liveHash(r.db);
      expect((await r.send("sync")).code).toBe(0);
      const out = join(dir.path, "latest.db");
      expect((await runCli(["restore", "-o", out, join(dir.path, "replica")])).code).toBe(0);
      expect(liveHash(out)).toBe(after);
      // And the history before the restore is still there.
      const old = join(dir.path, "old.db");
      expect((await runCli(["restore", "-o", old, "--txid", target, join(dir.path, "replica")])).code).toBe(0);
      expect(appData(old)).toBe(wanted);
    } finally {
      writer?.kill();
      await r.operator.endAsync();
      await agent.stop();
    }
  }, 90_000);

  test("verify proves the replica; a restore to another path writes a verified copy only inside fleet.restore-dirs", async () => {
    await using dir = await makeTempDir("lf-fleet-copy-");
    await using broker = await startMqttBroker();
    const labDir = join(dir.path, "lab");
    mkdirSync(labDir);
    const r = await rig(dir.path, broker, { fleet: [`  restore-dirs: [${labDir}]`] });
    insert(r.db, 10);
    const agent = r.start();
    try {
      await agent.waitForLog("mqtt connected");
      const verified = await r.send("verify", ["--db", r.db]);
      expect(verified.code).toBe(0);
      expect(verified.replies.at(-1)?.result).toMatchObject({ ok: true, reports: [{ ok: true, mode: "fast" }] });
      const before = appData(r.db);
      const copy = join(labDir, "copy.db");
      const res = await r.send("restore", ["--db", r.db, "--output", copy]);
      expect(res.code).toBe(0);
      expect(res.replies.at(-1)?.result).toMatchObject({ output: copy, live: false });
      // The copy alone: no -wal/-shm of the probe beside it (issue #12).
      expect(readdirSync(labDir)).toEqual(["copy.db"]);
      expect(appData(copy)).toBe(before);
      expect(agent.log()).toContain("database restored to another path");
      // Argument checks run before "accepted": refused, never accepted-then-failed (issue #15).
      const outside = await r.send("restore", ["--db", r.db, "--output", join(dir.path, "elsewhere.db")]);
      expect(outside.code).toBe(2);
      expect(outside.replies.map((x) => x.status)).toEqual(["rejected"]);
      expect(outside.replies.at(-1)).toMatchObject({ status: "rejected", code: "bad-arguments" });
      expect(outside.replies.at(-1)?.error).toContain("not inside fleet.restore-dirs");
      // A dangling symlink inside the restore dir is refused, not followed or replaced (issue #15).
      symlinkSync(join(dir.path, "target-of-link.db"), join(labDir, "dangling.db"));
      const dangling = await r.send("restore", ["--db", r.db, "--output", join(labDir, "dangling.db")]);
      expect(dangling.replies).toMatchObject([{ status: "rejected", code: "bad-arguments" }]);
      expect(dangling.replies.at(-1)?.error).toContain("it is a symbolic link");
      expect(readdirSync(dir.path)).not.toContain("target-of-link.db");
      // A symlink inside the restore dir does not lead out of it.
      symlinkSync(dir.path, join(labDir, "escape"));
      const escaped = await r.send("restore", ["--db", r.db, "--output", join(labDir, "escape", "x.db")]);
      expect(escaped.replies.at(-1)?.error).toContain("not inside fleet.restore-dirs");
      const unknown = await r.send("restore", ["--db", "/etc/passwd"]);
      expect(unknown.replies).toMatchObject([{ status: "rejected", code: "bad-arguments" }]);
      expect(unknown.replies.at(-1)?.error).toContain("not a configured database");
      // The planner's message reaches the operator (issue #12): past the end is not a broken replica.
      const past = await r.send("restore", ["--db", r.db, "--output", join(labDir, "past.db"), "--txid", "ffffffff"]);
      expect(past.replies.at(-1)?.error).toMatch(
        /Cannot restore TXID 00000000ffffffff from .*: it is past the end of the replica; the latest restore point is [0-9a-f]{16} \(\d{4}-/,
      );
    } finally {
      await r.operator.endAsync();
      await agent.stop();
    }
  }, 60_000);

  test("a failing health probe leaves the live database untouched; a crash after the swap rolls back on restart", async () => {
    await using dir = await makeTempDir("lf-fleet-fault-");
    await using broker = await startMqttBroker();
    const r = await rig(dir.path, broker, { fleet: ["  probe: SELECT count(*) FROM t2"] });
    insert(r.db, 10);
    let agent = r.start({ LITEFLEET_FAILPOINT: "restore.after-swap" });
    try {
      await agent.waitForLog("mqtt connected");
      const txidOf = async () =>
        ((await r.send("sync")).replies.at(-1)?.result?.["dbs"] as { txid: string }[])[0]!.txid;
      const early = await txidOf();
      const app = new Database(r.db);
      app.exec("CREATE TABLE t2 (x)");
      app.close();
      const mid = await txidOf();
      // The state at `early` has no table t2: the probe fails on the staged copy.
      const probeFails = await r.send("restore", ["--db", r.db, "--txid", early]);
      expect(probeFails.code).toBe(1);
      expect(probeFails.replies.at(-1)?.error).toContain("the health probe failed");
      expect(probeFails.replies.at(-1)?.error).toContain("the live database was not changed");
      insert(r.db, 10);
      const before = appData(r.db);
      // The agent dies (SIGKILL) right after renaming the staged file over the database.
      const crashed = r.send("restore", ["--db", r.db, "--txid", mid, "--timeout", "60s"]);
      expect(await agent.proc.exited).toBe(137);
      // The operator, still waiting after "accepted", gets its final reply from the agent's next start.
      agent = r.start();
      await agent.waitForLog("finished an interrupted restore");
      const answered = await crashed;
      expect(answered.replies[0]?.status).toBe("accepted");
      expect(answered.replies.at(-1)?.status).toBe("failed");
      expect(answered.replies.at(-1)).toMatchObject({
        code: "interrupted",
        error: "the agent stopped during the restore; rolled back to the database as it was before",
      });
      expect(answered.code).toBe(1);
      await r.waitFor("the recovery event", () => r.events.find((e) => e.event === "restore.recovered"));
      expect(r.events.find((e) => e.event === "restore.recovered")?.data["outcome"]).toBe("rolled-back");
      await r.waitFor("the command.failed event", () =>
        r.events.find((e) => e.event === "command.failed" && e.data["code"] === "interrupted"),
      );
      expect(appData(r.db)).toBe(before);
      expect(integrityCheck(r.db)).toBe("ok");
    } finally {
      await r.operator.endAsync();
      if (agent.proc.exitCode === null) await agent.stop();
    }
  }, 90_000);
});

/** A writer that honours the lock-file contract (docs/FLEET.md). */
const WRITER = `
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
const path = process.argv[2];
const lock = path + ".litefleet-lock";
let db = new Database(path);
db.exec("PRAGMA busy_timeout = 5000");
for (;;) {
  if (existsSync(lock)) {
    db.close();
    console.log("paused");
    while (existsSync(lock)) await Bun.sleep(50);
    // Resumed: reopen, and stop writing so the test can compare.
    db = new Database(path);
    db.close();
    process.exit(0);
  }
  db.run("INSERT INTO t (v) VALUES (randomblob(500))");
  await Bun.sleep(20);
}
`;
