/**
 * The `chaos` benchmark (issue #11): for each seed, the whole real agent
 * with one to three databases, each written by its own writer process,
 * replicating to s3rver through the fault proxy
 * (`test/harness/s3-fault-proxy.ts`), while the seed's schedule
 * (`chaos-schedule.ts`) kills the agent and the writers, cuts the link,
 * steps the agent's clock (libfaketime) and fills its state directory
 * (tmpfs). Then every restore point is checked (`chaos-check.ts`).
 *
 * Each seed runs in its own process (`chaos-seed.ts`), `--parallel` at a
 * time. Results go to `.artifacts/chaos-<time>.json` and a markdown table
 * on stdout; agent logs of seeds with findings are copied next to it.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BenchContext } from "./benchmark.ts";
import { DATA_CLASSES } from "./chaos-check.ts";
import { renderChaosReport, totals, type SeedCrash } from "./chaos-report.ts";
import type { LongOutageMode } from "./chaos-schedule.ts";
import type { SeedInput, SeedResult } from "./chaos-seed.ts";
import { canMountTmpfs, mountsUnder, unmount } from "./chaos-tmpfs.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const SEED_SCRIPT = join(REPO, "bench", "chaos-seed.ts");

/** Usage of `bun run bench chaos`. */
export const CHAOS_USAGE = `Usage: bun run bench chaos [options]
  --seeds N             how many seeds (default 20)
  --seed S              the first seed (default 1); seeds S, S+1, … run
  --duration D          seconds of faults per seed: 20 or 20s (default 20)
  --short               the CI run: 3 seeds, 20 s, no long outages (must finish in 3 minutes on 2 cores)
  --long-outages MODE   off | auto (about 1 seed in 25 gets a 60-180 s outage; default) | on (every seed)
  --parallel P          seeds at once (default 2)
  --out FILE            also write the markdown report to FILE
  --keep                keep each seed's work directory (databases, agent log, config)`;

/** Parsed options. */
export interface ChaosOptions {
  readonly seeds: number;
  readonly firstSeed: number;
  readonly durationSeconds: number;
  readonly longOutages: LongOutageMode;
  readonly parallel: number;
  readonly out: string | undefined;
  readonly keep: boolean;
  readonly short: boolean;
}

/**
 * Parses the options.
 *
 * @throws {RangeError} for a value out of range
 * @throws {TypeError} for an unknown option
 */
export function parseChaosOptions(args: readonly string[]): ChaosOptions | "help" {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seeds: { type: "string" },
      seed: { type: "string" },
      duration: { type: "string" },
      short: { type: "boolean", default: false },
      "long-outages": { type: "string" },
      parallel: { type: "string" },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const int = (name: string, text: string | undefined, fallback: number, min: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text.replace(/s$/, ""));
    if (!Number.isInteger(n) || n < min)
      throw new RangeError(`Cannot parse options: --${name} must be a whole number >= ${min}, got '${text}'`);
    return n;
  };
  const longOutages = (values["long-outages"] ?? (values.short ? "off" : "auto")) as LongOutageMode;
  if (!["off", "auto", "on"].includes(longOutages))
    throw new RangeError(`Cannot parse options: --long-outages must be off, auto or on, got '${longOutages}'`);
  return {
    seeds: int("seeds", values.seeds, values.short ? 3 : 20, 1),
    firstSeed: int("seed", values.seed, 1, 0),
    durationSeconds: int("duration", values.duration, 20, 5),
    longOutages,
    parallel: int("parallel", values.parallel, 2, 1),
    out: values.out,
    keep: values.keep,
    short: values.short,
  };
}

/**
 * Runs the benchmark.
 *
 * @returns 0, or 1 when a restore produced wrong data (a `mismatch` or `lost` finding) or a seed crashed
 */
export async function runChaos(args: readonly string[], ctx: BenchContext): Promise<number> {
  const parsed = parseChaosOptions(args);
  if (parsed === "help") {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return 0;
  }
  const o = parsed;
  const { say } = ctx;
  const started = performance.now();
  const root = ctx.guard.makeTempDir("litefleet-chaos-");
  if (o.keep) ctx.guard.keepTempDirs();
  const enospc = canMountTmpfs();
  if (!enospc) say("cannot mount a tmpfs here (needs root): ENOSPC events are left out");
  const commit = gitCommit();
  say(
    `chaos: ${o.seeds} seeds from ${o.firstSeed}, ${o.durationSeconds} s each, ${o.parallel} at a time, long outages ${o.longOutages}, agent ${commit}`,
  );

  const seeds = Array.from({ length: o.seeds }, (_, i) => o.firstSeed + i);
  const results: SeedResult[] = [];
  const crashes: SeedCrash[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < seeds.length) {
      const seed = seeds[next++] as number;
      const work = join(root, `seed-${seed}`);
      const input: SeedInput = {
        seed,
        durationSeconds: o.durationSeconds,
        longOutages: o.longOutages,
        work,
        out: join(root, `seed-${seed}.json`),
        enospc,
      };
      const t0 = performance.now();
      const proc = ctx.guard.track(
        Bun.spawn([process.execPath, SEED_SCRIPT, JSON.stringify(input)], {
          cwd: REPO,
          stdout: "pipe",
          stderr: "pipe",
          env: process.env,
        }),
      );
      // A seed is at most its faults, a long outage, the drain (sync 120 s, stop 60 s) and the checks.
      const limit = (o.durationSeconds + (o.longOutages === "off" ? 0 : 190) + 300) * 1000;
      let timedOut = false;
      // SIGTERM first: the seed process kills its agent and writers and unmounts its tmpfs.
      const timer = setTimeout(() => {
        timedOut = true;
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), 10_000).unref();
      }, limit);
      const [, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      await proc.exited;
      clearTimeout(timer);
      for (const m of mountsUnder(work)) unmount(m);
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      if (proc.exitCode === 0 && existsSync(input.out)) {
        const r = JSON.parse(readFileSync(input.out, "utf8")) as SeedResult;
        results.push(r);
        if (r.findings.length > 0) keepLog(r);
        const classes = [...new Set(r.findings.map((f) => f.class))];
        say(
          `seed ${seed}: ${seconds} s, ${r.checks.reduce((s, c) => s + c.restorePoints, 0)} restore points, ${classes.length === 0 ? "no findings" : classes.join(", ")}`,
        );
      } else {
        const message = timedOut
          ? `timed out after ${limit / 1000} s`
          : `exited ${proc.exitCode}: ${stderr.trim().split("\n").slice(-3).join(" / ")}`;
        crashes.push({ seed, seconds, message });
        say(`seed ${seed}: harness failure: ${message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, seeds.length) }, worker));
  for (const m of mountsUnder(root)) unmount(m);

  const wallSeconds = (performance.now() - started) / 1000;
  const report = renderChaosReport(results, crashes, {
    command: ctx.command,
    commit,
    date: new Date().toISOString().slice(0, 10),
    wallSeconds,
  });
  process.stdout.write(report);
  const artifacts = join(REPO, ".artifacts");
  mkdirSync(artifacts, { recursive: true });
  const jsonPath = join(artifacts, `chaos-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    jsonPath,
    JSON.stringify({ command: ctx.command, commit, options: o, wallSeconds, results, crashes }, null, 1),
  );
  say(`results: ${jsonPath}`);
  if (o.out !== undefined) writeFileSync(o.out, report);
  const t = totals(results, crashes);
  const dataFailures = [...t.byClass.keys()].filter((c) => DATA_CLASSES.has(c));
  return dataFailures.length > 0 || crashes.length > 0 ? 1 : 0;

  function keepLog(r: SeedResult): void {
    const dir = join(REPO, ".artifacts", "chaos-logs");
    mkdirSync(dir, { recursive: true });
    try {
      copyFileSync(r.agentLog, join(dir, `seed-${r.seed}-agent.log`));
    } catch {
      // The log is gone with its work dir.
    }
  }
}

function gitCommit(): string {
  const r = spawnSync("git", ["-C", REPO, "log", "-1", "--format=%h", "--", "src"], { encoding: "utf8" });
  const head = spawnSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  const dirty =
    spawnSync("git", ["-C", REPO, "status", "--porcelain", "--", "src"], { encoding: "utf8" }).stdout.trim() !== "";
  return `${head.stdout.trim()} (src last changed in ${r.stdout.trim()}${dirty ? ", with uncommitted changes" : ""})`;
}
