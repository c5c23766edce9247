/**
 * The agents of the `batching` benchmark: writing their databases and
 * configs, and restoring their replicas afterwards.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentLaunch, S3Target } from "./agent-process.ts";
import type { AgentBinaries } from "./agent-binaries.ts";
import type { BatchingAgent, BatchingSettings } from "./batching-settings.ts";
import {
  litefleetConfigYaml,
  litefleetEnv,
  litefleetLaunch,
  litefleetReplicaUrl,
  litefleetRestoreArgv,
  validateLitefleetConfig,
} from "./litefleet-agent.ts";
import { litestreamConfigYaml, litestreamLaunch, litestreamRestoreArgv } from "./litestream-agent.ts";
import type { TrackChild } from "./process-guard.ts";
import { restoreAndCompare, type RestoreCheck } from "./restore-check.ts";
import { createWorkloadDatabase } from "./workload.ts";

/** One agent ready to start: its database exists and its config is written. */
export interface PreparedAgent {
  readonly agent: BatchingAgent;
  readonly dbPath: string;
  readonly configPath: string;
  readonly launch: AgentLaunch;
  /** Command line of a restore into `output`. */
  readonly restoreArgv: (output: string) => string[];
  /** Environment of that restore (and of other short commands). */
  readonly commandEnv: Readonly<Record<string, string>>;
}

/** Returns the key prefix of `agent` in the bucket: `<name>/app.db`. */
export function prefixOf(agent: BatchingAgent): string {
  return `${agent.name}/app.db`;
}

/**
 * Creates `<work>/<name>.db` with the workload schema and writes
 * `<work>/<name>.yml`; the agent will log to `<work>/<name>.log`.
 *
 * @throws {TypeError} for a Litestream agent when `binaries.litestream` is absent
 */
export function prepareAgent(
  agent: BatchingAgent,
  ctx: { work: string; s3: S3Target; settings: BatchingSettings; binaries: AgentBinaries },
): PreparedAgent {
  const dbPath = join(ctx.work, `${agent.name}.db`);
  const configPath = join(ctx.work, `${agent.name}.yml`);
  const logPath = join(ctx.work, `${agent.name}.log`);
  createWorkloadDatabase(dbPath);
  const spec = {
    name: agent.name,
    dbPath,
    prefix: prefixOf(agent),
    syncInterval: agent.syncInterval,
    monitorInterval: ctx.settings.monitorInterval,
  };
  if (agent.kind === "litestream") {
    const binary = ctx.binaries.litestream;
    if (binary === undefined) throw new TypeError(`Cannot prepare ${agent.name}: Litestream is not installed`);
    writeFileSync(configPath, litestreamConfigYaml([spec], ctx.s3));
    const launch = litestreamLaunch(binary, configPath, spec, logPath);
    return {
      agent,
      dbPath,
      configPath,
      launch,
      restoreArgv: (out) => litestreamRestoreArgv(binary, configPath, dbPath, out),
      commandEnv: launch.env,
    };
  }
  const binary = ctx.binaries.litefleet;
  writeFileSync(configPath, litefleetConfigYaml([spec], ctx.s3, ctx.settings.litefleetConfigKeys));
  return {
    agent,
    dbPath,
    configPath,
    launch: litefleetLaunch(binary, configPath, spec, ctx.s3, logPath),
    restoreArgv: (out) => litefleetRestoreArgv(binary, litefleetReplicaUrl(spec, ctx.s3), out),
    commandEnv: litefleetEnv(ctx.s3, undefined),
  };
}

/**
 * Has litefleet parse the config (`litefleet databases --config FILE`), so a
 * key the build does not accept fails here with litefleet's own message.
 *
 * @throws {Error} when litefleet rejects the config
 */
export async function checkLitefleetConfig(p: PreparedAgent, binary: string, track: TrackChild): Promise<void> {
  try {
    await validateLitefleetConfig(binary, p.configPath, { env: p.commandEnv, track });
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}` +
        "(if the build predates the 'status' and 'levels' keys, set emitStatusAndLevels to false in bench/batching-settings.ts)",
      { cause: err },
    );
  }
}

/**
 * Restores `p`'s replica into `<work>/restored/<name>.db` and compares it
 * with the database; see `restore-check.ts`.
 */
export function restoreAgent(
  p: PreparedAgent,
  opts: { work: string; rowsCommitted: number; timeoutMs: number; track: TrackChild },
): Promise<{ sourceRows: number; check: RestoreCheck }> {
  return restoreAndCompare(
    { name: p.agent.name, dbPath: p.dbPath, restoreArgv: p.restoreArgv, commandEnv: p.commandEnv },
    opts,
  );
}
