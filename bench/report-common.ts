/**
 * What the markdown reports of the agent comparisons (`batching`,
 * `footprint`) have in common: the facts of the run, the header lines that
 * state them, the method notes that describe the same measurement, the
 * attribution summary and the notes section, and how numbers and exits are
 * written in table cells.
 *
 * @module
 */

import type { AgentExit } from "./agent-process.ts";
import type { MachineInfo } from "./machine-info.ts";
import type { RequestTally } from "./s3-accounting.ts";

/** What every comparison report says about its run, besides its settings and agents. */
export interface RunFacts {
  /** The command as typed, e.g. `bun run bench batching --quick`. */
  readonly command: string;
  readonly startedAt: Date;
  readonly machine: MachineInfo;
  /** Versions of the agents, by family, e.g. `{ litefleet: "0.1.0 (…)", Litestream: "v0.3.13 (…)" }`. */
  readonly versions: Readonly<Record<string, string>>;
  /** True for `--quick`: a smoke run, not a result of record. */
  readonly quick: boolean;
  /** Transactions committed to each database. */
  readonly transactions: number;
  /** Writer ticks that started more than one interval late. */
  readonly lateTicks: number;
  /** Seconds from the first transaction to SIGTERM. */
  readonly steadySeconds: number;
  /** Remarks worth reading next to the numbers. */
  readonly notes: readonly string[];
}

/** Returns what the report heading appends for a `--quick` run: a warning, or nothing. */
export function quickRunMark(quick: boolean): string {
  return quick ? " (quick smoke run, not a result of record)" : "";
}

/** Returns the list items that open every report: command, date, machine and agent versions. */
export function runFactLines(facts: Pick<RunFacts, "command" | "startedAt" | "machine" | "versions">): string[] {
  const m = facts.machine;
  return [
    `- Command: \`${facts.command}\``,
    `- Date: ${facts.startedAt.toISOString()}`,
    `- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}`,
    `- Agents: ${Object.entries(facts.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join("; ")}`,
  ];
}

/** The requests the PUTs columns fold together (each is one PUT-class request in S3's bill), for the method notes. */
export const PUT_CLASS_REQUESTS = "PutObject + UploadPart + CreateMultipartUpload + CompleteMultipartUpload";

/** How the bytes-uploaded columns are summed, for the method notes. */
export const UPLOADED_BYTES = "sum of `content-length` of PutObject/UploadPart";

/**
 * Returns the method note on the restore column: `- <column> = after
 * <restored> (the restore commands) has as many rows …`, e.g. `column`
 * "Restore ok", `restored` "the agents stopped, a restore of the replica".
 */
export function restoreMethodNote(column: string, restored: string): string {
  return (
    `- ${column} = after ${restored} (litefleet: \`litefleet restore -o X <url>\`; Litestream: \`litestream restore -o X -config FILE <db>\`) ` +
    "has as many `readings` rows as the database and as the writer committed, and `PRAGMA integrity_check` = ok."
  );
}

/**
 * Returns the lines that close the details: whether every request was
 * attributed to an agent (else the unattributed counts), and how many
 * uploads had no `content-length` when any had none.
 */
export function attributionLines(unattributed: RequestTally, uploadsWithoutLength: number): string[] {
  const u = unattributed;
  const out = [
    "",
    u.requests === 0
      ? "Every request was attributed to an agent."
      : `Unattributed requests: ${u.requests} (PUT ${u.puts}, LIST ${u.lists}, GET/HEAD ${u.getHeads}, DELETE ${u.deletes}, other ${u.other}).`,
  ];
  if (uploadsWithoutLength > 0)
    out.push(`Uploads without content-length (bytes missing from the table): ${uploadsWithoutLength}.`);
  return out;
}

/** Returns the notes section that ends a report (a blank line, `Notes:`, one item each), or nothing without notes. */
export function notesSection(notes: readonly string[]): string[] {
  return notes.length === 0 ? [] : ["", "Notes:", ...notes.map((n) => `- ${n}`)];
}

/** Returns the "stop s" cell: seconds from SIGTERM to exit, or n/a. */
export function stopSecondsCell(exit: AgentExit | undefined): string {
  return exit ? fixed(exit.stopSeconds, 1) : "n/a";
}

/** Returns the "exit" cell: the exit code or signal, the SIGKILL after the stop timeout, or n/a. */
export function exitCell(exit: AgentExit | undefined): string {
  return exit ? (exit.killed ? "SIGKILLed after timeout" : String(exit.code ?? exit.signal)) : "n/a";
}

/** Returns `n` rounded to an integer with thousands separators, e.g. `1,235`. */
export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Returns `n` with exactly `digits` decimals and thousands separators, e.g. `1,234.50`. */
export function fixed(n: number, digits: number): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Returns {@linkcode fixed}`(n, digits)`, or n/a when `n` is unknown. */
export function fixedOrNa(n: number | undefined, digits: number): string {
  return n === undefined ? "n/a" : fixed(n, digits);
}

/** Returns a size in KiB as MiB with one decimal, e.g. `62.3`. */
export function mib(kib: number): string {
  return fixed(kib / 1024, 1);
}

/** Returns {@linkcode mib}`(kib)`, or n/a when the size is unknown. */
export function mibOrNa(kib: number | undefined): string {
  return kib === undefined ? "n/a" : mib(kib);
}
