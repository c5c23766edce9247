/**
 * The `footprint` benchmark's result and its markdown report, with the
 * verdicts on the issue's targets: litefleet's peak RSS no higher than
 * Litestream's, and its CPU during the workload at most 1.0× Litestream's
 * at the same sync interval and 0.5× at litefleet's default upload policy.
 *
 * @module
 */

import type { AgentExit } from "./agent-process.ts";
import type { FootprintAgent, FootprintSettings } from "./footprint-settings.ts";
import type { ProcessSample } from "./process-stats.ts";
import {
  attributionLines,
  exitCell,
  fixed,
  fixedOrNa,
  int,
  mib,
  mibOrNa,
  notesSection,
  PUT_CLASS_REQUESTS,
  quickRunMark,
  restoreMethodNote,
  runFactLines,
  stopSecondsCell,
  UPLOADED_BYTES,
  type RunFacts,
} from "./report-common.ts";
import type { RestoreCheck } from "./restore-check.ts";
import type { RequestTally } from "./s3-accounting.ts";

/** The issue's target, as the report quotes it. */
export const RSS_TARGET = "RSS no higher than Litestream's";

/** Issue #13's CPU targets: litefleet's CPU during the workload at most this many times Litestream's, by upload policy. */
export const CPU_TARGETS: Readonly<Record<"sync-interval" | "default", number>> = {
  "sync-interval": 1.0,
  default: 0.5,
};

/** Restore of one database after the agents stopped. */
export interface DatabaseRestore {
  /** `<agent>-db-<i>` */
  readonly name: string;
  /** Rows the writer committed to it. */
  readonly rowsCommitted: number;
  /** Rows in it after the agents stopped. */
  readonly sourceRows: number;
  readonly check: RestoreCheck;
}

/** Everything measured for one agent process. */
export interface FootprintAgentResult {
  readonly agent: FootprintAgent;
  /** Why the agent did not run, when it did not. */
  readonly skipped: string | undefined;
  /** Databases it replicated. */
  readonly databases: number;
  /** CPU and memory `settleSeconds` after it was ready, before the workload. */
  readonly afterStart: ProcessSample | undefined;
  /** CPU and memory just before SIGTERM: `hwmKiB` is the peak RSS of the table. */
  readonly beforeStop: ProcessSample | undefined;
  /** Largest sampled `VmRSS`, KiB. */
  readonly maxSampledRssKiB: number | undefined;
  /** Its requests over the whole run, final upload included. */
  readonly requests: RequestTally;
  readonly exit: AgentExit | undefined;
  readonly restores: readonly DatabaseRestore[];
}

/** The whole run. */
export interface FootprintResult extends RunFacts {
  readonly settings: FootprintSettings;
  readonly agents: readonly FootprintAgentResult[];
  /** Requests that matched no agent. */
  readonly unattributed: RequestTally;
}

/**
 * Returns the verdict on {@linkcode RSS_TARGET}: litefleet's peak RSS
 * (`VmHWM`) against Litestream's, saying plainly whether the target is met,
 * followed by the same comparison on the largest sampled `VmRSS` (`VmHWM`
 * can trail a sample slightly; see the report's method notes).
 */
export function rssVerdict(agents: readonly FootprintAgentResult[]): string {
  const lf = agents.find((a) => a.agent.kind === "litefleet" && a.skipped === undefined);
  const ls = agents.find((a) => a.agent.kind === "litestream" && a.skipped === undefined);
  const prefix = `Target "${RSS_TARGET}":`;
  const lfPeak = lf?.beforeStop?.hwmKiB;
  const lsPeak = ls?.beforeStop?.hwmKiB;
  if (lfPeak === undefined || lsPeak === undefined) {
    return `${prefix} **not evaluated**: ${lfPeak === undefined ? "litefleet" : "Litestream"} has no peak RSS in this run.`;
  }
  const met = lfPeak <= lsPeak;
  let text =
    `${prefix} litefleet's peak RSS is ${mib(lfPeak)} MiB, ${relation(lfPeak, lsPeak)} Litestream's ${mib(lsPeak)} MiB ` +
    `(${(lfPeak / lsPeak).toFixed(2)}×): **${met ? "met" : "NOT met"}**.`;
  const lfMax = lf?.maxSampledRssKiB;
  const lsMax = ls?.maxSampledRssKiB;
  if (lfMax !== undefined && lsMax !== undefined) {
    const agrees = lfMax <= lsMax === met;
    text +=
      ` On the largest sampled RSS, litefleet's ${mib(lfMax)} MiB is ${relation(lfMax, lsMax)} Litestream's ${mib(lsMax)} MiB` +
      `${agrees ? ", the same verdict" : `: **the opposite verdict** (${lfMax <= lsMax ? "met" : "not met"})`}.`;
  }
  return text;
}

/** CPU seconds of `a` from its after-start sample to its before-stop sample (the workload), if both exist. */
export function workloadCpuSeconds(a: FootprintAgentResult): number | undefined {
  const b = a.beforeStop;
  return b && a.afterStart ? b.cpuSeconds - a.afterStart.cpuSeconds : undefined;
}

/**
 * Returns one verdict line per litefleet agent on {@linkcode CPU_TARGETS}:
 * its CPU during the workload against Litestream's in the same run.
 */
export function cpuVerdicts(agents: readonly FootprintAgentResult[], syncInterval: string): string[] {
  const ls = agents.find((a) => a.agent.kind === "litestream" && a.skipped === undefined);
  const lsCpu = ls === undefined ? undefined : workloadCpuSeconds(ls);
  const out: string[] = [];
  for (const a of agents) {
    if (a.agent.kind !== "litefleet" || a.skipped !== undefined) continue;
    const policy = a.agent.policy ?? "sync-interval";
    const target = CPU_TARGETS[policy];
    const what =
      policy === "default" ? "at litefleet's default upload policy" : `at the same \`sync-interval: ${syncInterval}\``;
    const prefix = `Target "CPU ≤ ${target.toFixed(1)}× Litestream's ${what}" (${a.agent.name}):`;
    const cpu = workloadCpuSeconds(a);
    if (cpu === undefined || lsCpu === undefined || lsCpu <= 0) {
      out.push(
        `${prefix} **not evaluated**: ${cpu === undefined ? a.agent.name : "Litestream"} has no CPU time for the workload in this run.`,
      );
      continue;
    }
    const ratio = cpu / lsCpu;
    out.push(
      `${prefix} ${fixed(cpu, 2)} s against Litestream's ${fixed(lsCpu, 2)} s during the workload (${ratio.toFixed(2)}×): **${ratio <= target ? "met" : "NOT met"}**.`,
    );
  }
  return out;
}

function relation(a: number, b: number): string {
  const diff = a - b;
  return diff === 0 ? "the same as" : diff < 0 ? `${mib(-diff)} MiB lower than` : `${mib(diff)} MiB higher than`;
}

/** Renders `result` as markdown: heading, run facts, result table, verdict, method, details, notes. */
export function renderFootprintReport(result: FootprintResult): string {
  const s = result.settings;
  const w = s.workload;
  const lines: string[] = [];
  lines.push(
    `## Footprint: ${result.agents.map((a) => a.agent.name).join(" vs ")}, ${s.databasesPerAgent} databases each${quickRunMark(result.quick)}`,
  );
  lines.push("");
  lines.push(...runFactLines(result));
  lines.push(
    `- Workload: ${result.transactions} transactions of ${w.rowsPerTransaction} rows, one every ${w.intervalMs} ms, identical on each of the ` +
      `${result.agents.filter((a) => a.skipped === undefined).length * s.databasesPerAgent} databases from one writer process ` +
      `(\`readings\` + index on (sensor, ts), WAL, seed 0x${w.seed.toString(16)}, wal_autocheckpoint ${w.walAutocheckpoint}); ` +
      `${fixed(result.steadySeconds, 1)} s from the first transaction to SIGTERM; ${result.lateTicks} late ticks`,
  );
  lines.push(
    `- Each agent is one process with one config of ${s.databasesPerAgent} databases, each with one S3 replica under its own prefix ` +
      `(\`sync-interval: ${s.syncInterval}\`, \`monitor-interval: ${s.monitorInterval}\`); one local s3rver, one bucket \`${s.bucket}\``,
  );
  const onDefault = result.agents.filter((a) => a.agent.policy === "default").map((a) => a.agent.name);
  if (onDefault.length > 0) {
    lines.push(
      `- ${onDefault.join(", ")}: the same litefleet binary with no upload key, i.e. litefleet's default upload policy (\`min-interval: 10s\`, \`max-interval: 1m\`)`,
    );
  }
  lines.push("");
  lines.push(
    "| agent | databases | peak RSS MiB | max sampled RSS MiB | RSS after start MiB | CPU s | PUTs | bytes uploaded | restores ok |",
  );
  lines.push("|---|--:|--:|--:|--:|--:|--:|--:|---|");
  for (const a of result.agents) {
    if (a.skipped !== undefined) {
      lines.push(`| ${a.agent.name} | ${a.databases} | skipped: ${a.skipped} |||||||`);
      continue;
    }
    const ok = a.restores.filter((r) => r.check.ok).length;
    lines.push(
      `| ${a.agent.name} | ${a.databases} | ${mibOrNa(a.beforeStop?.hwmKiB)} | ${mibOrNa(a.maxSampledRssKiB)} | ${mibOrNa(a.afterStart?.rssKiB)} | ` +
        `${fixedOrNa(a.beforeStop?.cpuSeconds, 2)} | ${int(a.requests.puts)} | ${int(a.requests.bytesUploaded)} | ` +
        `${ok === a.databases ? `${ok}/${a.databases}` : `**${ok}/${a.databases}**`} |`,
    );
  }
  lines.push("");
  lines.push(rssVerdict(result.agents));
  for (const line of cpuVerdicts(result.agents, s.syncInterval)) lines.push("", line);
  lines.push("");
  lines.push("How it is measured:");
  lines.push(
    "- Peak RSS = `VmHWM` of /proc/<pid>/status (the kernel's high-water mark over the process's life, start-up included) and CPU s = utime + stime of /proc/<pid>/stat ÷ CLK_TCK, " +
      "both read just before SIGTERM, so the shutdown upload is not in them.",
  );
  lines.push(
    `- Max sampled RSS = largest \`VmRSS\` sampled every ${s.rssSampleIntervalMs / 1000} s from ready to SIGTERM; ` +
      `RSS after start = \`VmRSS\` ${s.settleSeconds} s after the agent logged every database ready, before the first transaction. ` +
      "`VmHWM` is not always ≥ an earlier `VmRSS` sample: the kernel keeps the high-water mark lazily (updated when memory is unmapped, from approximate per-CPU counters), so it can trail a sample by a little; hence both columns.",
  );
  lines.push(
    "- RSS counts file-backed pages (`RssFile`: the parts of the executable and libraries mapped in, shared with the page cache) as well as anonymous memory (`RssAnon`: heaps, stacks); the details split it, read just before SIGTERM.",
  );
  lines.push(
    `- PUTs = ${PUT_CLASS_REQUESTS} and bytes uploaded = ${UPLOADED_BYTES}, ` +
      "over the whole run (start to exit, final upload included), attributed by key prefix, list prefix, then user agent.",
  );
  lines.push(restoreMethodNote("Restores ok", "both agents stopped, each database's replica restored"));
  lines.push("");
  lines.push(...detailLines(result));
  lines.push(...notesSection(result.notes));
  return `${lines.join("\n")}\n`;
}

function detailLines(result: FootprintResult): string[] {
  const out = [
    "Details:",
    "",
    "| agent | RSS before stop MiB: anon / file / shmem | CPU s during workload | CPU % of one core during workload | LIST | GET/HEAD | DELETE | requests | stop s | exit |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
  ];
  const ran = result.agents.filter((a) => a.skipped === undefined);
  for (const a of ran) {
    const t = a.requests;
    const b = a.beforeStop;
    const cpu = workloadCpuSeconds(a);
    out.push(
      `| ${a.agent.name} | ${b ? `${mib(b.rssAnonKiB)} / ${mib(b.rssFileKiB)} / ${mib(b.rssShmemKiB)}` : "n/a"} | ` +
        `${fixedOrNa(cpu, 2)} | ${cpu === undefined || result.steadySeconds <= 0 ? "n/a" : fixed((100 * cpu) / result.steadySeconds, 2)} | ` +
        `${int(t.lists)} | ${int(t.getHeads)} | ${int(t.deletes)} | ${int(t.requests)} | ${stopSecondsCell(a.exit)} | ${exitCell(a.exit)} |`,
    );
  }
  out.push("");
  out.push("| database | rows committed / in db / restored | restore |");
  out.push("|---|---|---|");
  for (const a of ran) {
    for (const r of a.restores) {
      out.push(
        `| ${r.name} | ${r.rowsCommitted} / ${r.sourceRows} / ${r.check.rows ?? "n/a"} | ${r.check.ok ? "" : "**FAILED** "}${r.check.detail} |`,
      );
    }
  }
  const noLength = ran.reduce((n, a) => n + a.requests.uploadsWithoutLength, 0);
  out.push(...attributionLines(result.unattributed, noLength));
  return out;
}
