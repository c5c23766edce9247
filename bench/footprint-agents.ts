/**
 * The agents of the `footprint` benchmark: one litefleet process and one
 * Litestream process, each replicating several databases from one config,
 * every database with one S3 replica under its own prefix.
 *
 * @module
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentBinaries } from "./agent-binaries.ts";
import type { AgentLaunch, S3Target } from "./agent-process.ts";
import type { FootprintAgent, FootprintSettings } from "./footprint-settings.ts";
import {
  litefleetConfigYaml,
  litefleetEnv,
  litefleetLaunch,
  litefleetReplicaUrl,
  litefleetRestoreArgv,
  type LitefleetDbSpec,
} from "./litefleet-agent.ts";
import { litestreamConfigYaml, litestreamLaunch, litestreamRestoreArgv } from "./litestream-agent.ts";
import type { RestoreSubject } from "./restore-check.ts";
import { createWorkloadDatabase } from "./workload.ts";

/** One agent ready to start: its databases exist and its config is written. */
export interface PreparedFootprintAgent {
  readonly agent: FootprintAgent;
  readonly configPath: string;
  /** Ready once every database has logged that it is. */
  readonly launch: AgentLaunch;
  /** Its databases, in config order, each with how to restore it. */
  readonly databases: readonly RestoreSubject[];
  /** Environment of short commands (config check, restores). */
  readonly commandEnv: Readonly<Record<string, string>>;
}

/** Returns the bucket prefix under which every key of `agent` lies (no trailing `/`). */
export function agentPrefix(agent: FootprintAgent): string {
  return agent.name;
}

/**
 * Creates `<work>/<name>/db-<i>.db` (i = 1..databasesPerAgent) with the
 * workload schema and writes `<work>/<name>.yml` replicating each to
 * `<name>/db-<i>.db` in the bucket; the agent will log to `<work>/<name>.log`.
 *
 * @throws {TypeError} for a Litestream agent when `binaries.litestream` is absent
 */
export function prepareFootprintAgent(
  agent: FootprintAgent,
  ctx: { work: string; s3: S3Target; settings: FootprintSettings; binaries: AgentBinaries },
): PreparedFootprintAgent {
  const { work, s3, settings } = ctx;
  mkdirSync(join(work, agent.name), { recursive: true });
  const configPath = join(work, `${agent.name}.yml`);
  const logPath = join(work, `${agent.name}.log`);
  const dbs: (LitefleetDbSpec & { name: string })[] = [];
  for (let i = 1; i <= settings.databasesPerAgent; i++) {
    const dbPath = join(work, agent.name, `db-${i}.db`);
    createWorkloadDatabase(dbPath);
    const syncInterval = agent.kind === "litefleet" && agent.policy === "default" ? undefined : settings.syncInterval;
    dbs.push({
      name: `${agent.name}-db-${i}`,
      dbPath,
      prefix: `${agentPrefix(agent)}/db-${i}.db`,
      syncInterval,
      monitorInterval: settings.monitorInterval,
    });
  }
  if (agent.kind === "litestream") {
    const binary = ctx.binaries.litestream;
    if (binary === undefined) throw new TypeError(`Cannot prepare ${agent.name}: Litestream is not installed`);
    writeFileSync(
      configPath,
      litestreamConfigYaml(
        dbs.map((db) => ({ ...db, syncInterval: settings.syncInterval })),
        s3,
      ),
    );
    const launch = { ...litestreamLaunch(binary, configPath, agent, logPath), readyCount: dbs.length };
    return {
      agent,
      configPath,
      launch,
      databases: dbs.map((db) => ({
        name: db.name,
        dbPath: db.dbPath,
        restoreArgv: (out) => litestreamRestoreArgv(binary, configPath, db.dbPath, out),
        commandEnv: launch.env,
      })),
      commandEnv: launch.env,
    };
  }
  const binary = ctx.binaries.litefleet;
  writeFileSync(configPath, litefleetConfigYaml(dbs, s3, settings.litefleetConfigKeys));
  const commandEnv = litefleetEnv(s3, undefined);
  return {
    agent,
    configPath,
    launch: { ...litefleetLaunch(binary, configPath, agent, s3, logPath), readyCount: dbs.length },
    databases: dbs.map((db) => ({
      name: db.name,
      dbPath: db.dbPath,
      restoreArgv: (out) => litefleetRestoreArgv(binary, litefleetReplicaUrl(db, s3), out),
      commandEnv,
    })),
    commandEnv,
  };
}
