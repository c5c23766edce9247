/**
 * `litefleet status` and `litefleet sync`: talk to the running agent's
 * local status server (`status.addr` in the config, or `--addr`).
 *
 * @module
 */

import type { AgentStatus, ReplicaStatus } from "../agent/status.ts";
import { formatDuration } from "../config/duration.ts";
import { DEFAULTS } from "../config/schema.ts";
import { ReplicaError, UsageError } from "../errors.ts";
import { durationOption } from "./duration-option.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { table } from "./ltx.ts";
import { formatBytes } from "./restore.ts";

/** Options of `status` and `sync`. */
export interface AgentCommandOptions {
  readonly config?: string;
  readonly addr?: string;
  readonly json?: boolean;
  /** `sync` only: give up after this long (a duration, or a bare number of seconds). */
  readonly timeout?: string;
}

function agentAddr(io: CliIo, options: AgentCommandOptions): string {
  if (options.addr !== undefined) return options.addr;
  const config = loadConfig(io, options.config);
  const addr = config ? config.status.addr : DEFAULTS.status.addr;
  if (!addr) {
    throw new UsageError("Cannot reach the agent: its status server is disabled (status.addr is empty)", "set status.addr in the config");
  }
  return addr;
}

async function call(addr: string, init: { action: string; method: string; path: string; timeoutMs: number }): Promise<Response> {
  try {
    return await fetch(`http://${addr}${init.path}`, { method: init.method, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (err) {
    if (err instanceof Error && err.name === "TimeoutError") {
      throw new ReplicaError(`Cannot ${init.action}: the agent at '${addr}' did not answer within ${formatDuration(init.timeoutMs)}`, {
        replica: addr,
        hint: init.action === "sync" ? "raise --timeout (e.g. --timeout 10m); 'litefleet status' shows what is still pending" : "see the agent's log (journalctl -u litefleet)",
        cause: err,
      });
    }
    throw new ReplicaError(`Cannot reach the agent at '${addr}': ${(err as Error).message}`, {
      replica: addr,
      hint: "is 'litefleet replicate' running with this config? (systemctl status litefleet)",
      cause: err,
    });
  }
}

/** Runs `status`. */
export async function runStatus(io: CliIo, options: AgentCommandOptions): Promise<number> {
  const addr = agentAddr(io, options);
  const res = await call(addr, { action: "read the status", method: "GET", path: "/status", timeoutMs: 5000 });
  const status = (await res.json()) as AgentStatus;
  if (options.json) {
    io.stdout(`${JSON.stringify(status)}\n`);
    return ExitCode.ok;
  }
  io.stdout(formatStatus(status));
  return ExitCode.ok;
}

/** Runs `sync`: asks the agent to capture and upload everything now, and waits. */
export async function runSync(io: CliIo, options: AgentCommandOptions): Promise<number> {
  const timeoutMs = durationOption(options.timeout, "--timeout", 300_000);
  if (timeoutMs === 0) throw new UsageError(`Cannot use --timeout '${options.timeout}': it must be longer than 0`, "e.g. --timeout 5m");
  const addr = agentAddr(io, options);
  const res = await call(addr, { action: "sync", method: "POST", path: "/sync", timeoutMs });
  const body = (await res.json()) as { ok: boolean; error?: string } & Partial<AgentStatus>;
  if (options.json) io.stdout(`${JSON.stringify(body)}\n`);
  if (!body.ok) {
    if (!options.json) io.stderr(`Error: Cannot sync: ${body.error}\n`);
    return ExitCode.failure;
  }
  if (!options.json) io.stdout(formatStatus(body as AgentStatus));
  return ExitCode.ok;
}

/** Human-readable status: one row per replica. */
export function formatStatus(status: AgentStatus): string {
  const rows = [["db", "replica", "txid", "uploaded", "pending", "lag", "puts", "sent", "puts/month", "metered", "last error"]];
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
        (db.diskFull ? "disk full: " : "") + (r.conflict ? "second writer: " : "") + (db.captureError ?? r.lastError ?? ""),
      ]);
    }
  }
  const mqtt = status.mqtt
    ? `mqtt: ${status.mqtt.connected ? "connected" : "not connected"} (session ${status.mqtt.session}, ${status.mqtt.connections} connections, ${status.mqtt.outboxEvents} events waiting)\n`
    : "";
  return `device ${status.device}, litefleet ${status.agent}, up ${Math.round((status.now - status.startedAt) / 1000)}s\n${mqtt}${table(rows)}`;
}
