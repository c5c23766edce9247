/**
 * Issue #3 end to end, with the agent in its own process against s3rver
 * behind a byte-counting, cuttable TCP proxy:
 * - one PUT per batch;
 * - the bandwidth cap holds within ±10% over 30 s;
 * - an outage of several minutes (LITEFLEET_OUTAGE_SECONDS, default 180)
 *   while writes continue loses nothing, keeps the spool within its bound,
 *   and drains after reconnect;
 * - kill -9 in the middle of an upload leaves nothing half-written and
 *   the next start resumes.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentStatus } from "../../src/agent/status.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";
import { S3ReplicaClient } from "../../src/replica/s3-client.ts";
import { SNAPSHOT_LEVEL } from "../../src/replica/client.ts";
import { freePort, startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { fileHash, imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const OUTAGE_SECONDS = Number(process.env.LITEFLEET_OUTAGE_SECONDS ?? 180);
const CREDS = { LITEFLEET_ACCESS_KEY_ID: "S3RVER", LITEFLEET_SECRET_ACCESS_KEY: "S3RVER" };

interface Setup {
  dir: string;
  db: string;
  cfg: string;
  statusAddr: string;
  url: string;
}

async function setup(dir: string, s3: S3Server, proxy: TcpProxy, replicaYaml: string[]): Promise<Setup> {
  const db = join(dir, "app.db");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, v BLOB);");
  app.exec("CREATE INDEX readings_sensor ON readings (sensor)");
  app.close();
  const statusAddr = `127.0.0.1:${await freePort()}`;
  const url = `s3://fleet/dev/app.db?endpoint=${proxy.endpoint}`;
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(
    cfg,
    [
      `status: { addr: "${statusAddr}" }`,
      "levels: []",
      "logging: { level: debug }",
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 100ms",
      "    replica:",
      `      url: ${url}`,
      ...replicaYaml.map((l) => `      ${l}`),
    ].join("\n"),
  );
  void s3;
  return { dir, db, cfg, statusAddr, url: `s3://fleet/dev/app.db?endpoint=${s3.endpoint}` };
}

function writer(db: string) {
  const app = new Database(db);
  app.exec("PRAGMA busy_timeout = 10000");
  let rows = 0;
  return {
    insert(n: number, blob = 64) {
      app.transaction(() => {
        for (let i = 0; i < n; i++) app.run("INSERT INTO readings (sensor, v) VALUES (?, randomblob(?))", [`s${rows++ % 7}`, blob]);
      })();
    },
    hash: () => imageHash(app),
    close: () => app.close(),
  };
}

async function status(addr: string): Promise<AgentStatus> {
  const r = await runCli(["status", "--json", "--addr", addr]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as AgentStatus;
}

async function restoreEquals(s: Setup, expected: string): Promise<void> {
  const out = join(s.dir, `restored-${Date.now()}.db`);
  const r = await runCli(["restore", "-o", out, s.url], { env: CREDS });
  expect(r.stderr).toContain("integrity ok");
  expect(integrityCheck(out)).toBe("ok");
  expect(fileHash(out)).toBe(expected);
}

const putsUnder = (s3: S3Server, prefix: string) =>
  s3.requests.filter((r) => (r.kind === "PutObject" || r.kind === "CreateMultipartUpload") && r.key?.startsWith(prefix)).length;

describe("batching end to end", () => {
  test("one PUT per batch, whatever the number of commits", async () => {
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) } });
    await using dir = await makeTempDir("batch-");
    const s = await setup(dir.path, s3, proxy, ["min-interval: 2s", "max-interval: 2s"]);
    const agent = startAgent(s.cfg, CREDS);
    await agent.waitForLog("capture started");
    const w = writer(s.db);
    const started = Date.now();
    let commits = 0;
    while (Date.now() - started < 6000) {
      w.insert(3);
      commits++;
      await Bun.sleep(30);
    }
    const expected = w.hash();
    w.close();
    await agent.stop();
    const l0Puts = putsUnder(s3, "dev/app.db/0000/");
    expect(commits).toBeGreaterThan(100);
    // 6 s at one batch per 2 s, the start-up batch and the final one on stop.
    expect(l0Puts).toBeGreaterThanOrEqual(3);
    expect(l0Puts).toBeLessThanOrEqual(6);
    await restoreEquals(s, expected);
  }, 60_000);

  test("a metered link switches to the metered policy and holds snapshots back", async () => {
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) } });
    await using dir = await makeTempDir("metered-");
    const s = await setup(dir.path, s3, proxy, [
      "sync-interval: 1s",
      "metered: yes",
      "metered-policy: { min-interval: 10m, max-interval: 1h }",
    ]);
    const agent = startAgent(s.cfg, CREDS);
    await agent.waitForLog("capture started");
    const w = writer(s.db);
    for (let i = 0; i < 20; i++) {
      w.insert(2);
      await Bun.sleep(100);
    }
    await Bun.sleep(1500);
    const st = await status(s.statusAddr);
    const r = st.dbs[0]?.replicas[0];
    expect(r?.metered).toBe(true);
    // Nothing went out: every capture waits for the metered max-interval.
    expect(putsUnder(s3, "dev/app.db/0000/")).toBe(0);
    expect(putsUnder(s3, "dev/app.db/0009/")).toBe(0);
    expect(r?.pending.files).toBeGreaterThan(0);
    // An explicit sync still goes out at once: two batches, because the
    // first snapshot (TXID 1, held back) is a batch boundary (issue #11).
    expect((await runCli(["sync", "--addr", s.statusAddr])).code).toBe(0);
    expect(putsUnder(s3, "dev/app.db/0000/")).toBe(2);
    const expected = w.hash();
    w.close();
    await agent.stop();
    await restoreEquals(s, expected);
  }, 60_000);

  test("the bandwidth cap holds within ±10% over 30 s", async () => {
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) } });
    await using dir = await makeTempDir("bw-");
    const rate = 64 * 1024;
    const s = await setup(dir.path, s3, proxy, ["sync-interval: 1s", `bandwidth: ${rate}`]);
    // A backlog of incompressible data larger than 40 s at the cap.
    const w = writer(s.db);
    for (let i = 0; i < 40; i++) w.insert(16, 4096);
    const agent = startAgent(s.cfg, CREDS);
    await agent.waitForLog("capture started");
    const t0 = performance.now();
    await Bun.sleep(36_000);
    const from = t0 + 5_000;
    const to = from + 30_000;
    const bytes = proxy.history.filter((c) => c.time >= from && c.time < to).reduce((n, c) => n + c.bytes, 0);
    const measured = bytes / 30;
    expect(measured).toBeGreaterThan(rate * 0.9);
    expect(measured).toBeLessThan(rate * 1.1);
    await agent.kill();
    w.close();
  }, 90_000);

  test(`an outage of ${OUTAGE_SECONDS} s while writes continue loses nothing and the spool stays bounded`, async () => {
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) } });
    await using dir = await makeTempDir("outage-");
    // Small enough that even a short LITEFLEET_OUTAGE_SECONDS run coalesces.
    const maxBytes = 16 * 1024;
    const s = await setup(dir.path, s3, proxy, ["sync-interval: 2s"]);
    // Captures every second (the default), so what waits unbatched between
    // two batches is a couple of small files.
    writeFileSync(s.cfg, readFileSync(s.cfg, "utf8").replace("    monitor-interval: 100ms", `    monitor-interval: 1s\n    spool: { max-bytes: ${maxBytes}, max-age: 1h }`));
    const agent = startAgent(s.cfg, CREDS);
    await agent.waitForLog("capture started");
    const w = writer(s.db);
    w.insert(10);
    await Bun.sleep(3000);
    proxy.cut();
    const outageEnd = Date.now() + OUTAGE_SECONDS * 1000;
    let samples = 0;
    let nextSample = Date.now() + 5000;
    while (Date.now() < outageEnd) {
      // New rows, and rewrites of the newest pages, keep arriving.
      w.insert(5, 200);
      await Bun.sleep(250);
      if (Date.now() >= nextSample) {
        nextSample += 5000;
        const st = await status(s.statusAddr);
        const db = st.dbs[0];
        const r = db?.replicas[0];
        if (!db || !r) throw new Error("no status");
        samples++;
        // Bounded: coalescing keeps the waiting batches below
        // max(max-bytes, twice the largest, which is at most the database),
        // plus what was captured since the last batch.
        const dbBytes = (db.pages ?? 0) * (db.pageSize ?? 0);
        expect(r.pending.bytes).toBeLessThanOrEqual(Math.max(maxBytes, 2 * dbBytes) + 128 * 1024);
      }
    }
    expect(samples).toBeGreaterThan(2);
    const st = await status(s.statusAddr);
    const replica = st.dbs[0]?.replicas[0];
    expect(replica?.coalesced ?? 0).toBeGreaterThan(0);
    expect(replica?.lastError).toBeTruthy();
    proxy.resume();
    const sync = await runCli(["sync", "--addr", s.statusAddr, "--timeout", "120"]);
    expect(sync.stderr).toBe("");
    expect(sync.code).toBe(0);
    const expected = w.hash();
    w.close();
    await agent.stop();
    await restoreEquals(s, expected);
  }, (OUTAGE_SECONDS + 120) * 1000);

  test("kill -9 during an upload leaves nothing half-written and the next start resumes", async () => {
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    await using proxy = await startTcpProxy({ target: { host: "127.0.0.1", port: Number(new URL(s3.endpoint).port) } });
    await using dir = await makeTempDir("kill-upload-");
    const s = await setup(dir.path, s3, proxy, ["sync-interval: 1s", "bandwidth: 32KiB"]);
    const w = writer(s.db);
    for (let i = 0; i < 10; i++) w.insert(16, 4096);
    const first = startAgent(s.cfg, CREDS);
    await first.waitForLog("capture started");
    while (proxy.bytesToTarget < 100_000) await Bun.sleep(50);
    await first.kill();
    w.insert(5);
    // Restart without the cap so the test is quick.
    writeFileSync(s.cfg, readFileSync(s.cfg, "utf8").replace("bandwidth: 32KiB", "bandwidth: 0"));
    const second = startAgent(s.cfg, CREDS);
    await second.waitForLog("capture started");
    const sync = await runCli(["sync", "--addr", s.statusAddr]);
    expect(sync.code).toBe(0);
    const expected = w.hash();
    w.close();
    await second.stop();
    // Every object in the bucket is a whole, verified LTX file.
    const client = new S3ReplicaClient(
      { type: "s3", bucket: "fleet", path: "dev/app.db", endpoint: s3.endpoint, forcePathStyle: true },
      { env: CREDS },
    );
    let objects = 0;
    for (const level of [0, SNAPSHOT_LEVEL]) {
      for await (const f of client.listLtxFiles(level)) {
        verifyLtxFile(await client.readLtxFile(f), { path: `${level}/${f.minTxid}` });
        objects++;
      }
    }
    expect(objects).toBeGreaterThan(1);
    await restoreEquals(s, expected);
  }, 120_000);
});

