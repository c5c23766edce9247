/**
 * `bun run bench write-throughput`: how much of its solo write throughput
 * an application doing small commits in WAL mode keeps while an agent
 * replicates its database (issue #13), and how many fsyncs the agent makes.
 *
 * One fresh database per phase: the writer alone, then with litefleet
 * (run from the working tree, `bun src/cli/main.ts replicate`), then with
 * Litestream v0.3.13 when its binary is installed; both agents at a 1 s
 * monitor and sync interval to a file replica. When `strace` is installed
 * each agent runs under `strace -f -c -e trace=fsync,fdatasync`, which
 * counts its fsyncs (litefleet's per capture: per TXID it wrote).
 *
 * Options: `--seconds N` per phase (default 20), `--synchronous NORMAL|FULL`
 * (the writer's `PRAGMA synchronous`, default NORMAL), `--out FILE`.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { baseEnv, startAgent, stopAgent, type AgentLaunch } from "./agent-process.ts";
import type { BenchContext } from "./benchmark.ts";
import { REPO_ROOT } from "./litefleet-agent.ts";
import { findLitestreamBinary, LITESTREAM_VERSION } from "./litestream-agent.ts";
import { machineInfo } from "./machine-info.ts";

interface Options {
  readonly seconds: number;
  readonly synchronous: "NORMAL" | "FULL";
  readonly out: string | undefined;
}

interface PhaseResult {
  readonly name: string;
  readonly commitsPerSecond: number;
  readonly maxCommitMs: number;
  readonly fsyncs: number | undefined;
  readonly captures: number | undefined;
}

function parseOptions(args: readonly string[]): Options {
  let seconds = 20;
  let synchronous: Options["synchronous"] = "NORMAL";
  let out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    if (a === "--seconds" && v !== undefined && Number(v) > 0) seconds = Number(args[++i]);
    else if (a === "--synchronous" && (v === "NORMAL" || v === "FULL")) {
      synchronous = v;
      i++;
    } else if (a === "--out" && v !== undefined) out = args[++i];
    else
      throw new RangeError(
        `Cannot run write-throughput: unknown or incomplete option '${a}' (--seconds N, --synchronous NORMAL|FULL, --out FILE)`,
      );
  }
  return { seconds, synchronous, out };
}

function createDatabase(path: string): void {
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("CREATE TABLE readings (id INTEGER PRIMARY KEY, ts INTEGER, value REAL)");
  db.run(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO readings(ts, value) SELECT i, random() FROM n",
  );
  db.close();
}

async function runWriter(
  dbPath: string,
  options: Options,
  ctx: BenchContext,
): Promise<{ commits: number; seconds: number; maxCommitMs: number }> {
  const proc = ctx.guard.track(
    Bun.spawn(
      [
        process.execPath,
        join(REPO_ROOT, "bench/write-throughput-writer.ts"),
        dbPath,
        String(options.seconds),
        options.synchronous,
      ],
      {
        env: baseEnv(),
        stdout: "pipe",
        stderr: "inherit",
      },
    ),
  );
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  if (proc.exitCode !== 0) throw new Error(`Cannot measure write throughput: the writer exited with ${proc.exitCode}`);
  return JSON.parse(text) as { commits: number; seconds: number; maxCommitMs: number };
}

/** `strace -c` summary: the calls column of the fsync and fdatasync rows. */
function straceCalls(path: string): number {
  let n = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const cols = line.trim().split(/\s+/);
    const name = cols.at(-1);
    if (name === "fsync" || name === "fdatasync") n += Number(cols[3]);
  }
  return n;
}

async function phase(
  name: string,
  work: string,
  options: Options,
  ctx: BenchContext,
  agent?: (dbPath: string, dir: string) => AgentLaunch & { captures?: () => number | undefined },
): Promise<PhaseResult> {
  const dir = join(work, name);
  Bun.spawnSync(["mkdir", "-p", dir]);
  const dbPath = join(dir, "app.db");
  createDatabase(dbPath);
  const agentLaunch = agent?.(dbPath, dir);
  let launch = agentLaunch;
  const strace = Bun.which("strace");
  const straceOut = join(dir, "strace.txt");
  if (launch && strace) {
    launch = {
      ...launch,
      argv: [strace, "-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o", straceOut, ...launch.argv],
    };
  }
  ctx.say(`${name}: ${options.seconds} s of small commits${launch ? " under the agent" : " alone"}`);
  const proc = launch ? await startAgent(launch, { timeoutMs: 60_000, track: (c) => ctx.guard.track(c) }) : undefined;
  const res = await runWriter(dbPath, options, ctx);
  if (proc && launch !== agentLaunch) {
    // Under strace: the agent is strace's child; stop it, and strace ends
    // with it and writes its summary.
    const child = readFileSync(`/proc/${proc.process.pid}/task/${proc.process.pid}/children`, "utf8")
      .trim()
      .split(/\s+/)[0];
    if (child) process.kill(Number(child), "SIGTERM");
    await proc.process.exited;
  } else if (proc) {
    await stopAgent(proc, 60_000);
  }
  return {
    name,
    commitsPerSecond: res.commits / res.seconds,
    maxCommitMs: res.maxCommitMs,
    fsyncs: launch && strace && existsSync(straceOut) ? straceCalls(straceOut) : undefined,
    captures: launch?.captures?.(),
  };
}

function litefleet(dbPath: string, dir: string): AgentLaunch & { captures: () => number | undefined } {
  const config = join(dir, "litefleet.yml");
  writeFileSync(
    config,
    stringify({
      status: { addr: "" },
      dbs: [
        {
          path: dbPath,
          "monitor-interval": "1s",
          replica: { url: `file://${join(dir, "replica")}`, "sync-interval": "1s" },
        },
      ],
    }),
  );
  return {
    name: "litefleet",
    argv: [process.execPath, join(REPO_ROOT, "src/cli/main.ts"), "replicate", "--config", config],
    env: baseEnv(),
    logPath: join(dir, "agent.log"),
    readyText: "capture started",
    captures: () => {
      // One TXID per capture; the state dir records the last one.
      const pos = JSON.parse(readFileSync(join(dir, ".app.db-litefleet", "position.json"), "utf8")) as { txid: string };
      return Number.parseInt(pos.txid, 16);
    },
  };
}

function litestream(binary: string): (dbPath: string, dir: string) => AgentLaunch {
  return (dbPath, dir) => {
    const config = join(dir, "litestream.yml");
    writeFileSync(
      config,
      stringify({
        dbs: [
          {
            path: dbPath,
            "monitor-interval": "1s",
            replicas: [{ type: "file", path: join(dir, "replica"), "sync-interval": "1s" }],
          },
        ],
      }),
    );
    return {
      name: "litestream",
      argv: [binary, "replicate", "-config", config],
      env: baseEnv(),
      logPath: join(dir, "agent.log"),
      readyText: "replicating to",
    };
  };
}

/** Runs the benchmark; see the module documentation. */
export async function runWriteThroughput(args: readonly string[], ctx: BenchContext): Promise<number> {
  const options = parseOptions(args);
  const work = ctx.guard.makeTempDir("write-throughput-");
  const results: PhaseResult[] = [
    await phase("solo", work, options, ctx),
    await phase("litefleet", work, options, ctx, litefleet),
  ];
  const ls = findLitestreamBinary();
  if (ls) results.push(await phase("litestream", work, options, ctx, litestream(ls)));
  else ctx.say(`Litestream ${LITESTREAM_VERSION} is not installed; measuring litefleet only`);
  const solo = results[0]?.commitsPerSecond ?? 1;
  const m = machineInfo();
  const lines = [
    `Command: \`${ctx.command}\` (${options.seconds} s per phase, writer \`PRAGMA synchronous = ${options.synchronous}\`, one-row commits, agents at 1 s monitor + sync interval, file replica)`,
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, bun ${m.bunVersion}`,
    "",
    "| phase | commits/s | × solo | max commit (ms) | agent fsyncs | fsyncs/s | captures | fsyncs/capture |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
    ...results.map((r) => {
      const perCapture = r.fsyncs !== undefined && r.captures ? (r.fsyncs / r.captures).toFixed(2) : "n/a";
      const perSecond = r.fsyncs === undefined ? "n/a" : (r.fsyncs / options.seconds).toFixed(1);
      const litestreamName = r.name === "litestream" ? `Litestream ${LITESTREAM_VERSION}` : r.name;
      return `| ${litestreamName} | ${r.commitsPerSecond.toFixed(0)} | ${(r.commitsPerSecond / solo).toFixed(2)} | ${r.maxCommitMs.toFixed(1)} | ${r.fsyncs ?? "n/a"} | ${perSecond} | ${r.captures ?? "n/a"} | ${perCapture} |`;
    }),
  ];
  const report = `${lines.join("\n")}\n`;
  process.stdout.write(report);
  if (options.out) writeFileSync(options.out, report);
  return 0;
}
