/**
 * A remote restore never locks the application out beyond its time-box
 * (issue #15 item 5, docs/FLEET.md "Remote restore", `fleet.swap-timeout`),
 * end to end: the agent process against s3rver behind the S3 fault proxy,
 * a real broker, `litefleet fleet send`, and the test process as the
 * application (it holds the database open until the lock file appears).
 *
 * - the storage stops answering (every request stalls) while the
 *   application lets go: the restore fails with code "swap-timeout" within
 *   the time-box, the lock file is gone, the live database holds what it
 *   held, nothing of the restore is left beside it, and replication goes on
 *   once the storage answers again;
 * - with the storage healthy, the same restore under the same short
 *   time-box finishes as before.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ReplyMessage } from "../../src/protocol/messages.ts";
import { generateOperatorKey } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { watchDevice, type DeviceWatch } from "../harness/device-watch.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { startS3FaultProxy, type S3FaultProxy } from "../harness/s3-fault-proxy.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const DEVICE = "gw-07";
const CREDS = { LITEFLEET_ACCESS_KEY_ID: "S3RVER", LITEFLEET_SECRET_ACCESS_KEY: "S3RVER" };
/** The time-box under test: short, so the test is fast; the stall below is three times as long. */
const SWAP_TIMEOUT_MS = 2000;
/** A stalled request answers only after this long: far past the time-box. */
const STALL_MS = 6000;

interface Device {
  readonly dir: string;
  readonly db: string;
  readonly url: string;
  readonly watch: DeviceWatch;
  send(command: string, args?: string[]): Promise<{ code: number; replies: ReplyMessage[] }>;
}

/** A device whose one database is replicated to `s3://fleet/gw-07/app.db` through `proxy`. */
async function device(dir: string, broker: MqttBroker, proxy: S3FaultProxy): Promise<Device> {
  const protocol = broker.kind === "mosquitto" ? 5 : 4;
  const op = generateOperatorKey();
  const keyFile = join(dir, "operator.key");
  writeFileSync(keyFile, op.privatePem, { mode: 0o600 });
  const db = join(dir, "app.db");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
  app.close();
  const url = `s3://fleet/${DEVICE}/app.db?endpoint=${proxy.endpoint}`;
  writeFileSync(
    join(dir, "litefleet.yml"),
    [
      `device: { id: ${DEVICE} }`,
      'status: { addr: "" }',
      "mqtt:",
      `  url: ${broker.url}`,
      `  protocol: ${protocol === 5 ? "5" : '"3.1.1"'}`,
      "  status-interval: 1s",
      "  will-delay: 0s",
      `  state-dir: ${join(dir, "fleet-state")}`,
      "fleet:",
      `  operator-keys: ["${op.publicKey}"]`,
      "  quiesce-timeout: 20s",
      `  swap-timeout: ${SWAP_TIMEOUT_MS}ms`,
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 100ms",
      "    replica:",
      `      url: ${url}`,
      "      sync-interval: 200ms",
    ].join("\n"),
  );
  const watch = await watchDevice(broker.url, deviceTopics("litefleet/v1", DEVICE), {
    protocolVersion: protocol,
    clientId: `op-${Math.random().toString(16).slice(2)}`,
  });
  return {
    dir,
    db,
    url,
    watch,
    async send(command, args = []) {
      const res = await runCli([
        "fleet",
        "send",
        DEVICE,
        command,
        ...["--broker", broker.url, "--protocol", protocol === 5 ? "5" : "3.1.1"],
        ...["--operator-key", keyFile, "--json", "--timeout", "60s"],
        ...args,
      ]);
      const replies = res.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ReplyMessage);
      return { code: res.code, replies };
    },
  };
}

function insert(app: Database, n: number): void {
  for (let i = 0; i < n; i++) app.run("INSERT INTO t (v) VALUES (randomblob(2000))");
}

/** Schema and rows of the application's tables (the agent's `_litefleet_*` bookkeeping left out). */
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

async function until<T>(what: string, find: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** The database's own files and the restore's, as `readdirSync` lists them beside it. */
function besideDb(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith("app.db") || f.startsWith(".app.db"))
    .sort();
}

describe("remote restore time-box (issue #15)", () => {
  test("storage that stops answering while the application lets go: failed 'swap-timeout' within the time-box, lock gone, database as it was, nothing left over, replication goes on", async () => {
    await using dir = await makeTempDir("lf-timebox-");
    await using broker = await startMqttBroker();
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startS3FaultProxy({ target: s3.endpoint });
    const d = await device(dir.path, broker, proxy);
    // Closed (the test's "application" lets go) when the lock file appears; closing twice does nothing.
    using app = new Database(d.db);
    app.exec("PRAGMA busy_timeout = 5000");
    insert(app, 20);
    const agent = startAgent(join(dir.path, "litefleet.yml"), CREDS);
    try {
      await agent.waitForLog("mqtt connected");
      const synced = await d.send("sync");
      expect(synced.code).toBe(0);
      const target = (synced.replies.at(-1)?.result?.["dbs"] as { txid: string }[])[0]?.txid ?? "";
      insert(app, 20);

      const restore = d.send("restore", ["--db", d.db, "--txid", target]);
      // The application sees the lock, writes its last rows, and lets go just as the storage stops answering.
      await until("the lock file", () => existsSync(`${d.db}.litefleet-lock`) || undefined);
      insert(app, 5);
      proxy.setDecider(() => ({ kind: "stall", stallMs: STALL_MS }));
      app.close();
      const letGo = Date.now();
      const before = appData(d.db);
      await until("the lock file to go", () => !existsSync(`${d.db}.litefleet-lock`) || undefined);
      const lockedMs = Date.now() - letGo;

      const res = await restore;
      expect(res.code).toBe(1);
      expect(res.replies.at(-1)).toMatchObject({ status: "failed", code: "swap-timeout" });
      expect(res.replies.at(-1)?.error).toContain("within fleet.swap-timeout (2 s)");
      expect(res.replies.at(-1)?.error).toContain("the live database was not changed");
      // The lock was held past the application letting go by the time-box (plus the 200 ms
      // release poll), not by the stall or any backoff: generous slack, far below STALL_MS + retries.
      expect(lockedMs).toBeLessThan(SWAP_TIMEOUT_MS + 2500);
      const failed = await until("the command.failed event", () =>
        d.watch.events.find((e) => e.event === "command.failed"),
      );
      expect(failed.data["code"]).toBe("swap-timeout");
      expect(appData(d.db)).toBe(before);
      expect(integrityCheck(d.db)).toBe("ok");
      // No lock, staged copy (nor its -wal/-shm), rollback copy or journal: the database, its WAL and the agent's state.
      expect(besideDb(dir.path)).toEqual([".app.db-litefleet", "app.db", "app.db-shm", "app.db-wal"]);

      // The storage answers again: replication goes on, and the replica holds the live database.
      proxy.setDecider(undefined);
      const writer = new Database(d.db);
      writer.exec("PRAGMA busy_timeout = 5000");
      insert(writer, 3);
      writer.close();
      const live = appData(d.db);
      const after = await d.send("sync");
      expect(after.replies.at(-1)?.error).toBeUndefined();
      expect(after.code).toBe(0);
      const out = join(dir.path, "latest.db");
      expect((await runCli(["restore", "-o", out, d.url], { env: CREDS })).code).toBe(0);
      expect(appData(out)).toBe(live);
    } finally {
      await d.watch.client.endAsync();
      await agent.stop();
    }
  }, 90_000);

  test("with the storage answering, a restore under the same short time-box finishes as before", async () => {
    await using dir = await makeTempDir("lf-timebox-ok-");
    await using broker = await startMqttBroker();
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startS3FaultProxy({ target: s3.endpoint });
    const d = await device(dir.path, broker, proxy);
    using app = new Database(d.db);
    app.exec("PRAGMA busy_timeout = 5000");
    insert(app, 20);
    const agent = startAgent(join(dir.path, "litefleet.yml"), CREDS);
    try {
      await agent.waitForLog("mqtt connected");
      const synced = await d.send("sync");
      const target = (synced.replies.at(-1)?.result?.["dbs"] as { txid: string }[])[0]?.txid ?? "";
      const wanted = appData(d.db);
      insert(app, 20);
      const restore = d.send("restore", ["--db", d.db, "--txid", target]);
      await until("the lock file", () => existsSync(`${d.db}.litefleet-lock`) || undefined);
      insert(app, 5);
      app.close();
      const res = await restore;
      expect(res.replies.at(-1)?.error).toBeUndefined();
      expect(res.code).toBe(0);
      const steps = res.replies.filter((x) => x.status === "progress").map((x) => x.step);
      expect(steps).toEqual(["planned", "staged", "quiesced", "swapped", "healthy", "new-lineage"]);
      expect(res.replies.at(-1)?.result).toMatchObject({ txid: target, live: true });
      expect(appData(d.db)).toBe(wanted);
      expect(integrityCheck(d.db)).toBe("ok");
      expect(besideDb(dir.path)).toEqual([".app.db-litefleet", "app.db", "app.db-shm", "app.db-wal"]);
    } finally {
      await d.watch.client.endAsync();
      await agent.stop();
    }
  }, 90_000);
});
