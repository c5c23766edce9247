import { describe, expect, test } from "bun:test";
import { FOOTPRINT_SETTINGS, type FootprintAgent } from "./footprint-settings.ts";
import { cpuVerdicts, renderFootprintReport, rssVerdict, type FootprintAgentResult } from "./footprint-report.ts";
import type { ProcessSample } from "./process-stats.ts";
import { emptyTally } from "./s3-accounting.ts";

const LF: FootprintAgent = { kind: "litefleet", name: "litefleet" };
const LS: FootprintAgent = { kind: "litestream", name: "litestream" };
const LF_DEFAULT: FootprintAgent = { kind: "litefleet", name: "lf-default", policy: "default" };

function sample(hwmMiB: number, cpuSeconds = 1): ProcessSample {
  const hwmKiB = hwmMiB * 1024;
  return { cpuSeconds, rssKiB: hwmKiB - 1024, hwmKiB, rssAnonKiB: 10_240, rssFileKiB: hwmKiB - 11_264, rssShmemKiB: 0 };
}

function agent(a: FootprintAgent, peakMiB: number | undefined, maxSampledMiB = peakMiB): FootprintAgentResult {
  return {
    agent: a,
    skipped: peakMiB === undefined ? "Litestream binary not installed" : undefined,
    databases: 3,
    afterStart: peakMiB === undefined ? undefined : sample(40, 0.25),
    beforeStop: peakMiB === undefined ? undefined : sample(peakMiB),
    maxSampledRssKiB: maxSampledMiB === undefined ? undefined : maxSampledMiB * 1024,
    requests: { ...emptyTally(), puts: 1234, bytesUploaded: 5_678_901, requests: 1240 },
    exit: { code: 0, signal: null, stopSeconds: 0.1, killed: false },
    restores: [1, 2, 3].map((i) => ({
      name: `${a.name}-db-${i}`,
      rowsCommitted: 3000,
      sourceRows: 3000,
      check: {
        ok: true,
        rows: 3000,
        integrity: "ok",
        detail: "3000 rows (db 3000, committed 3000), integrity_check ok",
      },
    })),
  };
}

describe("rssVerdict()", () => {
  test("says met when litefleet's peak RSS is at most Litestream's", () => {
    expect(rssVerdict([agent(LF, 60), agent(LS, 80)])).toBe(
      `Target "RSS no higher than Litestream's": litefleet's peak RSS is 60.0 MiB, 20.0 MiB lower than Litestream's 80.0 MiB (0.75×): **met**. ` +
        "On the largest sampled RSS, litefleet's 60.0 MiB is 20.0 MiB lower than Litestream's 80.0 MiB, the same verdict.",
    );
    expect(rssVerdict([agent(LF, 80), agent(LS, 80)])).toContain("the same as Litestream's 80.0 MiB (1.00×): **met**.");
  });

  test("says NOT met when litefleet's peak RSS is higher", () => {
    expect(rssVerdict([agent(LF, 90.5), agent(LS, 80)])).toContain(
      "90.5 MiB, 10.5 MiB higher than Litestream's 80.0 MiB (1.13×): **NOT met**.",
    );
  });

  test("flags a sampled maximum that disagrees with the peak", () => {
    expect(rssVerdict([agent(LF, 79, 81), agent(LS, 80, 80)])).toContain(
      "**met**. On the largest sampled RSS, litefleet's 81.0 MiB is 1.0 MiB higher than Litestream's 80.0 MiB: **the opposite verdict** (not met).",
    );
  });

  test("is not evaluated without Litestream", () => {
    expect(rssVerdict([agent(LF, 60), agent(LS, undefined)])).toBe(
      `Target "RSS no higher than Litestream's": **not evaluated**: Litestream has no peak RSS in this run.`,
    );
  });
});

describe("cpuVerdicts()", () => {
  test("compares each litefleet row's workload CPU with Litestream's against its policy's target", () => {
    // Workload CPU = before-stop minus after-start (0.25 s): 1.25, 0.75 and 1.25 s.
    const lf = { ...agent(LF, 60), beforeStop: sample(60, 1.5) };
    const lfDefault = { ...agent(LF_DEFAULT, 60), beforeStop: sample(60, 1) };
    const ls = { ...agent(LS, 80), beforeStop: sample(80, 1.5) };
    expect(cpuVerdicts([lf, lfDefault, ls], "1s")).toEqual([
      `Target "CPU ≤ 1.0× Litestream's at the same \`sync-interval: 1s\`" (litefleet): 1.25 s against Litestream's 1.25 s during the workload (1.00×): **met**.`,
      `Target "CPU ≤ 0.5× Litestream's at litefleet's default upload policy" (lf-default): 0.75 s against Litestream's 1.25 s during the workload (0.60×): **NOT met**.`,
    ]);
  });

  test("is not evaluated without Litestream", () => {
    expect(cpuVerdicts([agent(LF, 60), agent(LS, undefined)], "1s")).toEqual([
      `Target "CPU ≤ 1.0× Litestream's at the same \`sync-interval: 1s\`" (litefleet): **not evaluated**: Litestream has no CPU time for the workload in this run.`,
    ]);
  });
});

describe("renderFootprintReport()", () => {
  test("renders one table row per agent and the verdict", () => {
    const report = renderFootprintReport({
      command: "bun run bench footprint --quick",
      startedAt: new Date("2026-01-01T00:00:00Z"),
      machine: { nproc: 2, cpuModel: "cpu", bunVersion: "1.4.5", os: "linux x64", memoryGiB: 4 },
      settings: FOOTPRINT_SETTINGS,
      versions: { litefleet: "0.1.0" },
      quick: true,
      transactions: 300,
      lateTicks: 0,
      steadySeconds: 299.5,
      agents: [agent(LF, 62.25, 62.5), agent(LS, undefined)],
      unattributed: emptyTally(),
      notes: [],
    });
    const lines = report.split("\n");
    expect(lines).toContain("| litefleet | 3 | 62.3 | 62.5 | 39.0 | 1.00 | 1,234 | 5,678,901 | 3/3 |");
    expect(lines).toContain("| litestream | 3 | skipped: Litestream binary not installed |||||||");
    expect(report).toContain("(quick smoke run, not a result of record)");
    expect(report).toContain("**not evaluated**");
  });
});
