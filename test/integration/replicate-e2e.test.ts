/**
 * End to end: `litefleet replicate` in its own process against s3rver and a
 * file replica while a separate writer process commits random transactions
 * (inserts, updates, deletes, a schema change, a > 4 MiB transaction, a
 * VACUUM). Restores of latest, of several TXIDs and of several timestamps
 * must equal the states the writer recorded, byte for byte.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Database } from "bun:sqlite";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { runCli } from "../harness/cli.ts";
import { startAgent } from "../harness/agent-process.ts";
import { contentHash, fileHash, imageHash, integrityCheck } from "../harness/sqlite-image.ts";
import { mulberry32, randomSeed } from "../harness/prng.ts";

const WRITER = fileURLToPath(new URL("../fixtures/writer-fixture.ts", import.meta.url));

interface Recorded {
  seq: number;
  hash: string;
  /** `contentHash` of the same state. */
  content: string;
  time: number;
}

function readLog(path: string): Map<number, Recorded> {
  const map = new Map<number, Recorded>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as Recorded;
    map.set(r.seq, r);
  }
  return map;
}

function markerOf(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT seq FROM _test_marker WHERE id = 1").get() as { seq: number }).seq;
  } finally {
    db.close();
  }
}

/**
 * A restore at a TXID or time inside the run must be a state the writer
 * logged: byte for byte when it is exactly a logged commit, else (the TXID
 * holds the agent's own bookkeeping write after that commit, or the VACUUM
 * the writer logs only after its next marker update) the same content.
 * Byte-for-byte equality at every TXID is the capture property test's job.
 */
function expectRecordedState(out: string, states: ReadonlyMap<number, Recorded>, what: string): Recorded {
  expect(integrityCheck(out)).toBe("ok");
  const rec = states.get(markerOf(out)) as Recorded;
  const db = new Database(out, { readonly: true });
  try {
    if (fileHash(out) !== rec.hash) expect({ what, content: contentHash(db) }).toEqual({ what, content: rec.content });
  } finally {
    db.close();
  }
  return rec;
}

function writeConfig(path: string, db: string, s3: { endpoint: string }, replicaDir: string): void {
  writeFileSync(
    path,
    [
      'status: { addr: "" }',
      "device:",
      "  id: gw-01",
      "logging:",
      "  level: debug",
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 50ms",
      "    min-checkpoint-page-count: 100",
      "    truncate-page-n: 1500",
      "    replicas:",
      "      - name: s3",
      `        url: s3://fleet/\${DEVICE_ID}/app.db?endpoint=${s3.endpoint}`,
      "        access-key-id: $S3_KEY",
      "        secret-access-key: $S3_SECRET",
      "        sync-interval: 200ms",
      "      - name: file",
      "        type: file",
      `        path: ${replicaDir}`,
      "        sync-interval: 100ms",
    ].join("\n"),
  );
}

/** An s3rver, a temp dir, a config for two replicas, and a database the writer created. */
async function prepare(prefix: string, seed: number) {
  const s3 = await startS3Server({ buckets: ["fleet"] });
  const dir = await makeTempDir(prefix);
  const db = join(dir.path, "app.db");
  const log = join(dir.path, "writer.log");
  const cfg = join(dir.path, "litefleet.yml");
  writeConfig(cfg, db, s3, join(dir.path, "replica"));
  const env = { S3_KEY: s3.accessKeyId, S3_SECRET: s3.secretAccessKey };
  const init = Bun.spawn([process.execPath, WRITER, db, log, String(seed), "0"], { stderr: "inherit" });
  expect(await init.exited).toBe(0);
  return {
    s3,
    dir,
    db,
    log,
    cfg,
    env,
    async [Symbol.asyncDispose]() {
      await s3.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

describe("replicate → restore end to end", () => {
  test("s3 and file replicas restore every recorded state exactly", async () => {
    const seed = randomSeed();
    await using p = await prepare("e2e-", seed);
    const { s3, dir, db, log, cfg, env } = p;
    const agent = startAgent(cfg, env);
    const writer = Bun.spawn(
      [process.execPath, WRITER, db, log, String(seed + 1), "150", "--big", "--vacuum", "--interval-ms", "15"],
      {
        stderr: "inherit",
      },
    );
    expect(await writer.exited).toBe(0);
    const agentLog = await agent.stop();
    expect(agentLog).toContain("checkpoint");

    const states = readLog(log);
    const last = Math.max(...states.keys());
    for (const source of [`s3://fleet/gw-01/app.db?endpoint=${s3.endpoint}`, `file://${join(dir.path, "replica")}`]) {
      const name = source.startsWith("s3") ? "s3" : "file";
      const out = join(dir.path, `latest-${name}.db`);
      const r = await runCli(["restore", "-o", out, source], {
        env: { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey },
      });
      expect(r.stderr).toContain("integrity ok");
      expect(r.code).toBe(0);
      expect(integrityCheck(out)).toBe("ok");
      expect(markerOf(out)).toBe(last);
      expect(fileHash(out)).toBe(states.get(last)?.hash as string);
    }

    // Several TXIDs and timestamps from the file replica's listing.
    const listing = await runCli(["ltx", "--json", `file://${join(dir.path, "replica")}`]);
    const files = JSON.parse(listing.stdout) as Array<{ level: number; max_txid: string; created_at: string }>;
    const txids = files.filter((f) => f.level === 0).map((f) => f.max_txid);
    const rand = mulberry32(seed);
    for (let i = 0; i < 6; i++) {
      const id = txids[Math.floor(rand() * txids.length)] as string;
      const out = join(dir.path, `txid-${i}.db`);
      const r = await runCli(["restore", "--txid", id, "-o", out, `file://${join(dir.path, "replica")}`]);
      expect(r.code).toBe(0);
      expectRecordedState(out, states, `TXID ${id}`);
    }
    // Only times after the first capture have a restore point (a loaded
    // machine can start the agent after the writer's first commits).
    const firstCapture = Math.min(...files.map((f) => Date.parse(f.created_at)));
    const times = [...states.values()]
      .map((s) => s.time)
      .filter((t) => t >= firstCapture)
      .sort((a, b) => a - b);
    for (let i = 0; i < 4; i++) {
      const t = times[Math.floor(((i + 1) * times.length) / 5)] as number;
      const out = join(dir.path, `time-${i}.db`);
      const r = await runCli([
        "restore",
        "--timestamp",
        new Date(t).toISOString(),
        "-o",
        out,
        `file://${join(dir.path, "replica")}`,
      ]);
      expect(r.code).toBe(0);
      const rec = expectRecordedState(out, states, `timestamp ${new Date(t).toISOString()}`);
      // The writer stamps its log just after commit; capture happens later still.
      expect(rec.time).toBeLessThanOrEqual(t + 50);
    }
  }, 120_000);

  test("kill -9 of the agent mid-run loses nothing after restart", async () => {
    const seed = randomSeed() + 7;
    await using p = await prepare("e2e-kill-", seed);
    const { s3, dir, db, log, cfg, env } = p;
    const writer = Bun.spawn([process.execPath, WRITER, db, log, String(seed), "160", "--interval-ms", "10"], {
      stderr: "inherit",
    });
    for (let round = 0; round < 3; round++) {
      // Kill at a different point of the agent's life each round.
      const agent = startAgent(cfg, env);
      await agent.waitForLog("capture started");
      await Bun.sleep(100 + round * 150);
      await agent.kill();
    }
    expect(await writer.exited).toBe(0);
    const final = startAgent(cfg, env);
    await final.waitForLog("capture started");
    await final.stop();
    const states = readLog(log);
    const last = Math.max(...states.keys());
    const out = join(dir.path, "latest.db");
    const r = await runCli(["restore", "-o", out, `s3://fleet/gw-01/app.db?endpoint=${s3.endpoint}`], {
      env: { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey },
    });
    expect(r.stderr).toContain("integrity ok");
    expect(r.code).toBe(0);
    expect(markerOf(out)).toBe(last);
    // The agent's own bookkeeping write (a fresh WAL after the writer's last
    // connection closed) comes after the writer's last record, so compare
    // with the live database, which the final sync captured.
    const live = new Database(db, { readonly: true });
    expect(fileHash(out)).toBe(imageHash(live));
    live.close();
  }, 120_000);

  test("several databases in one process, with periodic level-9 snapshots", async () => {
    await using dir = await makeTempDir("e2e-multi-");
    const cfg = join(dir.path, "litefleet.yml");
    const dbs = ["a.db", "b.db"].map((n) => join(dir.path, n));
    writeFileSync(
      cfg,
      [
        'status: { addr: "" }',
        "snapshot:",
        "  interval: 300ms",
        "dbs:",
        ...dbs.flatMap((db, i) => [
          `  - path: ${db}`,
          "    monitor-interval: 50ms",
          "    replica:",
          `      path: ${join(dir.path, `replica-${i}`)}`,
          "      sync-interval: 50ms",
        ]),
      ].join("\n"),
    );
    const listed = await runCli(["databases", "--json", "--config", cfg]);
    expect(JSON.parse(listed.stdout)).toEqual(
      dbs.map((db, i) => ({ path: db, replicas: [{ name: "file", url: `file://${join(dir.path, `replica-${i}`)}` }] })),
    );
    const apps = dbs.map((db) => {
      const app = new Database(db, { create: true });
      // As any application beside the agent: wait out its checkpoint barrier.
      app.exec(
        "PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
      );
      return app;
    });
    const agent = startAgent(cfg, {});
    await agent.waitForLog("capture started");
    // Write until each database has had two snapshots after the first
    // (every 300 ms; a loaded machine takes longer), at least 40 rounds.
    const lines = () =>
      agent
        .log()
        .split("\n")
        .filter((l) => l.includes("snapshot uploaded"));
    const fewest = () => Math.min(...dbs.map((db) => lines().filter((l) => l.includes(`db=${db} `)).length));
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 40 || (fewest() < 3 && Date.now() < deadline); i++) {
      for (const app of apps) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i}`]);
      await Bun.sleep(25);
    }
    const expected = apps.map((app) => imageHash(app));
    await agent.stop();
    for (const [i, app] of apps.entries()) {
      app.close();
      const replica = join(dir.path, `replica-${i}`);
      const out = join(dir.path, `restored-${i}.db`);
      const r = await runCli(["restore", "-o", out, replica]);
      expect(r.code).toBe(0);
      expect(fileHash(out)).toBe(expected[i] as string);
      const files = JSON.parse((await runCli(["ltx", "--json", replica])).stdout) as Array<{ level: number }>;
      expect(files.filter((f) => f.level === 9).length).toBeGreaterThanOrEqual(2);
    }
  }, 60_000);
});
