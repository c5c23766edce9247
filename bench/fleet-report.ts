/**
 * The pure parts of `bun run bench fleet`: latency summaries, the
 * problems-first check of `fleet status`'s table, and the markdown report.
 *
 * @module
 */

import { FLEET_STATES, isFleetState, stateRank } from "../src/fleet/device-health.ts";
import type { MachineInfo } from "./machine-info.ts";

/** A summary of measured values (ms): how many, median, 95th and 99th percentile, largest. */
export interface Summary {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/**
 * The `q` quantile (0–1) of ascending `sorted` by the nearest-rank method:
 * the smallest value with at least `q` of the values at or below it.
 *
 * @throws {RangeError} when `q` is outside 0–1
 */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Cannot take quantile ${q}: it must be within 0-1`);
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** Summarizes `values` (any order). */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? null,
  };
}

/** States an operator must look at: everything before `pending`. */
export const PROBLEM_STATES: readonly string[] = FLEET_STATES.slice(0, FLEET_STATES.indexOf("pending"));

/** What {@linkcode checkTableOrder} found in a `fleet status` table. */
export interface TableOrder {
  /** Database rows in the table. */
  readonly rows: number;
  /** Of them, rows in a problem state. */
  readonly problems: number;
  /** Whether every problem row came before every healthy one. */
  readonly problemsFirst: boolean;
  /** When not: the first healthy row that came before a problem row (1-based table line), else null. */
  readonly firstWrong: string | null;
}

/**
 * Checks the output of `fleet status` (table: a summary line, the header,
 * one line per database): every row in a problem state before any pending
 * or ok one.
 *
 * @throws {SyntaxError} when a row's state column is no fleet state
 */
export function checkTableOrder(stdout: string): TableOrder {
  const lines = stdout.trimEnd().split("\n");
  const header = lines.findIndex((l) => l.startsWith("DEVICE "));
  if (header === -1) throw new SyntaxError("Cannot check fleet status output: no 'DEVICE' header line");
  const calm = stateRank("pending");
  let rows = 0;
  let problems = 0;
  let healthySeen: string | null = null;
  let firstWrong: string | null = null;
  for (const line of lines.slice(header + 1)) {
    // Columns are two or more spaces apart; the state may read "offline (lost)".
    const state = line.split(/ {2,}/)[2]?.split(" ")[0] ?? "";
    if (!isFleetState(state)) throw new SyntaxError(`Cannot check fleet status output: no state in '${line}'`);
    rows++;
    if (stateRank(state) < calm) {
      problems++;
      if (healthySeen !== null && firstWrong === null) firstWrong = healthySeen;
    } else healthySeen ??= line;
  }
  return { rows, problems, problemsFirst: firstWrong === null, firstWrong };
}

/** Everything one run measured. */
export interface FleetBenchResult {
  readonly command: string;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly loadAverage: readonly number[];
  readonly broker: string;
  readonly devices: number;
  readonly databases: number;
  readonly publishMs: number;
  readonly fleetStatus: {
    readonly runsMs: readonly number[];
    readonly medianMs: number;
    readonly maxMs: number;
    readonly rows: number;
    readonly problems: number;
    readonly problemsFirst: boolean;
    readonly outputBytes: number;
  };
  readonly page: {
    readonly firstRowMs: number;
    readonly firstProblemRowMs: number;
    readonly firstScreenRows: number;
    readonly firstScreenProblems: number;
  };
  readonly traffic: {
    readonly rate: number;
    readonly seconds: number;
    readonly statuses: number;
    readonly tele: number;
    readonly achievedRate: number;
    readonly mix: Readonly<Record<string, number>>;
    readonly watchedDevices: number;
    readonly watchedSent: number;
    readonly watchedShown: number;
    readonly watchedStillOnScreen: number;
    readonly latency: Summary;
    readonly frames: number;
    readonly fps: number;
    readonly longestFrameMs: number;
  };
  readonly dashboard: {
    readonly hwmKiB: number;
    readonly rssEndKiB: number;
    readonly maxSampledKiB: number;
    readonly rssLoadedKiB: number;
    readonly cpuSeconds: number;
    readonly apiDevices: Summary & { readonly bytes: number };
    readonly history: string;
  };
  readonly screenshots: readonly string[];
  readonly notes: readonly string[];
}

function ms(v: number | null): string {
  return v === null ? "n/a" : `${Math.round(v)} ms`;
}

function s(msValue: number): string {
  return `${(msValue / 1000).toFixed(2)} s`;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** The markdown report of one run. */
export function renderFleetReport(r: FleetBenchResult): string {
  const m = r.machine;
  const fs = r.fleetStatus;
  const t = r.traffic;
  const d = r.dashboard;
  const yes = (ok: boolean) => (ok ? "yes" : "**no**");
  const lines = [
    `## fleet: ${r.devices.toLocaleString("en-US")} devices, ${t.rate} status updates/s for ${t.seconds} s`,
    "",
    `- Command: \`${r.command}\``,
    `- Date: ${r.startedAt}`,
    `- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}; load average at start ${r.loadAverage.map((x) => x.toFixed(2)).join(" ")}`,
    `- Broker: ${r.broker}; ${r.devices.toLocaleString("en-US")} devices, ${r.databases.toLocaleString("en-US")} databases, retained statuses and telemetry published in ${s(r.publishMs)}`,
    "",
    "| what | measured | target | met |",
    "|---|---|---|---|",
    `| \`fleet status\` (table), ${fs.runsMs.length} runs | median ${s(fs.medianMs)}, max ${s(fs.maxMs)} (${fs.runsMs.map((x) => (x / 1000).toFixed(2)).join(", ")}) | ≤ 5 s | ${yes(fs.maxMs <= 5_000)} |`,
    `| \`fleet status\` order | ${fs.rows.toLocaleString("en-US")} rows, the ${fs.problems.toLocaleString("en-US")} problem rows first: ${fs.problemsFirst ? "yes" : "no"} | problems first | ${yes(fs.problemsFirst)} |`,
    `| dashboard: first row on screen after \`goto\` | ${ms(r.page.firstRowMs)} (first problem row ${ms(r.page.firstProblemRowMs)}) | ≤ 2 s | ${yes(r.page.firstProblemRowMs <= 2_000)} |`,
    `| dashboard: first screen's rows | ${r.page.firstScreenProblems} of ${r.page.firstScreenRows} in a problem state | all | ${yes(r.page.firstScreenRows > 0 && r.page.firstScreenProblems === r.page.firstScreenRows)} |`,
    `| live: status updates published | ${t.statuses.toLocaleString("en-US")} in ${t.seconds} s (${t.achievedRate.toFixed(1)}/s), + ${t.tele} telemetry | ${t.rate}/s | ${yes(t.achievedRate >= t.rate * 0.95)} |`,
    `| live: updates of on-screen devices shown | ${t.watchedShown}/${t.watchedSent} (${t.watchedDevices} devices; ${t.watchedStillOnScreen} still on screen at the end) | all | ${yes(t.watchedSent > 0 && t.watchedShown === t.watchedSent)} |`,
    `| live: publish → on screen | p50 ${ms(t.latency.p50)}, p95 ${ms(t.latency.p95)}, max ${ms(t.latency.max)} | — | |`,
    `| live: page frame rate | ${t.fps.toFixed(1)} frames/s (${t.frames} frames), longest frame ${ms(t.longestFrameMs)} | — | |`,
    `| dashboard process: RSS | peak (VmHWM) ${mib(d.hwmKiB)} MiB; loaded, before traffic ${mib(d.rssLoadedKiB)} MiB; at the end ${mib(d.rssEndKiB)} MiB (max sampled ${mib(d.maxSampledKiB)}); ${d.cpuSeconds.toFixed(1)} CPU s | — | |`,
    `| \`/api/devices\` under load | p50 ${ms(d.apiDevices.p50)}, p99 ${ms(d.apiDevices.p99)}, max ${ms(d.apiDevices.max)} (${d.apiDevices.count} requests, ${(d.apiDevices.bytes / 1_048_576).toFixed(1)} MiB each) | — | |`,
    `| \`/api/history\` | ${d.history} | — | |`,
    "",
    `Update mix: ${Object.entries(t.mix)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}.`,
  ];
  if (r.screenshots.length > 0) lines.push("", `Screenshots: ${r.screenshots.map((p) => `\`${p}\``).join(", ")}.`);
  if (r.notes.length > 0) lines.push("", "Notes:", "", ...r.notes.map((n) => `- ${n}`));
  return `${lines.join("\n")}\n`;
}
