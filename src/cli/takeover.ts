/**
 * `litefleet takeover [DB_PATH]`: makes this device the writer of its
 * databases' replicas after a second-writer conflict (docs/OPERATIONS.md,
 * "Cloning images"). With the agent stopped, it drops the local state of
 * each database (the spool's captures, which cannot continue another
 * writer's history) and marks it, so the next start continues the database
 * on top of whatever its replicas hold, as a new full image. Nothing in
 * the replicas is changed; their earlier history stays restorable.
 *
 * @module
 */

import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { LocalStore } from "../agent/local-store.ts";
import { findConfiguredDb } from "../config/dir-entry.ts";
import { UsageError } from "../errors.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { callAgent } from "./status.ts";

/** How long a running agent's status server gets to answer. */
const RUNNING_PROBE_MS = 1000;

/** Runs `takeover`; returns the exit code. */
export async function runTakeover(
  io: CliIo,
  dbPath: string | undefined,
  options: { config?: string; agentStopped?: boolean },
): Promise<number> {
  const config = loadConfig(io, options.config);
  if (!config) throw new UsageError("Cannot take over: no config file", "pass --config FILE or set LITEFLEET_CONFIG");
  const named = dbPath === undefined ? undefined : findConfiguredDb(config, resolve(io.cwd, dbPath));
  const dbs = dbPath === undefined ? config.dbs : named ? [named] : [];
  if (dbs.length === 0) {
    throw new UsageError(
      `Cannot take over '${dbPath}': the config has no such database`,
      "litefleet databases --config FILE lists them",
    );
  }
  // Deleting a running agent's state stalls its replication: refuse unless it is known to be stopped.
  if (!config.status.addr && options.agentStopped !== true) {
    throw new UsageError(
      "Cannot take over: with 'status.addr' off there is no way to tell whether the agent is running",
      "stop it (systemctl stop litefleet), then run takeover --agent-stopped",
    );
  }
  if (
    config.status.addr &&
    "res" in (await callAgent(config.status.addr, { method: "GET", path: "/status", timeoutMs: RUNNING_PROBE_MS }))
  ) {
    throw new UsageError(
      `Cannot take over while the agent is running (its status server answers at ${config.status.addr})`,
      "stop it first (systemctl stop litefleet), run takeover, then start it",
    );
  }
  for (const db of dbs) {
    rmSync(db.metaPath, { recursive: true, force: true });
    LocalStore.requestTakeover(db.metaPath);
    io.stdout(`Takeover prepared for ${db.path}: its next start continues on top of what its replicas hold\n`);
  }
  io.stderr("Start the agent now; make sure no other device still replicates to the same place\n");
  return ExitCode.ok;
}
