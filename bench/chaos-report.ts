/**
 * The chaos benchmark's summary: one row per seed and one per finding
 * class, as markdown.
 *
 * @module
 */

import { DATA_CLASSES, type FindingClass } from "./chaos-check.ts";
import { describeEvents } from "./chaos-schedule.ts";
import type { SeedResult } from "./chaos-seed.ts";

/** A seed that produced no result (its process failed or timed out). */
export interface SeedCrash {
  readonly seed: number;
  readonly seconds: number;
  readonly message: string;
}

/** Totals over a run. */
export interface ChaosTotals {
  readonly seeds: number;
  readonly restorePoints: number;
  readonly mismatches: number;
  readonly byClass: ReadonlyMap<FindingClass, number[]>;
}

/** Counts findings by class, with the seeds showing each. */
export function totals(results: readonly SeedResult[], crashes: readonly SeedCrash[]): ChaosTotals {
  const byClass = new Map<FindingClass, number[]>();
  const add = (c: FindingClass, seed: number): void => {
    const seeds = byClass.get(c) ?? [];
    if (!seeds.includes(seed)) seeds.push(seed);
    byClass.set(c, seeds);
  };
  let restorePoints = 0;
  let mismatches = 0;
  for (const r of results) {
    for (const c of r.checks) restorePoints += c.restorePoints;
    for (const f of r.findings) {
      add(f.class, r.seed);
      if (DATA_CLASSES.has(f.class)) mismatches++;
    }
  }
  for (const c of crashes) add("harness", c.seed);
  return { seeds: results.length + crashes.length, restorePoints, mismatches, byClass };
}

const MIB = 1024 * 1024;

/** The markdown report. */
export function renderChaosReport(
  results: readonly SeedResult[],
  crashes: readonly SeedCrash[],
  facts: { command: string; commit: string; date: string; wallSeconds: number },
): string {
  const t = totals(results, crashes);
  const lines = [
    `Command: \`${facts.command}\` — agent commit \`${facts.commit}\`, ${facts.date}, ${Math.round(facts.wallSeconds)} s wall.`,
    "",
    "| seed | schedule | s | requests | faults (500/503/slow/reset/stall/trunc/stored500/outage) | agent starts | restore points (exact/content) | first upload after restarts (B) | peak spool / db (MiB) | findings |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of [...results].sort((a, b) => a.seed - b.seed)) {
    const f = r.faults;
    const points = r.checks.reduce((s, c) => s + c.restorePoints, 0);
    const exact = r.checks.reduce((s, c) => s + c.exact, 0);
    const content = r.checks.reduce((s, c) => s + c.byContent, 0);
    const restarts = r.firstUploads.slice(1).map((u) => (u.bytes === undefined ? "–" : String(u.bytes)));
    const spool = r.spool
      .map((s) => `${(s.peakSpoolBytes / MIB).toFixed(1)}/${(s.dbBytesEnd / MIB).toFixed(1)}`)
      .join(" ");
    const classes = [...new Set(r.findings.map((x) => x.class))].map(
      (c) => `${c}×${r.findings.filter((x) => x.class === c).length}`,
    );
    lines.push(
      `| ${r.seed} | ${describeEvents(r.schedule)} | ${r.seconds} | ${r.requests} | ${f["error-500"]}/${f["error-503"]}/${f["slow-down"]}/${f.reset}/${f.stall}/${f.truncate}/${f["stored-500"]}/${f.outage} | ${r.agentStarts} | ${points} (${exact}/${content}) | ${restarts.join(", ") || "–"} | ${spool} | ${classes.join(", ") || "none"} |`,
    );
  }
  for (const c of crashes)
    lines.push(
      `| ${c.seed} | – | ${c.seconds} | – | – | – | – | – | – | harness: ${c.message.replace(/\|/g, "/").slice(0, 200)} |`,
    );
  lines.push("", "| finding class | fails CI | seeds |", "|---|---|---|");
  if (t.byClass.size === 0) lines.push("| none | | |");
  for (const [c, seeds] of [...t.byClass].sort())
    lines.push(
      `| ${c} | ${DATA_CLASSES.has(c) ? "yes" : "no (reported)"} | ${seeds.sort((a, b) => a - b).join(", ")} |`,
    );
  lines.push("", `${t.seeds} seeds, ${t.restorePoints} restore points checked, ${t.mismatches} data mismatches.`);
  return `${lines.join("\n")}\n`;
}
