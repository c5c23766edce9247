/**
 * The `batching` benchmark's result and its markdown report.
 *
 * @module
 */

import type { AgentExit } from "./agent-process.ts";
import { durationSeconds, type BatchingAgent, type BatchingSettings } from "./batching-settings.ts";
import { projectMonthly, S3_PRICES, SECONDS_PER_MONTH } from "./cost-model.ts";
import type { MachineInfo } from "./machine-info.ts";
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
export interface BatchingResult {
  /** The command as typed, e.g. `bun run bench batching --quick`. */
  readonly command: string;
  readonly startedAt: Date;
  readonly machine: MachineInfo;
  readonly settings: BatchingSettings;
  /** Versions of the agents, e.g. `{ litestream: "v0.3.13", litefleet: "litefleet 0.1.0 (…)" }`. */
  readonly versions: Readonly<Record<string, string>>;
  readonly quick: boolean;
  /** Transactions committed to each database. */
  readonly transactions: number;
  /** Writer ticks that started more than one interval late. */
  readonly lateTicks: number;
  /** Seconds from the first transaction to SIGTERM. */
  readonly steadySeconds: number;
  readonly agents: readonly AgentResult[];
  /** Requests that matched no agent. */
  readonly unattributed: RequestTally;
  /** Remarks worth reading next to the numbers. */
  readonly notes: readonly string[];
}

/** Renders `result` as markdown: heading, run facts, result table, ratios, projection, method, details. */
export function renderBatchingReport(result: BatchingResult): string {
  const s = result.settings;
  const w = s.workload;
  const ran = result.agents.filter((a) => a.skipped === undefined);
  const lines: string[] = [];
  lines.push(`## Batching: ${result.agents.map((a) => a.agent.name).join(", ")}${result.quick ? " (quick smoke run, not a result of record)" : ""}`);
  lines.push("");
  lines.push(`- Command: \`${result.command}\``);
  lines.push(`- Date: ${result.startedAt.toISOString()}`);
  const m = result.machine;
  lines.push(`- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}`);
  lines.push(`- Agents: ${Object.entries(result.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
  lines.push(
    `- Workload: ${result.transactions} transactions of ${w.rowsPerTransaction} rows, one every ${w.intervalMs} ms, identical on each database ` +
      `(\`readings\` + index on (sensor, ts), WAL, seed 0x${w.seed.toString(16)}, wal_autocheckpoint ${w.walAutocheckpoint}); ` +
      `${result.lateTicks} late ticks`,
  );
  lines.push(`- Every agent polls its database every ${s.monitorInterval}; one local s3rver, one bucket \`${s.bucket}\`, a prefix per agent`);
  lines.push("");
  lines.push("| agent | sync-interval | PUTs | LIST | GET/HEAD | DELETE | bytes uploaded | bytes/row | CPU s | peak RSS MiB | restore ok |");
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
        `${a.cpuSeconds === undefined ? "n/a" : fixed(a.cpuSeconds, 2)} | ${a.hwmKiB === undefined ? "n/a" : fixed(a.hwmKiB / 1024, 1)} | ` +
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
      lines.push(`| ${a.agent.name} | n/a: the window is shorter than two ${a.agent.syncInterval} batches; run ≥ 5 min |||||`);
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
    "- PUTs = PutObject + UploadPart + CreateMultipartUpload + CompleteMultipartUpload, folded (each is one PUT-class request in S3's bill); " +
      "LIST = ListObjects + ListObjectsV2; GET/HEAD = GetObject + HeadObject + HeadBucket; DELETE = DeleteObject(s) + AbortMultipartUpload (free).",
  );
  lines.push(
    "- Bytes uploaded = sum of `content-length` of PutObject/UploadPart requests (bodies only: no headers, no TLS); bytes/row = bytes uploaded / rows committed to that database.",
  );
  lines.push(
    "- Requests are attributed by object key prefix, else the list `prefix` parameter, else the user agent (litefleet runs with `AWS_SDK_UA_APP_ID=<agent>`).",
  );
  lines.push(
    `- CPU s = utime + stime from /proc/<pid>/stat ÷ CLK_TCK and peak RSS = VmHWM from /proc/<pid>/status, both read just before SIGTERM (the shutdown upload is not in them); ` +
      `VmRSS was also sampled every ${s.rssSampleIntervalMs / 1000} s (max in the details).`,
  );
  lines.push(
    "- Restore ok = after the agents stopped, a restore of the replica (litefleet: `litefleet restore -o X <url>`; Litestream: `litestream restore -o X -config FILE <db>`) " +
      "has as many `readings` rows as the database and as the writer committed, and `PRAGMA integrity_check` = ok.",
  );
  lines.push("");
  lines.push(...detailLines(result));
  if (result.notes.length > 0) {
    lines.push("");
    lines.push("Notes:");
    for (const n of result.notes) lines.push(`- ${n}`);
  }
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
    out.push(`- ${a.agent.name} / ${base.agent.name}: PUTs ${ratio(t.puts, b.puts)}, bytes uploaded ${ratio(t.bytesUploaded, b.bytesUploaded)}, LISTs ${ratio(t.lists, b.lists)}`);
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
        `${a.maxSampledRssKiB === undefined ? "n/a" : fixed(a.maxSampledRssKiB / 1024, 1)} | ${a.exit ? fixed(a.exit.stopSeconds, 1) : "n/a"} | ` +
        `${a.exit ? (a.exit.killed ? "SIGKILLed after timeout" : (a.exit.code ?? a.exit.signal)) : "n/a"} | ` +
        `${a.rowsCommitted} / ${a.sourceRows ?? "n/a"} / ${a.restore?.rows ?? "n/a"} | ${a.restore?.detail ?? "n/a"} |`,
    );
  }
  const u = result.unattributed;
  out.push("");
  out.push(
    u.requests === 0
      ? "Every request was attributed to an agent."
      : `Unattributed requests: ${u.requests} (PUT ${u.puts}, LIST ${u.lists}, GET/HEAD ${u.getHeads}, DELETE ${u.deletes}, other ${u.other}).`,
  );
  const noLength = result.agents.reduce((n, a) => n + a.requests.total.uploadsWithoutLength, 0);
  if (noLength > 0) out.push(`Uploads without content-length (bytes missing from the table): ${noLength}.`);
  return out;
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function fixed(n: number, digits: number): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function usd(n: number): string {
  return `$${n < 1 ? n.toFixed(3) : n.toFixed(2)}`;
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? "n/a (0 / 0)" : `n/a (${int(a)} / 0)`;
  const r = a / b;
  return `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}× (${int(a)} / ${int(b)})`;
}
