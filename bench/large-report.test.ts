import { describe, expect, test } from "bun:test";
import { LARGE_AGENTS } from "./large-agents.ts";
import { outcomeCell, renderLargeReport, targetRows, type LargeCaseResult, type LargeResult } from "./large-report.ts";
import type { AgentReplication, ReplicationOutcome } from "./large-run.ts";
import type { RestoreMeasure } from "./large-restore.ts";
import { LARGE_SETTINGS, type ReplicaKind } from "./large-settings.ts";
import { emptyTally } from "./s3-accounting.ts";

const [LF, LS] = LARGE_AGENTS as [(typeof LARGE_AGENTS)[number], (typeof LARGE_AGENTS)[number]];
const MIB = 1024;

function replication(
  agent: typeof LF,
  peakMiB: number,
  outcome: ReplicationOutcome = { kind: "synced" },
  uploaded = 100_000_000,
): AgentReplication {
  return {
    agent,
    outcome,
    syncSeconds: outcome.kind === "synced" ? 9.5 : undefined,
    cpuSeconds: 4.25,
    peakRssKiB: peakMiB * MIB,
    maxSampledRssKiB: peakMiB * MIB,
    replicaBytes: uploaded,
    firstSync: { ...emptyTally(), puts: 3, bytesUploaded: uploaded },
    total: emptyTally(),
    exit: { code: 0, signal: null, stopSeconds: 0.1, killed: false },
  };
}

function restore(tool: string, wallSeconds: number, peakMiB: number): RestoreMeasure {
  return {
    tool,
    code: 0,
    wallSeconds,
    peakRssKiB: peakMiB * MIB,
    cpuSeconds: 1,
    limitHit: undefined,
    timedOut: false,
    identical: true,
    integrity: "ok",
    failure: undefined,
  };
}

function kase(
  sizeMB: number,
  kind: ReplicaKind,
  agents: AgentReplication[],
  restores: LargeCaseResult["restores"] = [],
): LargeCaseResult {
  return {
    db: {
      sizeMB,
      bytes: sizeMB * 1_000_000,
      pages: (sizeMB * 1_000_000) / 4096,
      rows: 1000,
      lz4Bytes: 100_000_000,
      generateSeconds: 2,
    },
    kind,
    inSizes: true,
    agents,
    restores,
  };
}

function result(cases: LargeCaseResult[]): LargeResult {
  return {
    command: "bun run bench large --sizes 300,2048",
    startedAt: new Date("2026-01-01T00:00:00Z"),
    machine: { nproc: 2, cpuModel: "cpu", bunVersion: "1.4.5", os: "linux x64", memoryGiB: 4 },
    versions: { litefleet: "0.1.0" },
    quick: false,
    settings: LARGE_SETTINGS,
    rssLimitMiB: 2048,
    cases,
    runSeconds: 600,
    diskFreeBytes: 80 * 2 ** 30,
    diskPeakUsedBytes: 12 * 2 ** 30,
    notes: [],
  };
}

describe("outcomeCell()", () => {
  test("names what stopped the agent", () => {
    expect(outcomeCell({ kind: "synced" }, 2048)).toBe("synced");
    expect(outcomeCell({ kind: "rss-limit", rssKiB: 2100 * MIB, afterSeconds: 12.34 }, 2048)).toBe(
      "**exceeded --rss-limit 2048 MiB** (RSS 2,100.0 MiB after 12.3 s), killed",
    );
    expect(outcomeCell({ kind: "exited", code: null, signal: "SIGKILL", afterSeconds: 3, logTail: "" })).toBe(
      "**died** (signal SIGKILL) after 3.0 s",
    );
    expect(outcomeCell({ kind: "timeout", afterSeconds: 1144 })).toBe("**no complete sync** within 1,144 s");
  });
});

describe("targetRows()", () => {
  test("judges peak RSS, flatness and upload bytes against the issue's bounds", () => {
    const rows = targetRows(
      result([
        kase(300, "s3", [replication(LF, 30, { kind: "synced" }, 104_000_000), replication(LS, 35)]),
        kase(2048, "s3", [replication(LF, 50, { kind: "synced" }, 106_000_000), replication(LS, 74)]),
      ]),
    );
    expect(rows).toContain(
      "| peak RSS replicating from scratch ≤ Litestream's | 300 MB, s3 | 30.0 vs 35.0 MiB = **0.86×** | yes |",
    );
    expect(rows).toContain(
      "| the largest database's peak RSS ≤ 16 MiB above the smallest's (flat in size) | 2048 vs 300 MB, s3 | 50.0 − 30.0 = **20.0 MiB** | **NO** |",
    );
    expect(rows).toContain(
      "| first sync uploads ≤ 1.05× the database's LZ4-compressed size | 300 MB, s3 | 104,000,000 / 100,000,000 = **1.04×**; Litestream 1.00× | yes |",
    );
    expect(rows.find((r) => r.includes("2048 MB, s3") && r.includes("LZ4"))).toContain("**1.06×**");
  });

  test("never counts an agent the RSS limit killed as meeting a target", () => {
    const killed: ReplicationOutcome = { kind: "rss-limit", rssKiB: 2050 * MIB, afterSeconds: 20 };
    const rows = targetRows(
      result([
        kase(300, "file", [replication(LF, 30), replication(LS, 35)]),
        kase(2048, "file", [replication(LF, 2050, killed), replication(LS, 40)]),
      ]),
    );
    expect(rows).toContain(
      "| the largest database's peak RSS ≤ 16 MiB above the smallest's (flat in size) | 2048 vs 300 MB, file | 2,050.0 − 30.0 = **2,020.0 MiB** (**exceeded --rss-limit** (RSS 2,050.0 MiB after 20.0 s), killed) | **NO** |",
    );
  });

  test("compares restores with Litestream's and with the 96 MiB bound", () => {
    const rows = targetRows(
      result([
        kase(
          500,
          "file",
          [replication(LF, 30), replication(LS, 35)],
          [
            { tool: "litefleet", measure: restore("litefleet", 1.6, 40), skipped: undefined },
            { tool: "litestream", measure: restore("litestream", 1.0, 35), skipped: undefined },
          ],
        ),
      ]),
    );
    expect(rows).toContain(
      "| restore wall time ≤ 1.5× Litestream's | 500 MB, file | 1.60 vs 1.00 s = **1.60×** | **NO** |",
    );
    expect(rows).toContain("| restore peak RSS ≤ 96 MiB | 500 MB, file | **40.0 MiB** (Litestream 35.0) | yes |");
  });
});

describe("renderLargeReport()", () => {
  test("renders the databases, one row per agent and restore, and the noise note", () => {
    const report = renderLargeReport(
      result([
        kase(
          300,
          "file",
          [replication(LF, 1270), replication(LS, 35.5)],
          [
            { tool: "litefleet", measure: undefined, skipped: "its first sync did not complete" },
            { tool: "litestream", measure: restore("litestream", 1.08, 35), skipped: undefined },
            { tool: "cp", measure: restore("cp", 0.16, 2), skipped: undefined },
          ],
        ),
      ]),
    );
    const lines = report.split("\n");
    expect(lines).toContain("- Command: `bun run bench large --sizes 300,2048`");
    expect(lines).toContain("| 300 MB | 300,000,000 | 73,242 | 1,000 | 100,000,000 | 0.33× | 2.0 |");
    expect(lines).toContain(
      "| 300 MB | file | litefleet | synced | 1,270.0 | 1,270.0 | 9.5 | 4.3 | 100,000,000 | 100,000,000 | 1.00× |",
    );
    expect(lines).toContain("| 300 MB | file | litefleet | not run: its first sync did not complete ||||||");
    expect(lines).toContain("| 300 MB | file | cp | 0.16 | 2.0 | 1.00 | yes | ok | 0.15× |");
    expect(report).toContain("Peak RSS and byte counts are stable from run to run.");
    expect(report).toContain(
      "- Run: 10.0 min; disk: 12.0 GiB at the peak (of 80.0 GiB free at the start); `--rss-limit 2048` MiB",
    );
  });
});
