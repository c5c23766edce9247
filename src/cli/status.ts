/**
 * `litefleet status` and `litefleet sync`: talk to the running agent's
 * local status server (`status.addr` in the config, or `--addr`).
 *
 * Exit codes tell apart an agent that cannot be reached (6: nothing answers
 * at the address) from one that answers that the sync failed (1: it names
 * each failing capture and replica and why) or could not finish within
 * `--timeout` (5).
 *
 * @module
 */

import { formatDuration } from "../config/duration.ts";
import { DEFAULTS } from "../config/schema.ts";
import { UsageError, errorMessage } from "../errors.ts";
import type { AgentStatus, ReplicaStatus } from "../protocol/agent-status.ts";
import { durationOption } from "./duration-option.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { table } from "./text-table.ts";
import { formatBytes } from "./restore.ts";

/** Options of `status` and `sync`. */
export interface AgentCommandOptions {
  readonly config?: string;
  readonly addr?: string;
  readonly json?: boolean;
  /** `sync` only: give up after this long (a duration; a bare number is seconds). */
  readonly timeout?: string;
}

function agentAddr(io: CliIo, options: AgentCommandOptions): string {
  if (options.addr !== undefined) return options.addr;
  const config = loadConfig(io, options.config);
  const addr = config ? config.status.addr : DEFAULTS.status.addr;
  if (!addr) {
    throw new UsageError(
      "Cannot reach the agent: its status server is disabled (status.addr is empty)",
      "set status.addr in the config",
    );
  }
  return addr;
}

/** The agent's answer, or why there is none: "unreachable" (nothing answers) or "timeout" (no answer in time). */
type CallResult = { readonly res: Response } | { readonly failed: "unreachable" | "timeout"; readonly message: string };

/** One request to the agent's status server at `addr`. */
export async function callAgent(
  addr: string,
  init: { method: string; path: string; timeoutMs: number; headers?: Record<string, string> },
): Promise<CallResult> {
  try {
    return {
      res: await fetch(`http://${addr}${init.path}`, {
        method: init.method,
        signal: AbortSignal.timeout(init.timeoutMs),
        ...(init.headers ? { headers: init.headers } : {}),
      }),
    };
  } catch (err) {
    if ((err as { name?: unknown }).name === "TimeoutError") {
      return {
        failed: "timeout",
        message: `Cannot ${init.method === "POST" ? "sync" : "read the status"}: the agent at '${addr}' did not answer within ${formatDuration(init.timeoutMs)}`,
      };
    }
    return { failed: "unreachable", message: `Cannot reach the agent at '${addr}': ${errorMessage(err)}` };
  }
}

/** Prints why the agent did not answer and returns the exit code. */
function reportNoAnswer(io: CliIo, result: { failed: "unreachable" | "timeout"; message: string }): number {
  if (result.failed === "timeout") {
    io.stderr(
      `Error: ${result.message}\n${result.message.startsWith("Cannot sync") ? "Try: 'litefleet status' shows each replica's last error\n" : ""}`,
    );
    return ExitCode.timeout;
  }
  io.stderr(
    `Error: ${result.message}\nTry: is 'litefleet replicate' running with this config? (systemctl status litefleet)\n`,
  );
  return ExitCode.unreachable;
}

/** Runs `status`. */
export async function runStatus(io: CliIo, options: AgentCommandOptions): Promise<number> {
  const addr = agentAddr(io, options);
  const answer = await callAgent(addr, { method: "GET", path: "/status", timeoutMs: 5000 });
  if ("failed" in answer) return reportNoAnswer(io, answer);
  const status = (await answer.res.json()) as AgentStatus;
  if (options.json) {
    io.stdout(`${JSON.stringify(status)}\n`);
    return ExitCode.ok;
  }
  io.stdout(formatStatus(status));
  return ExitCode.ok;
}

/**
 * Runs `sync`: asks the agent to capture and upload everything now, and
 * waits. The agent answers by itself a little before `--timeout`
 * (`litefleet-timeout-ms`), so a replica that never answers is reported
 * by name, as a timeout (exit 5).
 */
export async function runSync(io: CliIo, options: AgentCommandOptions): Promise<number> {
  const timeoutMs = durationOption(options.timeout, "--timeout", 300_000);
  if (timeoutMs === 0)
    throw new UsageError(`Cannot use --timeout '${options.timeout}': it must be longer than 0`, "e.g. --timeout 5m");
  const addr = agentAddr(io, options);
  const agentTimeoutMs = Math.max(1, timeoutMs - Math.min(2000, Math.round(timeoutMs / 10)));
  const answer = await callAgent(addr, {
    method: "POST",
    path: "/sync",
    timeoutMs,
    headers: { "litefleet-timeout-ms": String(agentTimeoutMs) },
  });
  if ("failed" in answer) return reportNoAnswer(io, answer);
  const body = (await answer.res.json()) as { ok: boolean; error?: string; timedOut?: boolean } & Partial<AgentStatus>;
  if (options.json) io.stdout(`${JSON.stringify(body)}\n`);
  if (!body.ok) {
    // Older agents send the bare error.
    const error = body.error?.startsWith("Cannot sync") ? body.error : `Cannot sync: ${body.error}`;
    if (!options.json) io.stderr(`Error: ${error}\n`);
    return body.timedOut ? ExitCode.timeout : ExitCode.failure;
  }
  if (!options.json) io.stdout(formatStatus(body as AgentStatus));
  return ExitCode.ok;
}

/** Human-readable status: one row per replica. */
export function formatStatus(status: AgentStatus): string {
  const rows = [
    ["db", "replica", "txid", "uploaded", "pending", "lag", "puts", "sent", "puts/month", "metered", "last error"],
  ];
  for (const db of status.dbs) {
    for (const r of db.replicas as ReplicaStatus[]) {
      rows.push([
        db.path,
        r.name,
        db.txid ?? "-",
        r.txid,
        `${r.pending.files} (${formatBytes(r.pending.bytes)})`,
        `${Math.round(r.lagMs / 1000)}s`,
        String(r.puts),
        formatBytes(r.bytes),
        String(r.projectedPerMonth.puts),
        r.metered === null ? "-" : r.metered ? "yes" : "no",
        (db.diskFull ? "disk full: " : "") +
          (r.conflict ? "second writer: " : "") +
          (db.captureError ?? r.lastError ?? ""),
      ]);
    }
  }
  const mqtt = status.mqtt
    ? `mqtt: ${status.mqtt.connected ? "connected" : "not connected"} (session ${status.mqtt.session}, ${status.mqtt.connections} connections, ${status.mqtt.outboxEvents} events waiting)\n`
    : "";
  return `device ${status.device}, litefleet ${status.agent}, up ${Math.round((status.now - status.startedAt) / 1000)}s\n${mqtt}${table(rows)}`;
}
