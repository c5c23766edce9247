/**
 * The history side of the fleet commands (docs/FLEET.md "History"):
 *
 * - `fleet dashboard --history FILE | --no-history [--history-retention 7d]
 *   [--history-max-rows N]`: where the dashboard keeps its history file
 *   ({@linkcode openDashboardHistory});
 * - `fleet history DEVICE [--db PATH] [--since …] [--limit N] [--json]`: a
 *   device's timeline, from a running dashboard (`--url`, default
 *   http://127.0.0.1:9398/) or read-only from a history file (`--history
 *   FILE`). A table by default; `--json` prints what `/api/history` answers.
 *
 * Exit codes (docs/CLI.md): 0 with entries; 1 when the device has no
 * history or the dashboard keeps none; 2 for a bad option; 3 for a corrupt
 * history file; 6 when no dashboard answers at `--url`.
 *
 * @module
 */

import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { formatDuration } from "../config/duration.ts";
import { errorMessage, UsageError } from "../errors.ts";
import { formatAge } from "../fleet/device-health.ts";
import {
  DEFAULT_HISTORY_MAX_ROWS,
  DEFAULT_HISTORY_RETENTION_MS,
  type HistoryRecorderOptions,
} from "../fleet/history/history-recorder.ts";
import { parseLimit, parseLongDuration, parseSince } from "../fleet/history/history-params.ts";
import {
  DEFAULT_HISTORY_LIMIT,
  type HistoryAnswer,
  type HistoryEntry,
  type HistoryQuery,
  type HistoryStore,
} from "../fleet/history/history-store.ts";
import { checkTopicId } from "../protocol/topics.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { table } from "./text-table.ts";

/** The dashboard's default address, as a URL (`fleet dashboard --addr` default). */
export const DEFAULT_DASHBOARD_URL = "http://127.0.0.1:9398/";

/** `$XDG_STATE_HOME/litefleet/fleet-history.db`, else `~/.local/state/litefleet/fleet-history.db`. */
export function defaultHistoryPath(env: Record<string, string | undefined>): string {
  const state = env["XDG_STATE_HOME"];
  if (state?.startsWith("/")) return join(state, "litefleet", "fleet-history.db");
  const home = env["HOME"] ?? homedir();
  return join(home, ".local", "state", "litefleet", "fleet-history.db");
}

/** The history options of `fleet dashboard`. */
export interface DashboardHistoryOptions {
  /** A file, or false for `--no-history`; undefined: the default file. */
  readonly history?: string | boolean;
  readonly historyRetention?: string;
  readonly historyMaxRows?: string;
}

/** Where and how the dashboard keeps history, or null with `--no-history`. */
export interface DashboardHistory {
  readonly store: HistoryStore;
  readonly options: HistoryRecorderOptions;
  readonly file: string;
}

/**
 * Opens the dashboard's history file (creating its directory), after checking the options.
 *
 * @throws {UsageError} for a bad `--history-retention` or `--history-max-rows`
 * @throws {CorruptFileError | LocalFileError} when the file is not a history file or cannot be opened
 */
export async function openDashboardHistory(
  io: CliIo,
  options: DashboardHistoryOptions,
): Promise<DashboardHistory | null> {
  if (options.history === false) return null;
  let retentionMs = DEFAULT_HISTORY_RETENTION_MS;
  if (options.historyRetention !== undefined) {
    try {
      retentionMs = parseLongDuration(options.historyRetention, "--history-retention");
    } catch (err) {
      throw new UsageError(errorMessage(err), "e.g. --history-retention 7d or 36h");
    }
    if (retentionMs <= 0) throw new UsageError("Cannot use --history-retention 0", "e.g. --history-retention 7d");
  }
  let maxRows = DEFAULT_HISTORY_MAX_ROWS;
  if (options.historyMaxRows !== undefined) {
    maxRows = /^\d+$/.test(options.historyMaxRows.replaceAll("_", ""))
      ? Number(options.historyMaxRows.replaceAll("_", ""))
      : 0;
    if (!Number.isSafeInteger(maxRows) || maxRows < 1)
      throw new UsageError(
        `Cannot use --history-max-rows '${options.historyMaxRows}': use a whole number of 1 or more`,
        "e.g. --history-max-rows 2000000",
      );
  }
  const file = typeof options.history === "string" ? resolve(io.cwd, options.history) : defaultHistoryPath(io.env);
  const { HistoryStore } = await import("../fleet/history/history-store.ts");
  const store = HistoryStore.open(file);
  const now = io.now ?? Date.now;
  return {
    store,
    file,
    options: {
      now,
      retentionMs,
      maxRows,
      onError: (err, failures) =>
        io.stderr(
          `Error: Cannot record history in ${file} (${plural(failures, "failed write", "failed writes")} so far): ${errorMessage(err)}\n`,
        ),
      onRecovered: (failures) =>
        io.stderr(`History recording recovered after ${plural(failures, "failed write", "failed writes")}\n`),
    },
  };
}

/** The startup line of `fleet dashboard` about history. */
export function describeHistory(history: DashboardHistory | null): string {
  if (history === null) return "History off (--no-history): the timeline panel stays empty\n";
  const o = history.options;
  return `History in ${history.file} (kept ${formatRetention(o.retentionMs ?? DEFAULT_HISTORY_RETENTION_MS)}, at most ${o.maxRows ?? DEFAULT_HISTORY_MAX_ROWS} entries; --no-history to turn off)\n`;
}

function formatRetention(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : formatDuration(ms);
}

/** Options of `fleet history`. */
export interface FleetHistoryOptions {
  readonly db?: string;
  readonly since?: string;
  readonly limit?: string;
  readonly json?: boolean;
  readonly url?: string;
  readonly history?: string;
}

/** Runs `fleet history DEVICE`. */
export async function runFleetHistory(io: CliIo, device: string, options: FleetHistoryOptions): Promise<number> {
  try {
    checkTopicId(device, "device id");
  } catch (err) {
    throw new UsageError(errorMessage(err), "device ids are shown by 'litefleet fleet status'");
  }
  const now = (io.now ?? Date.now)();
  let since: number | undefined;
  let limit = DEFAULT_HISTORY_LIMIT;
  try {
    if (options.since !== undefined) since = parseSince(options.since, now, "--since");
    if (options.limit !== undefined) limit = parseLimit(options.limit, "--limit");
  } catch (err) {
    throw new UsageError(errorMessage(err), "e.g. --since 1h (or 2d, 2026-12-01T10:00:00Z) --limit 100");
  }
  if (options.db === "")
    throw new UsageError("Cannot use --db '': the database path is empty", "leave --db out for the whole device");
  if (options.history !== undefined && options.url !== undefined)
    throw new UsageError("Cannot read from --url and --history at once", "give one of them");
  const query: HistoryQuery = { device, db: options.db, since, limit };
  const answer =
    options.history !== undefined
      ? await readFile(resolve(io.cwd, options.history), query)
      : await readDashboard(options.url ?? DEFAULT_DASHBOARD_URL, query);
  if (typeof answer === "object" && "failed" in answer) {
    io.stderr(`Error: ${answer.message}\n${answer.hint === undefined ? "" : `Try: ${answer.hint}\n`}`);
    return answer.failed;
  }
  if (options.json) io.stdout(`${JSON.stringify(answer)}\n`);
  else {
    io.stdout(formatHistory(answer));
    if (answer.truncated)
      io.stderr(
        `Showing the latest ${plural(answer.entries.length, "entry", "entries")}; --limit (up to 10000) or --since for others\n`,
      );
  }
  return ExitCode.ok;
}

/** `1 entry`, `2 entries`. */
function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Why there is no answer, and the exit code. */
interface NoAnswer {
  readonly failed: number;
  readonly message: string;
  readonly hint?: string;
}

function unknown(query: HistoryQuery): NoAnswer {
  const what = query.db === undefined ? `device '${query.device}'` : `database '${query.db}' of '${query.device}'`;
  return {
    failed: ExitCode.failure,
    message: `Cannot find history of ${what}: nothing was recorded`,
    hint: "'litefleet fleet status' lists the devices; history starts when a dashboard first sees a device",
  };
}

async function readFile(file: string, query: HistoryQuery): Promise<HistoryAnswer | NoAnswer> {
  const { HistoryStore } = await import("../fleet/history/history-store.ts");
  const store = HistoryStore.open(file, { readonly: true });
  try {
    return store.query(query) ?? unknown(query);
  } finally {
    store.close();
  }
}

async function readDashboard(base: string, query: HistoryQuery): Promise<HistoryAnswer | NoAnswer> {
  let url: URL;
  try {
    url = new URL("api/history", base.endsWith("/") ? base : `${base}/`);
  } catch {
    throw new UsageError(`Cannot use --url '${base}': not a URL`, `e.g. --url ${DEFAULT_DASHBOARD_URL}`);
  }
  url.searchParams.set("device", query.device);
  if (query.db !== undefined) url.searchParams.set("db", query.db);
  if (query.since !== undefined) url.searchParams.set("since", String(query.since));
  if (query.limit !== undefined) url.searchParams.set("limit", String(query.limit));
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    return {
      failed: ExitCode.unreachable,
      message: `Cannot reach the dashboard at '${url.origin}/': ${errorMessage(err)}`,
      hint: "start it with 'litefleet fleet dashboard', pass its --url, or read its file with --history FILE",
    };
  }
  if (res.status === 404) {
    // The dashboard's "nothing recorded" is JSON; any other 404 is not from a dashboard.
    const body = await res.text();
    if (res.headers.get("content-type")?.startsWith("application/json") && body.includes('"error"'))
      return unknown(query);
    return {
      failed: ExitCode.failure,
      message: `Cannot read history from '${url.origin}${url.pathname}': it answered HTTP 404 (${body.trim().slice(0, 80) || "no body"}): not a litefleet dashboard`,
      hint: `pass the address 'fleet dashboard' prints at startup, e.g. --url ${DEFAULT_DASHBOARD_URL}`,
    };
  }
  if (!res.ok) {
    const body = (await res.text()).trim();
    return {
      failed: res.status === 400 ? ExitCode.usage : ExitCode.failure,
      message: body === "" ? `Cannot read history: the dashboard answered HTTP ${res.status}` : body,
      ...(res.status === 503
        ? { hint: "start the dashboard without --no-history, or read a history file with --history FILE" }
        : {}),
    };
  }
  return (await res.json()) as HistoryAnswer;
}

/** One line per entry, oldest first: time (UTC), database, what happened, detail. */
export function formatHistory(answer: HistoryAnswer): string {
  const rows = [["TIME (UTC)", "DB", "KIND", "WHAT", "DETAIL"]];
  for (const e of answer.entries)
    rows.push([
      new Date(e.ts).toISOString().replace("T", " ").slice(0, 19),
      e.db ?? "-",
      e.kind,
      what(e),
      e.detail === undefined ? "" : typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail),
    ]);
  return table(rows);
}

function what(e: HistoryEntry): string {
  if (e.kind === "state") return e.state ?? "";
  if (e.kind === "event") return e.event ?? "";
  return formatAge(e.lagMs ?? 0);
}
