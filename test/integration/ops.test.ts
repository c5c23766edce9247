/**
 * Issue #4 agent features, end to end with the agent in its own process:
 * Prometheus `/metrics`, `--exec` (signal forwarding, exit code, a requested
 * stop exits 0), and
 * `--restore-if-db-not-exists` on boot.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startAgent } from "../harness/agent-process.ts";
import { runCli, spawnCli } from "../harness/cli.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { fastDbYaml } from "../harness/config.ts";

function makeDb(path: string, rows: number): string {
  const app = new Database(path, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT);");
  for (let i = 0; i < rows; i++) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i}`]);
  const hash = imageHash(app);
  app.close();
  return hash;
}

function config(dir: string, db: string, extra: string[] = []): string {
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(cfg, ['status: { addr: "" }', ...extra, ...fastDbYaml(db, join(dir, "replica"))].join("\n"));
  return cfg;
}

/** Parses Prometheus text into `name{labels}` → value, checking every line's form. */
function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN)$/.exec(line);
    if (!m) throw new Error(`Not a Prometheus sample line: '${line}'`);
    out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}

describe("metrics", () => {
  test("/metrics is scraped and parsed while the agent replicates", async () => {
    await using dir = await makeTempDir("metrics-");
    const db = join(dir.path, "app.db");
    makeDb(db, 10);
    const addr = `127.0.0.1:${await freePort()}`;
    const agent = startAgent(config(dir.path, db, [`metrics: { addr: "${addr}" }`]));
    await agent.waitForLog("metrics server listening");
    await agent.waitForLog("capture started");
    const app = new Database(db);
    for (let i = 0; i < 5; i++) {
      app.run("INSERT INTO t (v) VALUES ('more')");
      await Bun.sleep(150);
    }
    app.close();
    await Bun.sleep(500);
    const res = await fetch(`http://${addr}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await res.text();
    const m = parsePrometheus(text);
    const label = `{db="${db}"}`;
    const replica = `{db="${db}",replica="file"}`;
    expect(m.get(`litefleet_txid${label}`)).toBeGreaterThan(1);
    expect(m.get(`litefleet_sync_count${label}`)).toBeGreaterThan(5);
    expect(m.get(`litefleet_db_size_bytes${label}`)).toBeGreaterThan(0);
    expect(m.get(`litefleet_replica_operation_total{db="${db}",replica="file",operation="PUT"}`)).toBeGreaterThan(1);
    expect(m.get(`litefleet_replica_operation_bytes${replica}`)).toBeGreaterThan(0);
    expect(m.get(`litefleet_pending_bytes${replica}`)).toBeGreaterThanOrEqual(0);
    expect(m.has(`litefleet_lag_seconds${replica}`)).toBe(true);
    expect(text).toContain("# TYPE litefleet_sync_count counter");
    expect((await fetch(`http://${addr}/status`)).status).toBe(404);
    const log = await agent.stop();
    expect(log).not.toMatch(/secret/i);
  }, 60_000);
});

describe("--exec", () => {
  test("forwards SIGTERM to the child and exits with its code, after a final sync", async () => {
    await using dir = await makeTempDir("exec-");
    const db = join(dir.path, "app.db");
    makeDb(db, 3);
    const marker = join(dir.path, "child-started");
    // The child marks that it started, then exits 7 on SIGTERM.
    const child = `trap 'exit 7' TERM; touch ${marker}; while true; do sleep 0.05; done`;
    const proc = spawnCli(["replicate", "--config", config(dir.path, db), "--exec", child]);
    const deadline = Date.now() + 20_000;
    while (!existsSync(marker)) {
      if (Date.now() > deadline) throw new Error("child never started");
      await Bun.sleep(25);
    }
    const app = new Database(db);
    app.run("INSERT INTO t (v) VALUES ('after the child started')");
    const expected = imageHash(app);
    app.close();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(7);
    const out = join(dir.path, "restored.db");
    expect((await runCli(["restore", "-o", out, join(dir.path, "replica")])).code).toBe(0);
    expect(fileHash(out)).toBe(expected);
  }, 60_000);

  // Issue #12: `systemctl stop` (SIGTERM to the agent, forwarded) ended in exit 143, a failed
  // unit. A stop the agent received and forwarded, which the child ends of, is a success.
  const stops: { name: string; signal: "SIGTERM" | "SIGINT"; child: (marker: string) => string; code: number }[] = [
    {
      name: "a child killed by the forwarded SIGTERM: exit 0",
      signal: "SIGTERM",
      child: (m) => `touch ${m}; exec sleep 30`,
      code: 0,
    },
    {
      name: "a child that exits 143 on the forwarded SIGTERM: exit 0",
      signal: "SIGTERM",
      child: (m) => `trap 'exit 143' TERM; touch ${m}; while true; do sleep 0.05; done`,
      code: 0,
    },
    {
      name: "a child killed by the forwarded SIGINT: exit 0",
      signal: "SIGINT",
      child: (m) => `touch ${m}; exec sleep 30`,
      code: 0,
    },
    {
      name: "a child that exits 130 on the forwarded SIGINT: exit 0",
      signal: "SIGINT",
      child: (m) => `trap 'exit 130' INT; touch ${m}; while true; do sleep 0.05; done`,
      code: 0,
    },
    {
      name: "a child that exits 143 on the forwarded SIGINT keeps 143",
      signal: "SIGINT",
      child: (m) => `trap 'exit 143' INT; touch ${m}; while true; do sleep 0.05; done`,
      code: 143,
    },
  ];
  for (const c of stops) {
    test(`${c.signal} to the agent, ${c.name}`, async () => {
      await using dir = await makeTempDir("exec-");
      const db = join(dir.path, "app.db");
      makeDb(db, 3);
      const marker = join(dir.path, "child-started");
      const proc = spawnCli(["replicate", "--config", config(dir.path, db), "--exec", c.child(marker)]);
      const deadline = Date.now() + 20_000;
      while (!existsSync(marker)) {
        if (Date.now() > deadline) throw new Error("child never started");
        await Bun.sleep(25);
      }
      proc.kill(c.signal);
      expect(await proc.exited).toBe(c.code);
      const log = await new Response(proc.stderr).text();
      expect(log).toMatch(/--exec child exited code=(143|130)/);
    }, 60_000);
  }

  test("the child dies of SIGTERM just before the agent gets its own (systemd's default KillMode): exit 0", async () => {
    // KillMode=control-group signals the agent and the child at once, and the child's exit
    // can be seen before the agent's own SIGTERM: here the child is signalled 20 ms first.
    await using dir = await makeTempDir("exec-");
    const db = join(dir.path, "app.db");
    makeDb(db, 3);
    const marker = join(dir.path, "child-pid");
    const proc = spawnCli([
      "replicate",
      "--config",
      config(dir.path, db),
      "--exec",
      `echo $$ > ${marker}.tmp; mv ${marker}.tmp ${marker}; exec sleep 30`,
    ]);
    const deadline = Date.now() + 20_000;
    while (!existsSync(marker)) {
      if (Date.now() > deadline) throw new Error("child never started");
      await Bun.sleep(25);
    }
    process.kill(Number(readFileSync(marker, "utf8")), "SIGTERM");
    await Bun.sleep(20);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const log = await new Response(proc.stderr).text();
    expect(log).toContain("--exec child exited code=143 signal=SIGTERM exit=0");
  }, 60_000);

  test("a child that dies of a SIGTERM the agent never received: the agent exits 143", async () => {
    await using dir = await makeTempDir("exec-");
    const db = join(dir.path, "app.db");
    makeDb(db, 3);
    // Someone else's SIGTERM (here the child's own): no stop was asked of the agent, so it is a failure.
    const proc = spawnCli(["replicate", "--config", config(dir.path, db), "--exec", "kill -TERM $$"]);
    expect(await proc.exited).toBe(143);
    const log = await new Response(proc.stderr).text();
    expect(log).toContain("--exec child exited code=143 signal=SIGTERM");
  }, 60_000);

  test("when the child exits on its own, the agent stops and returns its code", async () => {
    await using dir = await makeTempDir("exec-");
    const db = join(dir.path, "app.db");
    makeDb(db, 3);
    const proc = spawnCli(["replicate", "-config", config(dir.path, db), "-exec", "exit 3"]);
    expect(await proc.exited).toBe(3);
    const log = await new Response(proc.stderr).text();
    expect(log).toContain("--exec child exited");
  }, 60_000);
});

describe("--restore-if-db-not-exists", () => {
  test("restores a missing database on boot, and leaves an existing one alone", async () => {
    await using dir = await makeTempDir("boot-");
    const db = join(dir.path, "app.db");
    makeDb(db, 50);
    const cfg = config(dir.path, db);
    const first = startAgent(cfg);
    await first.waitForLog("capture started");
    await first.stop();
    // Replacement hardware: the database and the agent's state are gone.
    for (const f of [db, `${db}-wal`, `${db}-shm`, join(dir.path, ".app.db-litefleet")])
      rmSync(f, { recursive: true, force: true });

    // Without the flag the agent waits for the application to create it.
    const plain = startAgent(cfg);
    await plain.waitForLog("waiting for the database to be created");
    await plain.stop();
    expect(existsSync(db)).toBe(false);

    const flagged = spawnCli(["replicate", "--config", cfg, "--restore-if-db-not-exists", "--exec", "true"]);
    expect(await flagged.exited).toBe(0);
    expect(await new Response(flagged.stderr).text()).toContain("database restored from its replica");
    const rows = () => {
      const restored = new Database(db, { readonly: true });
      try {
        return (restored.query("SELECT COUNT(*) AS n FROM t").get() as { n: number }).n;
      } finally {
        restored.close();
      }
    };
    expect(rows()).toBe(50);
    const app = new Database(db);
    app.run("INSERT INTO t (v) VALUES ('written after the restore')");
    app.close();
    const again = spawnCli(["replicate", "--config", cfg, "--restore-if-db-not-exists", "--exec", "true"]);
    expect(await again.exited).toBe(0);
    expect(await new Response(again.stderr).text()).toContain("database exists; no restore");
    expect(rows()).toBe(51);
  }, 90_000);
});
