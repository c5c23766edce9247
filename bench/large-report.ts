/**
 * The `large` benchmark's result and its markdown report: the first sync of
 * each database size and replica kind, the restores, and the verdict on
 * each of issue #13's targets, with ratios against Litestream.
 *
 * @module
 */

import type { ComparedAgent } from "./benchmark-run.ts";
import type { LargeSettings, ReplicaKind } from "./large-settings.ts";
import type { AgentReplication, ReplicationOutcome } from "./large-run.ts";
import type { RestoreMeasure } from "./large-restore.ts";
import type { MachineInfo } from "./machine-info.ts";
import { fixed, fixedOrNa, int, mib, mibOrNa, notesSection, quickRunMark, runFactLines } from "./report-common.ts";

/** The issue's targets, as the report quotes them. */
export const TARGETS = {
  peakRss: "peak RSS replicating from scratch ≤ Litestream's",
  flat: "the largest database's peak RSS ≤ 16 MiB above the smallest's (flat in size)",
  upload: "first sync uploads ≤ 1.05× the database's LZ4-compressed size",
  restoreWall: "restore wall time ≤ 1.5× Litestream's",
  restoreRss: "restore peak RSS ≤ 96 MiB",
} as const;

/** MiB the peak RSS may grow from the smallest to the largest database. */
export const FLAT_RSS_SLACK_MIB = 16;
/** Upload bound as a multiple of the LZ4 size. */
export const UPLOAD_FACTOR = 1.05;
/** Restore wall bound as a multiple of Litestream's. */
export const RESTORE_WALL_FACTOR = 1.5;
/** Restore peak RSS bound, MiB. */
export const RESTORE_RSS_MIB = 96;

/** One generated database. */
export interface LargeDatabaseFacts {
  /** As asked for (`--sizes`), MB. */
  readonly sizeMB: number;
  readonly bytes: number;
  readonly pages: number;
  readonly rows: number;
  /** {@linkcode lz4PageBytes} of the file as generated. */
  readonly lz4Bytes: number;
  readonly generateSeconds: number;
}

/** One restore of a case: measured, or why not. */
export interface RestoreRow {
  readonly tool: string;
  readonly measure: RestoreMeasure | undefined;
  readonly skipped: string | undefined;
}

/** One database size replicated to one kind of replica. */
export interface LargeCaseResult {
  readonly db: LargeDatabaseFacts;
  readonly kind: ReplicaKind;
  /** False for a size replicated only because its replica is restored (not in `--sizes`). */
  readonly inSizes: boolean;
  readonly agents: readonly AgentReplication[];
  /** Empty when the size is not restored. */
  readonly restores: readonly RestoreRow[];
}

/** The whole run. */
export interface LargeResult {
  readonly command: string;
  readonly startedAt: Date;
  readonly machine: MachineInfo;
  readonly versions: Readonly<Record<string, string>>;
  readonly quick: boolean;
  readonly settings: LargeSettings;
  readonly rssLimitMiB: number;
  readonly cases: readonly LargeCaseResult[];
  /** Seconds from start to the report. */
  readonly runSeconds: number;
  /** Free bytes in the work dir's file system at the start, and the most the run took of them. */
  readonly diskFreeBytes: number;
  readonly diskPeakUsedBytes: number;
  readonly notes: readonly string[];
}

/** Returns the outcome cell: ok, or what stopped the agent, in bold. */
export function outcomeCell(o: ReplicationOutcome, rssLimitMiB?: number): string {
  switch (o.kind) {
    case "synced":
      return "synced";
    case "rss-limit":
      return `**exceeded --rss-limit${rssLimitMiB === undefined ? "" : ` ${rssLimitMiB} MiB`}** (RSS ${mib(o.rssKiB)} MiB after ${fixed(o.afterSeconds, 1)} s), killed`;
    case "exited":
      return `**died** (${o.code === null ? `signal ${o.signal ?? "?"}` : `exit ${o.code}`}) after ${fixed(o.afterSeconds, 1)} s`;
    case "timeout":
      return `**no complete sync** within ${fixed(o.afterSeconds, 0)} s`;
    case "skipped":
      return `skipped: ${o.reason}`;
  }
}

function ratio(a: number, b: number): string {
  return b === 0 ? "n/a" : `${(a / b).toFixed(2)}×`;
}

function agentOf(c: LargeCaseResult, kind: ComparedAgent["kind"]): AgentReplication | undefined {
  return c.agents.find((a) => a.agent.kind === kind && a.outcome.kind !== "skipped");
}

function sizeCell(c: LargeCaseResult): string {
  return `${c.db.sizeMB} MB${c.inSizes ? "" : " (for the restore)"}`;
}

/** Renders `result` as markdown: heading, run facts, databases, first syncs, restores, targets, method, notes. */
export function renderLargeReport(result: LargeResult): string {
  const lines: string[] = [];
  const s = result.settings;
  lines.push(`## Large databases: litefleet vs Litestream v0.3.13, side by side${quickRunMark(result.quick)}`);
  lines.push("");
  lines.push(...runFactLines(result));
  lines.push(
    `- Run: ${fixed(result.runSeconds / 60, 1)} min; disk: ${fixed(result.diskPeakUsedBytes / 2 ** 30, 1)} GiB at the peak ` +
      `(of ${fixed(result.diskFreeBytes / 2 ** 30, 1)} GiB free at the start); \`--rss-limit ${result.rssLimitMiB}\` MiB`,
  );
  lines.push(
    "- Absolute times (sync, restore, CPU) are noisy: both agents share 2 cores with each other and the in-process s3rver, and other work on the machine. " +
      "Peak RSS and byte counts are stable from run to run.",
  );
  lines.push("");
  lines.push("Databases (generated once per size; each agent replicates its own copy):");
  lines.push("");
  lines.push("| size | bytes | pages | rows | LZ4 bytes (per page) | LZ4 / size | generated in s |");
  lines.push("|---|--:|--:|--:|--:|--:|--:|");
  const seen = new Set<number>();
  for (const c of result.cases) {
    if (seen.has(c.db.sizeMB)) continue;
    seen.add(c.db.sizeMB);
    const d = c.db;
    lines.push(
      `| ${d.sizeMB} MB | ${int(d.bytes)} | ${int(d.pages)} | ${int(d.rows)} | ${int(d.lz4Bytes)} | ${ratio(d.lz4Bytes, d.bytes)} | ${fixed(d.generateSeconds, 1)} |`,
    );
  }
  lines.push("");
  lines.push("### First sync from scratch");
  lines.push("");
  lines.push(
    "| size | replica | agent | outcome | peak RSS MiB | max sampled RSS MiB | time to first sync s | CPU s | bytes in replica | bytes uploaded | uploaded / LZ4 |",
  );
  lines.push("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const c of result.cases) {
    for (const a of c.agents) {
      const up = a.firstSync?.bytesUploaded;
      lines.push(
        `| ${sizeCell(c)} | ${c.kind} | ${a.agent.name} | ${outcomeCell(a.outcome, result.rssLimitMiB)} | ${mibOrNa(a.peakRssKiB)} | ${mibOrNa(a.maxSampledRssKiB)} | ` +
          `${fixedOrNa(a.syncSeconds, 1)} | ${fixedOrNa(a.cpuSeconds, 1)} | ${a.replicaBytes === undefined ? "n/a" : int(a.replicaBytes)} | ` +
          `${up === undefined ? "n/a" : int(up)} | ${up === undefined ? "n/a" : ratio(up, c.db.lz4Bytes)} |`,
      );
    }
  }
  lines.push("");
  lines.push(...restoreLines(result));
  lines.push("");
  lines.push("### Against the issue's targets");
  lines.push("");
  lines.push("| target | case | measured | met |");
  lines.push("|---|---|---|---|");
  lines.push(...targetRows(result));
  lines.push("");
  lines.push("How it is measured:");
  lines.push(
    `- Each size is replicated twice, once per replica kind; in each case both agents start at the same moment on identical copies of the database (no writes during the run), ` +
      `litefleet (\`levels: []\`, \`status.addr: ""\`) and Litestream each with one replica, \`sync-interval: ${s.syncInterval}\`, \`monitor-interval: ${s.monitorInterval}\`; S3 is one local s3rver, one bucket \`${s.bucket}\`, a prefix per agent.`,
  );
  lines.push(
    `- First sync complete = for ${s.quietMs / 1000} s, the agent's replica did not change (S3: none of its requests in flight or ended; file: no file or directory of the replica changed) ` +
      `and the agent used under ${s.idleCpuFraction * 100} % of a core. Time to first sync = from the agent's start to the end of its last request (S3) or its replica's latest mtime (file). ` +
      "The agent is then stopped with SIGTERM; the restore shows whether the replica was complete.",
  );
  lines.push(
    `- Peak RSS = \`VmHWM\` of /proc/<pid>/status and CPU s = utime + stime, read when the first sync was complete (or when the agent died or was killed); max sampled RSS = largest \`VmRSS\`, polled every ${s.pollIntervalMs} ms. ` +
      `An agent or restore whose \`VmRSS\` goes above \`--rss-limit\` is SIGKILLed at the next poll (so it may overshoot the limit by what it allocates in ${s.pollIntervalMs} ms).`,
  );
  lines.push(
    "- Bytes in replica = sum of the sizes of the replica's files (file: at completion) or objects (S3: listed after the agent stopped). Bytes uploaded = sum of `content-length` of the agent's PutObject/UploadPart requests up to completion (for an agent that died or was killed: up to then). " +
      "LZ4 bytes = Σ over the database's pages of the page's LZ4 block (lz4_flex, as LTX v3 stores pages, without page headers), computed on the file as generated.",
  );
  lines.push(
    "- Restores run one at a time after the agents stopped, each tool's own command into a new file (litefleet: `litefleet restore -o X <url>`; Litestream: `litestream restore -o X -config FILE <db>`); " +
      "wall time, peak RSS (`ru_maxrss`) and CPU (user + system) as GNU `/usr/bin/time` reports them for the command (without it: wall from spawn to exit, the last `VmHWM` polled). " +
      "Byte-identical = SHA-256 of the output equals that of the agent's database after the agent stopped and its WAL was checkpointed (`PRAGMA wal_checkpoint(TRUNCATE)`); then `PRAGMA integrity_check`. " +
      "`cp` copies the database file: the disk-speed floor of a restore. The replica and database files are likely in the page cache for every restore alike.",
  );
  lines.push(...notesSection(result.notes));
  return `${lines.join("\n")}\n`;
}

function restoreLines(result: LargeResult): string[] {
  const out = ["### Restores", ""];
  const restored = result.cases.filter((c) => c.restores.length > 0);
  if (restored.length === 0) return [...out, "No replica was restored."];
  out.push(
    "| size | replica | tool | wall s | peak RSS MiB | CPU s | byte-identical | integrity_check | wall vs Litestream |",
  );
  out.push("|---|---|---|--:|--:|--:|---|---|--:|");
  for (const c of restored) {
    const ls = c.restores.find((r) => r.tool === "litestream")?.measure;
    for (const r of c.restores) {
      const m = r.measure;
      if (m === undefined) {
        out.push(`| ${c.db.sizeMB} MB | ${c.kind} | ${r.tool} | not run: ${r.skipped ?? "?"} ||||||`);
        continue;
      }
      const failed = m.limitHit
        ? `**exceeded --rss-limit** (RSS ${mib(m.limitHit.rssKiB)} MiB after ${fixed(m.limitHit.afterSeconds, 1)} s), killed`
        : m.timedOut
          ? "**timed out**"
          : m.code !== 0
            ? `**failed** (exit ${m.code ?? "signal"}): ${m.failure ?? ""}`
            : undefined;
      const identical = failed ?? (m.identical === undefined ? "n/a" : m.identical ? "yes" : "**NO**");
      const integrity = m.integrity === undefined ? "n/a" : m.integrity === "ok" ? "ok" : `**${m.integrity}**`;
      const vs =
        r.tool === "litestream" || ls === undefined || ls.code !== 0 ? "" : ratio(m.wallSeconds, ls.wallSeconds);
      out.push(
        `| ${c.db.sizeMB} MB | ${c.kind} | ${r.tool} | ${fixed(m.wallSeconds, 2)} | ${mibOrNa(m.peakRssKiB)} | ${fixedOrNa(m.cpuSeconds, 2)} | ${identical} | ${integrity} | ${vs} |`,
      );
    }
  }
  return out;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "not evaluated" : met ? "yes" : "**NO**";
}

function replicationMeasured(a: AgentReplication | undefined): string | undefined {
  if (a === undefined) return "not run";
  return a.outcome.kind === "synced" ? undefined : outcomeCell(a.outcome);
}

/** Returns the rows of the targets table, one per target and case. */
export function targetRows(result: LargeResult): string[] {
  const rows: string[] = [];
  const measured = result.cases.filter((c) => c.inSizes);
  for (const c of measured) {
    const lf = agentOf(c, "litefleet");
    const ls = agentOf(c, "litestream");
    const label = `${c.db.sizeMB} MB, ${c.kind}`;
    if (lf?.peakRssKiB === undefined || ls?.peakRssKiB === undefined) {
      rows.push(
        `| ${TARGETS.peakRss} | ${label} | ${lf === undefined ? "litefleet" : "Litestream"} has no peak RSS | not evaluated |`,
      );
      continue;
    }
    const killed = lf.outcome.kind === "synced" ? "" : ` (${replicationMeasured(lf)})`;
    const met = lf.outcome.kind === "synced" && lf.peakRssKiB <= ls.peakRssKiB;
    rows.push(
      `| ${TARGETS.peakRss} | ${label} | ${mib(lf.peakRssKiB)} vs ${mib(ls.peakRssKiB)} MiB = **${ratio(lf.peakRssKiB, ls.peakRssKiB)}**${killed} | ${verdict(met)} |`,
    );
  }
  for (const kind of new Set(measured.map((c) => c.kind))) {
    const ofKind = measured.filter((c) => c.kind === kind);
    const small = ofKind[0];
    const large = ofKind.at(-1);
    if (small === undefined || large === undefined || small === large) {
      rows.push(`| ${TARGETS.flat} | ${kind} | one size only | not evaluated |`);
      continue;
    }
    const a = agentOf(small, "litefleet");
    const b = agentOf(large, "litefleet");
    const label = `${large.db.sizeMB} vs ${small.db.sizeMB} MB, ${kind}`;
    if (a?.peakRssKiB === undefined || b?.peakRssKiB === undefined) {
      rows.push(`| ${TARGETS.flat} | ${label} | no peak RSS | not evaluated |`);
      continue;
    }
    const growth = (b.peakRssKiB - a.peakRssKiB) / 1024;
    const incomplete = b.outcome.kind === "synced" ? "" : ` (${replicationMeasured(b)})`;
    const met = a.outcome.kind === "synced" && b.outcome.kind === "synced" && growth <= FLAT_RSS_SLACK_MIB;
    rows.push(
      `| ${TARGETS.flat} | ${label} | ${mib(b.peakRssKiB)} − ${mib(a.peakRssKiB)} = **${fixed(growth, 1)} MiB**${incomplete} | ${verdict(met)} |`,
    );
  }
  for (const c of measured.filter((x) => x.kind === "s3")) {
    const lf = agentOf(c, "litefleet");
    const ls = agentOf(c, "litestream");
    const up = lf?.firstSync?.bytesUploaded;
    const label = `${c.db.sizeMB} MB, s3`;
    if (up === undefined || lf === undefined) {
      rows.push(`| ${TARGETS.upload} | ${label} | no upload count | not evaluated |`);
      continue;
    }
    const lsText =
      ls?.firstSync === undefined ? "" : `; Litestream ${ratio(ls.firstSync.bytesUploaded, c.db.lz4Bytes)}`;
    const incomplete = lf.outcome.kind === "synced" ? "" : ` (${replicationMeasured(lf)})`;
    const met = lf.outcome.kind === "synced" && up <= UPLOAD_FACTOR * c.db.lz4Bytes;
    rows.push(
      `| ${TARGETS.upload} | ${label} | ${int(up)} / ${int(c.db.lz4Bytes)} = **${ratio(up, c.db.lz4Bytes)}**${incomplete}${lsText} | ${verdict(met)} |`,
    );
  }
  for (const c of result.cases.filter((x) => x.restores.length > 0)) {
    const label = `${c.db.sizeMB} MB, ${c.kind}`;
    const lfRow = c.restores.find((r) => r.tool === "litefleet");
    const lf = lfRow?.measure;
    const ls = c.restores.find((r) => r.tool === "litestream")?.measure;
    const lfOk = lf !== undefined && lf.code === 0 && lf.identical === true;
    const why =
      lf === undefined
        ? `litefleet's restore not run: ${lfRow?.skipped ?? "?"}`
        : lfOk
          ? undefined
          : "litefleet's restore failed or differs";
    if (ls === undefined || ls.code !== 0 || why !== undefined || lf === undefined) {
      rows.push(
        `| ${TARGETS.restoreWall} | ${label} | ${why ?? "no Litestream restore"} | ${why === undefined ? "not evaluated" : verdict(false)} |`,
      );
    } else {
      rows.push(
        `| ${TARGETS.restoreWall} | ${label} | ${fixed(lf.wallSeconds, 2)} vs ${fixed(ls.wallSeconds, 2)} s = **${ratio(lf.wallSeconds, ls.wallSeconds)}** | ${verdict(lf.wallSeconds <= RESTORE_WALL_FACTOR * ls.wallSeconds)} |`,
      );
    }
    if (lf?.peakRssKiB === undefined || why !== undefined) {
      rows.push(
        `| ${TARGETS.restoreRss} | ${label} | ${why ?? "no peak RSS"}${lf?.peakRssKiB === undefined ? "" : `; peak ${mib(lf.peakRssKiB)} MiB`} | ${why === undefined ? "not evaluated" : verdict(false)} |`,
      );
    } else {
      rows.push(
        `| ${TARGETS.restoreRss} | ${label} | **${mib(lf.peakRssKiB)} MiB**${ls?.peakRssKiB === undefined ? "" : ` (Litestream ${mib(ls.peakRssKiB)})`} | ${verdict(lf.peakRssKiB <= RESTORE_RSS_MIB * 1024)} |`,
      );
    }
  }
  return rows;
}
