/**
 * The `idle-rss` benchmark (issue #13, "idle footprint"): the memory of an
 * idle `replicate` with one small database, for three configs — a file
 * replica, an S3 replica (s3rver), and an S3 replica with `mqtt:` on (the
 * harness's broker) — side by side with Litestream v0.3.13 on the same
 * database with an equivalent config (file and S3; it has no MQTT).
 *
 * Each case runs `--runs` times, one agent at a time: a fresh database of
 * 1,000 rows in WAL mode, the agent started and waited for (its first sync
 * done; with MQTT, connected), then left idle for `--idle` seconds while
 * `VmRSS` is sampled every 250 ms; at the end `VmRSS`, `VmHWM`, `RssAnon`
 * and `RssFile` are read from `/proc/<pid>/status`, and the agent is
 * stopped with SIGTERM (it must exit 0). The report gives the median of
 * the runs.
 *
 * ```sh
 * bun run bench idle-rss [--idle SECONDS] [--runs N] [--out FILE]
 *                        [--litefleet-bin [LABEL=]FILE]...   # default: the release build of the working tree
 * ```
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { startMqttBroker, type MqttBroker } from "../test/harness/mqtt-broker.ts";
import { startS3Server, type S3Server } from "../test/harness/s3-server.ts";
import { baseEnv, runCommand, startAgent, stopAgent, type AgentLaunch } from "./agent-process.ts";
import { resolveBinaries } from "./agent-binaries.ts";
import type { BenchContext } from "./benchmark.ts";
import { positiveOption } from "./cli-options.ts";
import { machineInfo } from "./machine-info.ts";
import { readMemoryKiB, RssSampler } from "./process-stats.ts";
import type { TrackChild } from "./process-guard.ts";
import { mib } from "./report-common.ts";

/** Usage of `bun run bench idle-rss`. */
export const IDLE_RSS_USAGE = `Usage: bun run bench idle-rss [options]

Idle RSS of 'replicate' with one small database: file replica, S3 replica, S3 + MQTT
(litefleet), file and S3 (Litestream v0.3.13), one agent at a time.

Options:
  --idle SECONDS          idle time per run after the agent is ready (default 15)
  --runs N                runs per case; the report shows the median (default 3)
  --litefleet-bin [LABEL=]FILE
                          measure this litefleet binary (repeat to compare builds, e.g.
                          --litefleet-bin before=/tmp/a --litefleet-bin after=/tmp/b);
                          default: the release build of the working tree (cross-compile/build.ts)
  --out FILE              also write the markdown report to FILE
  --help                  print this help`;

/** Options of one run. */
interface IdleRssOptions {
  readonly idleSeconds: number;
  readonly runs: number;
  readonly out: string | undefined;
  /** Labelled binaries; empty = build the release binary. */
  readonly binaries: readonly { readonly label: string; readonly path: string }[];
}

type CaseName = "file" | "s3" | "s3+mqtt";

/** One measured agent process. */
interface Reading {
  readonly rssKiB: number;
  readonly hwmKiB: number;
  readonly rssAnonKiB: number;
  readonly rssFileKiB: number;
  /** Largest sampled `VmRSS` while idle. */
  readonly maxSampledKiB: number;
}

/** The runs of one agent in one case. */
interface CaseResult {
  readonly agent: string;
  readonly caseName: CaseName;
  readonly readings: readonly Reading[];
}

/** Shared servers of a run. */
interface Servers {
  readonly s3: S3Server;
  readonly broker: MqttBroker;
}

const BUCKET = "idle-rss";
const SAMPLE_MS = 250;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Parses the options of `idle-rss`.
 *
 * @returns the options, or `"help"`
 * @throws {TypeError} for an unknown option
 * @throws {RangeError} for a value out of range
 */
export function parseIdleRssOptions(args: readonly string[]): IdleRssOptions | "help" {
  const { values } = parseArgs({
    args: [...args],
    options: {
      idle: { type: "string", default: "15" },
      runs: { type: "string", default: "3" },
      out: { type: "string" },
      "litefleet-bin": { type: "string", multiple: true, default: [] },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const binaries = values["litefleet-bin"].map((spec, i) => {
    const eq = spec.indexOf("=");
    return eq > 0
      ? { label: spec.slice(0, eq), path: spec.slice(eq + 1) }
      : { label: values["litefleet-bin"].length > 1 ? `litefleet ${i + 1}` : "litefleet", path: spec };
  });
  return {
    idleSeconds: positiveOption("idle", values.idle),
    runs: positiveOption("runs", values.runs),
    out: values.out,
    binaries,
  };
}

/** Runs the benchmark; see the module documentation. */
export async function runIdleRss(args: readonly string[], ctx: BenchContext): Promise<number> {
  const options = parseIdleRssOptions(args);
  if (options === "help") {
    process.stdout.write(`${IDLE_RSS_USAGE}\n`);
    return 0;
  }
  const { say, guard } = ctx;
  const track: TrackChild = (child) => guard.track(child);
  const work = guard.makeTempDir("idle-rss-");
  const startedAt = new Date();
  const resolved = await resolveBinaries(options.binaries[0]?.path, { work, track, say, build: "release" });
  const litefleets =
    options.binaries.length > 0 ? options.binaries : [{ label: "litefleet", path: resolved.litefleet }];
  const notes = [...resolved.notes];
  await using s3 = await startS3Server({ buckets: [BUCKET] });
  await using broker = await startMqttBroker();
  const servers: Servers = { s3, broker };
  say(`s3rver at ${s3.endpoint}, MQTT broker ${broker.kind} at ${broker.url}`);

  const results: CaseResult[] = [];
  let failures = 0;
  const measure = async (agent: string, caseName: CaseName, launch: (dir: string) => AgentLaunch): Promise<void> => {
    const readings: Reading[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const dir = join(work, `${agent.replace(/[^a-z0-9]+/gi, "-")}-${caseName.replace("+", "-")}-${run}`);
      mkdirSync(dir, { recursive: true });
      say(`${agent}, ${caseName} replica: run ${run}/${options.runs} (${options.idleSeconds} s idle)`);
      const r = await measureOnce(launch(dir), { idleSeconds: options.idleSeconds, track });
      if (r.exitNote !== undefined) {
        failures++;
        notes.push(`${agent} (${caseName}, run ${run}): ${r.exitNote}`);
      }
      readings.push(r.reading);
    }
    results.push({ agent, caseName, readings });
  };

  if (resolved.litestream !== undefined) {
    const ls = resolved.litestream;
    await measure("Litestream v0.3.13", "file", (dir) => litestreamCase(ls, dir, "file", servers));
    await measure("Litestream v0.3.13", "s3", (dir) => litestreamCase(ls, dir, "s3", servers));
  }
  for (const lf of litefleets) {
    const v = await runCommand([lf.path, "version"], { env: baseEnv(), timeoutMs: 30_000, track });
    notes.push(`${lf.label}: ${lf.path} (${v.output.trim()})`);
    for (const caseName of ["file", "s3", "s3+mqtt"] as const) {
      await measure(lf.label, caseName, (dir) => litefleetCase(lf.path, dir, caseName, servers));
    }
  }

  // With several litefleet binaries, each one's version is in the notes.
  const versions = Object.fromEntries(
    Object.entries(resolved.versions).filter(([k]) => k !== "litefleet" || litefleets.length === 1),
  );
  const report = renderIdleRssReport({
    command: ctx.command,
    startedAt,
    options,
    results,
    notes,
    brokerKind: broker.kind,
    versions,
  });
  process.stdout.write(`\n${report}`);
  if (options.out !== undefined) {
    writeFileSync(options.out, report);
    say(`report written to ${options.out}`);
  }
  return failures === 0 ? 0 : 1;
}

/** Starts one agent, leaves it idle, reads its memory, stops it. */
async function measureOnce(
  launch: AgentLaunch,
  ctx: { idleSeconds: number; track: TrackChild },
): Promise<{ reading: Reading; exitNote: string | undefined }> {
  const agent = await startAgent(launch, { timeoutMs: START_TIMEOUT_MS, track: ctx.track });
  const sampler = new RssSampler(new Map([[launch.name, agent.process.pid]]));
  let reading: Reading;
  try {
    sampler.start(SAMPLE_MS);
    await Bun.sleep(ctx.idleSeconds * 1000);
    sampler.sampleNow();
    const m = readMemoryKiB(agent.process.pid);
    reading = {
      rssKiB: m.rssKiB,
      hwmKiB: m.hwmKiB,
      rssAnonKiB: m.rssAnonKiB,
      rssFileKiB: m.rssFileKiB,
      maxSampledKiB: sampler.maxRssKiB(launch.name) ?? m.rssKiB,
    };
  } finally {
    sampler.stop();
  }
  const exit = await stopAgent(agent, STOP_TIMEOUT_MS);
  const clean = !exit.killed && exit.code === 0;
  return {
    reading,
    exitNote: clean
      ? undefined
      : `did not exit cleanly after SIGTERM (${exit.killed ? "killed" : `exit ${exit.code ?? exit.signal}`}; log ${launch.logPath})`,
  };
}

/** A WAL-mode database of 1,000 small rows. */
function smallDatabase(path: string): void {
  const db = new Database(path, { create: true });
  try {
    db.exec(
      "PRAGMA journal_mode = wal; CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL, at INTEGER)",
    );
    const insert = db.prepare("INSERT INTO readings (sensor, value, at) VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < 1000; i++) insert.run(`s${i % 8}`, i / 7, 1_795_000_000 + i);
    })();
  } finally {
    db.close();
  }
}

function litefleetCase(binary: string, dir: string, caseName: CaseName, servers: Servers): AgentLaunch {
  const dbPath = join(dir, "app.db");
  smallDatabase(dbPath);
  const s3 = servers.s3;
  const replica =
    caseName === "file"
      ? { path: join(dir, "replica") }
      : { url: `s3://${BUCKET}/${dir.split("/").pop()}/app.db?endpoint=${s3.endpoint}` };
  const config: Record<string, unknown> = {
    device: { id: "idle-rss" },
    // No status server: Litestream serves no HTTP either unless `addr:` is set.
    status: { addr: "" },
    dbs: [{ path: dbPath, replica }],
  };
  if (caseName === "s3+mqtt") {
    const b = servers.broker;
    config["mqtt"] = {
      url: b.url,
      protocol: b.kind === "mosquitto" ? "5" : "3.1.1",
      "state-dir": join(dir, "fleet-state"),
    };
  }
  const configPath = join(dir, "litefleet.yml");
  writeFileSync(configPath, stringify(config));
  return {
    name: `litefleet-${caseName}`,
    argv: [binary, "replicate", "--config", configPath],
    env: {
      ...baseEnv(),
      LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId,
      LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_REGION: "us-east-1",
    },
    logPath: join(dir, "agent.log"),
    readyText: caseName === "s3+mqtt" ? "mqtt connected" : "capture started",
  };
}

function litestreamCase(binary: string, dir: string, caseName: "file" | "s3", servers: Servers): AgentLaunch {
  const dbPath = join(dir, "app.db");
  smallDatabase(dbPath);
  const s3 = servers.s3;
  const replica =
    caseName === "file"
      ? { type: "file", path: join(dir, "replica") }
      : {
          type: "s3",
          bucket: BUCKET,
          path: `${dir.split("/").pop()}/app.db`,
          endpoint: s3.endpoint,
          region: "us-east-1",
          "force-path-style": true,
          "access-key-id": s3.accessKeyId,
          "secret-access-key": s3.secretAccessKey,
        };
  const configPath = join(dir, "litestream.yml");
  writeFileSync(configPath, stringify({ dbs: [{ path: dbPath, replicas: [replica] }] }));
  return {
    name: `litestream-${caseName}`,
    argv: [binary, "replicate", "-config", configPath],
    env: baseEnv(),
    logPath: join(dir, "agent.log"),
    readyText: "replicating to",
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The markdown report. */
export function renderIdleRssReport(r: {
  command: string;
  startedAt: Date;
  options: IdleRssOptions;
  results: readonly CaseResult[];
  notes: readonly string[];
  brokerKind: string;
  versions: Readonly<Record<string, string>>;
}): string {
  const m = machineInfo();
  const baseline = (caseName: CaseName) =>
    r.results.find((x) => x.agent.startsWith("Litestream") && x.caseName === caseName);
  const lines = [
    `## Idle RSS: replicate with one small database${r.options.runs < 3 ? " (fewer than 3 runs: not a result of record)" : ""}`,
    "",
    `- Command: \`${r.command}\``,
    `- Date: ${r.startedAt.toISOString()}`,
    `- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}`,
    `- Agents: ${Object.entries(r.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join("; ")}`,
    `- Each case: ${r.options.runs} run(s), ${r.options.idleSeconds} s idle after the agent is ready; medians. MQTT broker: ${r.brokerKind} (in the benchmark process when aedes).`,
    "",
    "| agent | replica | VmRSS MiB | VmHWM MiB | max sampled MiB | RssAnon MiB | RssFile MiB | VmRSS vs Litestream (same replica) |",
    "|---|---|--:|--:|--:|--:|--:|--:|",
  ];
  for (const c of r.results) {
    const med = (f: (x: Reading) => number) => median(c.readings.map(f));
    const base = baseline(c.caseName === "s3+mqtt" ? "s3" : c.caseName);
    const ratio =
      base && !c.agent.startsWith("Litestream")
        ? `${(med((x) => x.rssKiB) / median(base.readings.map((x) => x.rssKiB))).toFixed(2)}×`
        : "";
    lines.push(
      `| ${c.agent} | ${c.caseName} | ${mib(med((x) => x.rssKiB))} | ${mib(med((x) => x.hwmKiB))} | ${mib(med((x) => x.maxSampledKiB))} | ${mib(med((x) => x.rssAnonKiB))} | ${mib(med((x) => x.rssFileKiB))} | ${ratio} |`,
    );
  }
  lines.push(
    "",
    "- VmRSS / VmHWM / RssAnon / RssFile: `/proc/<pid>/status` at the end of the idle time; RssFile is mostly the executable's own pages (the runtime's code and the embedded bundle).",
    "- Targets (issue #13): file replica VmRSS ≤ 1.2× Litestream's; S3 replica + MQTT ≤ 48 MiB.",
  );
  if (r.notes.length > 0) lines.push("", "Notes:", "", ...r.notes.map((n) => `- ${n}`));
  return `${lines.join("\n")}\n`;
}
