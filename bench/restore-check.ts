/**
 * Checking a replica after its agent stopped: restore it with the agent's
 * own restore command and compare the result with the database.
 *
 * @module
 */

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./agent-process.ts";
import type { TrackChild } from "./process-guard.ts";
import { countReadings, integrityCheck } from "./workload.ts";

/** Outcome of restoring one replica and comparing it with its database. */
export interface RestoreCheck {
  readonly ok: boolean;
  /** Rows in the restored `readings`, when the restore produced a database. */
  readonly rows: number | undefined;
  /** `PRAGMA integrity_check` of the restored database. */
  readonly integrity: string | undefined;
  /** One line for the report: what was compared, or why it failed. */
  readonly detail: string;
}

/** A replica to restore. */
export interface RestoreSubject {
  /** Unique name; the restore goes to `<work>/restored/<name>.db`. */
  readonly name: string;
  /** The replicated database. */
  readonly dbPath: string;
  /** Command line of a restore into `output`. */
  readonly restoreArgv: (output: string) => string[];
  /** Environment of that restore. */
  readonly commandEnv: Readonly<Record<string, string>>;
}

/**
 * Restores `subject`'s replica into `<work>/restored/<name>.db` and
 * compares it with the database: row count equal to the database's and to
 * the rows committed, and `PRAGMA integrity_check` = ok.
 */
export async function restoreAndCompare(
  subject: RestoreSubject,
  opts: { work: string; rowsCommitted: number; timeoutMs: number; track: TrackChild },
): Promise<{ sourceRows: number; check: RestoreCheck }> {
  const sourceRows = countReadings(subject.dbPath);
  mkdirSync(join(opts.work, "restored"), { recursive: true });
  const output = join(opts.work, "restored", `${subject.name}.db`);
  const { code, output: text } = await runCommand(subject.restoreArgv(output), {
    env: subject.commandEnv,
    timeoutMs: opts.timeoutMs,
    track: opts.track,
  });
  if (code !== 0 || !existsSync(output)) {
    return {
      sourceRows,
      check: {
        ok: false,
        rows: undefined,
        integrity: undefined,
        detail: `restore exited with ${code}: ${oneLine(text)}`,
      },
    };
  }
  const rows = countReadings(output);
  const integrity = integrityCheck(output);
  const ok = rows === sourceRows && rows === opts.rowsCommitted && integrity === "ok";
  return {
    sourceRows,
    check: {
      ok,
      rows,
      integrity,
      detail: `${rows} rows (db ${sourceRows}, committed ${opts.rowsCommitted}), integrity_check ${integrity}`,
    },
  };
}

function oneLine(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}
