/**
 * The `batching` benchmark's result and its markdown report.
 *
 * @module
 */

import type { AgentExit } from "./agent-process.ts";
import { durationSeconds, type BatchingAgent, type BatchingSettings } from "./batching-settings.ts";
import { projectMonthly, S3_PRICES, SECONDS_PER_MONTH } from "./cost-model.ts";
import {
  attributionLines,
  exitCell,
  fixed,
  fixedOrNa,
  int,
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

/** Requests of one agent, split by phase of the run. */
export interface PhaseTallies {
  /** From agent start to the first transaction (initial snapshot, bucket probing). */
  readonly startup: RequestTally;
  /** From the first transaction to SIGTERM: the steady state the monthly projection uses. */
  readonly steady: RequestTally;
  /** From SIGTERM to exit: the final upload. */
  readonly shutdown: RequestTally;
  /** The whole run: the sum of the three. */
  readonly total: RequestTally;
}

/** Everything measured for one agent. */
export interface AgentResult {
  readonly agent: BatchingAgent;
  /** Why the agent did not run, when it did not. */
  readonly skipped: string | undefined;
  readonly requests: PhaseTallies;
  /** utime + stime just before SIGTERM. */
  readonly cpuSeconds: number | undefined;
  /** `VmHWM` just before SIGTERM, KiB. */
  readonly hwmKiB: number | undefined;
  /** Largest sampled `VmRSS`, KiB. */
  readonly maxSampledRssKiB: number | undefined;
  readonly exit: AgentExit | undefined;
  /** Rows the writer committed to this agent's database. */
  readonly rowsCommitted: number;
  /** Rows in the database after the agent stopped. */
  readonly sourceRows: number | undefined;
  readonly restore: RestoreCheck | undefined;
}

/** The whole run. */
export interface BatchingResult extends RunFacts {
  readonly settings: BatchingSettings;
  readonly agents: readonly AgentResult[];
  /** Requests that matched no agent. */
  readonly unattributed: RequestTally;
}

/** Renders `result` as markdown: heading, run facts, result table, ratios, projection, method, details. */
export function renderBatchingReport(result: BatchingResult): string {
  const s = result.settings;
  const w = s.workload;
  const ran = result.agents.filter((a) => a.skipped === undefined);
  const lines: string[] = [];
  lines.push(`## Batching: ${result.agents.map((a) => a.agent.name).join(", ")}${quickRunMark(result.quick)}`);
  lines.push("");
  lines.push(...runFactLines(result));
  lines.push(
    `- Workload: ${result.transactions} transactions of ${w.rowsPerTransaction} rows, one every ${w.intervalMs} ms, identical on each database ` +
      `(\`readings\` + index on (sensor, ts), WAL, seed 0x${w.seed.toString(16)}, wal_autocheckpoint ${w.walAutocheckpoint}); ` +
      `${result.lateTicks} late ticks`,
  );
  lines.push(
    `- Every agent polls its database every ${s.monitorInterval}; one local s3rver, one bucket \`${s.bucket}\`, a prefix per agent`,
  );
  lines.push("");
  lines.push(
    "| agent | sync-interval | PUTs | LIST | GET/HEAD | DELETE | bytes uploaded | bytes/row | CPU s | peak RSS MiB | restore ok |",
  );
  lines.push("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|");
  for (const a of result.agents) {
    if (a.skipped !== undefined) {
      lines.push(`| ${a.agent.name} | ${a.agent.syncInterval} | skipped: ${a.skipped} |||||||||`);
      continue;
    }
    const t = a.requests.total;
    lines.push(
      `| ${a.agent.name} | ${a.agent.syncInterval} | ${int(t.puts)} | ${int(t.lists)} | ${int(t.getHeads)} | ${int(t.deletes)} | ` +
        `${int(t.bytesUploaded)} | ${a.rowsCommitted > 0 ? fixed(t.bytesUploaded / a.rowsCommitted, 1) : "n/a"} | ` +
        `${fixedOrNa(a.cpuSeconds, 2)} | ${mibOrNa(a.hwmKiB)} | ` +
        `${a.restore === undefined ? "n/a" : a.restore.ok ? "yes" : "**NO**"} |`,
    );
  }
  lines.push("");
  lines.push(...ratioLines(result));
  lines.push("");
  lines.push(
    `Projected per device per month from the steady-state rates (requests between the first transaction and SIGTERM, ` +
      `${fixed(result.steadySeconds, 1)} s, scaled to a ${SECONDS_PER_MONTH / 86400}-day month; S3 us-east-1 list prices ` +
      `$${S3_PRICES.putListPer1000} per 1,000 PUT/LIST, $${S3_PRICES.getHeadPer1000} per 1,000 GET/HEAD, data in free; ` +
      `MiB = request bodies the device uploads, before HTTP/TLS overhead):`,
  );
  lines.push("");
  lines.push("| agent | PUTs/month | LISTs/month | GET+HEAD/month | S3 requests $/device/month | upload MiB/month |");
  lines.push("|---|--:|--:|--:|--:|--:|");
  for (const a of ran) {
    if (result.steadySeconds < 2 * durationSeconds(a.agent.syncInterval)) {
      lines.push(
        `| ${a.agent.name} | n/a: the window is shorter than two ${a.agent.syncInterval} batches; run ≥ 5 min |||||`,
      );
      continue;
    }
    const p = projectMonthly({ ...a.requests.steady, seconds: result.steadySeconds });
    lines.push(
      `| ${a.agent.name} | ${int(p.putsPerMonth)} | ${int(p.listsPerMonth)} | ${int(p.getHeadsPerMonth)} | ${usd(p.s3RequestUsd)} | ${fixed(p.uploadMiB, 1)} |`,
    );
  }
  lines.push("");
  lines.push(
    "The window's edges cut batches, so an agent's count in it is uncertain by ±1 batch: for W-second batches the projection is uncertain by about " +
      "W / window (±20 % for 60 s batches in a 300 s run).",
  );
  lines.push("");
  lines.push("How it is counted:");
  lines.push(
    "- Counts cover the whole run, from agent start to agent exit. Each agent was stopped with SIGTERM and its exit awaited " +
      "**before** requests were counted, so the final upload on shutdown is included (and restores, which come after, are not).",
  );
  lines.push(
    `- PUTs = ${PUT_CLASS_REQUESTS}, folded (each is one PUT-class request in S3's bill); ` +
      "LIST = ListObjects + ListObjectsV2; GET/HEAD = GetObject + HeadObject + HeadBucket; DELETE = DeleteObject(s) + AbortMultipartUpload (free).",
  );
  lines.push(
    `- Bytes uploaded = ${UPLOADED_BYTES} requests (bodies only: no headers, no TLS); bytes/row = bytes uploaded / rows committed to that database.`,
  );
  lines.push(
    "- Requests are attributed by object key prefix, else the list `prefix` parameter, else the user agent (litefleet runs with `AWS_SDK_UA_APP_ID=<agent>`).",
  );
  lines.push(
    `- CPU s = utime + stime from /proc/<pid>/stat ÷ CLK_TCK and peak RSS = VmHWM from /proc/<pid>/status, both read just before SIGTERM (the shutdown upload is not in them); ` +
      `VmRSS was also sampled every ${s.rssSampleIntervalMs / 1000} s (max in the details).`,
  );
  lines.push(restoreMethodNote("Restore ok", "the agents stopped, a restore of the replica"));
  lines.push("");
  lines.push(...detailLines(result));
  lines.push(...notesSection(result.notes));
  return `${lines.join("\n")}\n`;
}

function ratioLines(result: BatchingResult): string[] {
  const base = result.agents.find((a) => a.agent.name === result.settings.baseline && a.skipped === undefined);
  if (base === undefined) return [`Ratios: n/a (baseline ${result.settings.baseline} did not run).`];
  const b = base.requests.total;
  const out = [`Ratios against ${base.agent.name} (whole run):`, ""];
  for (const a of result.agents) {
    if (a === base || a.skipped !== undefined) continue;
    const t = a.requests.total;
    out.push(
      `- ${a.agent.name} / ${base.agent.name}: PUTs ${ratio(t.puts, b.puts)}, bytes uploaded ${ratio(t.bytesUploaded, b.bytesUploaded)}, LISTs ${ratio(t.lists, b.lists)}`,
    );
  }
  return out;
}

function detailLines(result: BatchingResult): string[] {
  const out = [
    "Details:",
    "",
    "| agent | PUTs startup / steady / shutdown | of which multipart | LIST startup / steady / shutdown | header bytes/request | max sampled RSS MiB | stop s | exit | rows committed / in db / restored | restore |",
    "|---|---|--:|---|--:|--:|--:|---|---|---|",
  ];
  for (const a of result.agents) {
    if (a.skipped !== undefined) continue;
    const r = a.requests;
    out.push(
      `| ${a.agent.name} | ${r.startup.puts} / ${r.steady.puts} / ${r.shutdown.puts} | ${r.total.multipartRequests} | ` +
        `${r.startup.lists} / ${r.steady.lists} / ${r.shutdown.lists} | ${r.total.requests > 0 ? int(r.total.headerBytes / r.total.requests) : "n/a"} | ` +
        `${mibOrNa(a.maxSampledRssKiB)} | ${stopSecondsCell(a.exit)} | ${exitCell(a.exit)} | ` +
        `${a.rowsCommitted} / ${a.sourceRows ?? "n/a"} / ${a.restore?.rows ?? "n/a"} | ${a.restore?.detail ?? "n/a"} |`,
    );
  }
  const noLength = result.agents.reduce((n, a) => n + a.requests.total.uploadsWithoutLength, 0);
  out.push(...attributionLines(result.unattributed, noLength));
  return out;
}

function usd(n: number): string {
  return `$${n < 1 ? n.toFixed(3) : n.toFixed(2)}`;
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? "n/a (0 / 0)" : `n/a (${int(a)} / 0)`;
  const r = a / b;
  return `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}× (${int(a)} / ${int(b)})`;
}
