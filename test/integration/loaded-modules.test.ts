/**
 * Issue #13, "load only what a run uses": which modules a CLI run loads,
 * read from `require.cache` by a preloaded fixture when the process exits
 * (test/fixtures/loaded-modules-fixture.ts).
 *
 * Each case also asserts modules that the run must load (the positive
 * controls), so an empty or differently keyed list fails instead of
 * passing by accident.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI_ENTRY } from "../harness/cli.ts";
import { startMqttBroker } from "../harness/mqtt-broker.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../fixtures/loaded-modules-fixture.ts", import.meta.url));

/** Packages and source folders a run loads only when it needs them. */
const HEAVY = {
  s3: ["node_modules/@aws-sdk/", "node_modules/@smithy/", "src/replica/s3/"],
  mqtt: ["node_modules/mqtt/", "node_modules/mqtt-packet/", "src/fleet/device-link.ts"],
  parquet: ["node_modules/hyparquet-writer/", "src/aggregate/"],
  v3: ["src/litestream-v3/", "src/restore/v3-applier.ts"],
  dashboard: ["src/fleet/dashboard/", "src/fleet/history/", "src/cli/fleet-history.ts"],
} as const;

/** Every subcommand module except `keep`. */
function otherSubcommands(...keep: string[]): string[] {
  const all = [
    "replicate",
    "restore",
    "ltx",
    "verify",
    "migrate",
    "aggregate",
    "fleet",
    "takeover",
    "databases",
    "status",
  ];
  return all.filter((c) => !keep.includes(c)).map((c) => `src/cli/${c}.ts`);
}

interface Run {
  readonly code: number;
  readonly log: string;
  /** Loaded modules: paths under the repository relative to it; packages as `node_modules/<pkg>/…`. */
  readonly modules: readonly string[];
}

function normalize(path: string): string {
  const i = path.lastIndexOf("/node_modules/");
  return i >= 0 ? path.slice(i + 1) : relative(ROOT, path);
}

/** Runs the CLI with the fixture preloaded; with `readyText`, sends SIGTERM once stderr shows it. */
async function runLogged(
  dir: string,
  args: string[],
  options: { env?: Record<string, string>; readyText?: string } = {},
): Promise<Run> {
  const out = join(dir, `modules-${Math.random().toString(16).slice(2)}.txt`);
  const proc = Bun.spawn([process.execPath, "--preload", FIXTURE, CLI_ENTRY, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LITEFLEET_LOADED_MODULES: out, ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let log = "";
  let stopped = false;
  const collected = (async () => {
    for await (const chunk of proc.stderr) {
      log += new TextDecoder().decode(chunk);
      if (!stopped && options.readyText !== undefined && log.includes(options.readyText)) {
        stopped = true; // once: a second signal makes the agent exit without its final sync
        proc.kill("SIGTERM");
      }
    }
  })();
  const stdout = new Response(proc.stdout).text();
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const code = await proc.exited;
  clearTimeout(timer);
  await collected;
  if (!existsSync(out)) throw new Error(`The CLI (exit ${code}) wrote no module list:\n${log}`);
  const modules = readFileSync(out, "utf8").split("\n").filter(Boolean).map(normalize);
  return { code, log: log + (await stdout), modules };
}

function loadedOf(run: Run, prefixes: readonly string[]): string[] {
  return run.modules.filter((m) => prefixes.some((p) => m.startsWith(p)));
}

function smallDb(path: string): void {
  const db = new Database(path, { create: true });
  db.exec(
    "PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');",
  );
  db.close();
}

describe("loaded modules (issue #13)", () => {
  test("--help loads no subcommand module", async () => {
    await using dir = await makeTempDir("litefleet-modules-");
    const run = await runLogged(dir.path, ["--help"]);
    expect(run.code).toBe(0);
    expect(run.log).toContain("replicate");
    expect(run.modules).toContain("src/cli/io.ts");
    expect(loadedOf(run, [...otherSubcommands(), ...Object.values(HEAVY).flat()])).toEqual([]);
  });

  test("replicate with a file replica loads no S3, mqtt, Parquet, v0.3 or dashboard code; restore from it no S3 or v0.3 code", async () => {
    await using dir = await makeTempDir("litefleet-modules-");
    const db = join(dir.path, "app.db");
    smallDb(db);
    const replica = join(dir.path, "replica");
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      ['status: { addr: "" }', "dbs:", `  - path: ${db}`, "    replica:", `      path: ${replica}`].join("\n"),
    );
    const run = await runLogged(dir.path, ["replicate", "--config", cfg], { readyText: "capture started" });
    expect({ code: run.code, log: run.log }).toEqual({ code: 0, log: expect.stringContaining("stopped") });
    expect(run.modules).toContain("src/cli/replicate.ts");
    expect(run.modules).toContain("src/replica/file/replica-client.ts");
    const heavy = [HEAVY.s3, HEAVY.mqtt, HEAVY.parquet, HEAVY.v3, HEAVY.dashboard].flat();
    expect(loadedOf(run, [...otherSubcommands("replicate"), ...heavy, "src/fleet/"])).toEqual([]);
    // With `status.addr: ""` and no metrics server, no node:http server code; no debug memory log.
    expect(loadedOf(run, ["src/agent/status-server.ts", "src/platform/memory.ts"])).toEqual([]);

    const restore = await runLogged(dir.path, ["restore", "-o", join(dir.path, "restored.db"), replica]);
    expect({ code: restore.code, log: restore.log }).toEqual({ code: 0, log: expect.stringContaining("integrity ok") });
    expect(restore.modules).toContain("src/cli/restore.ts");
    expect(loadedOf(restore, [...otherSubcommands("restore"), ...heavy])).toEqual([]);
  });

  test("replicate with LITEFLEET_DEBUG_MEMORY logs memory lines and loads their module", async () => {
    await using dir = await makeTempDir("litefleet-modules-");
    const db = join(dir.path, "app.db");
    smallDb(db);
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        'status: { addr: "" }',
        "dbs:",
        `  - path: ${db}`,
        "    replica:",
        `      path: ${join(dir.path, "replica")}`,
      ].join("\n"),
    );
    const run = await runLogged(dir.path, ["replicate", "--config", cfg], {
      env: { LITEFLEET_DEBUG_MEMORY: "60" },
      readyText: " memory ",
    });
    expect({ code: run.code, log: run.log }).toEqual({ code: 0, log: expect.stringContaining("stopped") });
    expect(run.log).toMatch(/INFO memory rssKiB=\d+ .*heapKiB=\d+/);
    expect(run.modules).toContain("src/platform/memory.ts");
  });

  test("replicate with an S3 replica and mqtt loads both (and no Parquet, v0.3 or dashboard code)", async () => {
    await using dir = await makeTempDir("litefleet-modules-");
    await using s3 = await startS3Server({ buckets: ["bkt"] });
    await using broker = await startMqttBroker();
    const db = join(dir.path, "app.db");
    smallDb(db);
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        "device: { id: dev-1 }",
        'status: { addr: "" }',
        "mqtt:",
        `  url: ${broker.url}`,
        `  protocol: ${broker.kind === "mosquitto" ? "5" : '"3.1.1"'}`,
        `  state-dir: ${join(dir.path, "fleet-state")}`,
        "dbs:",
        `  - path: ${db}`,
        "    replica:",
        `      url: s3://bkt/app.db?endpoint=${s3.endpoint}`,
      ].join("\n"),
    );
    const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const run = await runLogged(dir.path, ["replicate", "--config", cfg], { env, readyText: "mqtt connected" });
    expect({ code: run.code, log: run.log }).toEqual({ code: 0, log: expect.stringContaining("stopped") });
    expect(loadedOf(run, ["node_modules/mqtt/"]).length).toBeGreaterThan(0);
    expect(run.modules).toContain("src/replica/s3/replica-client.ts");
    expect(run.modules).toContain("src/fleet/device-link.ts");
    expect(loadedOf(run, [...otherSubcommands("replicate"), HEAVY.parquet, HEAVY.v3, HEAVY.dashboard].flat())).toEqual(
      [],
    );
  });
});
