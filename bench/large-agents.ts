/**
 * The two agents of one `large` case (one database size, one replica
 * kind): litefleet and Litestream, each replicating its own copy of the
 * same database to its own replica, an S3 prefix or a directory; their
 * configs, launches and restore commands. S3 configs come from
 * `litefleet-agent.ts` and `litestream-agent.ts`; the file-replica configs,
 * which those do not write, are built here.
 *
 * @module
 */

import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { AgentBinaries } from "./agent-binaries.ts";
import type { AgentLaunch, S3Target } from "./agent-process.ts";
import type { ComparedAgent } from "./benchmark-run.ts";
import {
  litefleetConfigYaml,
  litefleetEnv,
  litefleetLaunch,
  litefleetReplicaUrl,
  litefleetRestoreArgv,
} from "./litefleet-agent.ts";
import type { LargeSettings, ReplicaKind } from "./large-settings.ts";
import { litestreamConfigYaml, litestreamLaunch, litestreamRestoreArgv } from "./litestream-agent.ts";

/** The agents of every case, in table order. */
export const LARGE_AGENTS: readonly ComparedAgent[] = [
  { kind: "litefleet", name: "litefleet" },
  { kind: "litestream", name: "litestream" },
];

/** One agent of one case, ready to start: its database copied, its config written. */
export interface PreparedLargeAgent {
  readonly agent: ComparedAgent;
  readonly dbPath: string;
  readonly configPath: string;
  readonly launch: AgentLaunch;
  /** S3: the key prefix of its replica (no trailing `/`); file: its replica directory. */
  readonly replica: string;
  /** Command line of a restore of its replica into `output`. */
  readonly restoreArgv: (output: string) => string[];
  /** Environment of that restore. */
  readonly restoreEnv: Readonly<Record<string, string>>;
}

/** Where one case's files go and what it replicates. */
export interface LargeCase {
  /** `<size>mb-<kind>`: directory name and S3 key prefix of the case. */
  readonly id: string;
  readonly kind: ReplicaKind;
  /** The case's directory (databases, file replicas, configs, logs, restores). */
  readonly dir: string;
  /** The generated database every agent gets a copy of. */
  readonly sourcePath: string;
}

/**
 * Copies the case's database to `<dir>/<agent>/db.db`, writes
 * `<dir>/<agent>.yml` with one replica of `kind` (S3: prefix
 * `<id>/<agent>/db.db`; file: directory `<dir>/<agent>-replica`), and
 * returns how to run it. The agent will log to `<dir>/<agent>.log`.
 *
 * @throws {TypeError} for Litestream when `binaries.litestream` is absent
 */
export function prepareLargeAgent(
  agent: ComparedAgent,
  c: LargeCase,
  ctx: { s3: S3Target; settings: LargeSettings; binaries: AgentBinaries },
): PreparedLargeAgent {
  const { s3, settings } = ctx;
  mkdirSync(join(c.dir, agent.name), { recursive: true });
  const dbPath = join(c.dir, agent.name, "db.db");
  copyFileSync(c.sourcePath, dbPath);
  const configPath = join(c.dir, `${agent.name}.yml`);
  const logPath = join(c.dir, `${agent.name}.log`);
  const spec = {
    dbPath,
    prefix: `${c.id}/${agent.name}/db.db`,
    syncInterval: settings.syncInterval,
    monitorInterval: settings.monitorInterval,
  };
  const replicaDir = join(c.dir, `${agent.name}-replica`);
  const fileReplica = { type: "file", path: replicaDir, "sync-interval": settings.syncInterval };
  const replica = c.kind === "s3" ? `${c.id}/${agent.name}` : replicaDir;

  if (agent.kind === "litestream") {
    const binary = ctx.binaries.litestream;
    if (binary === undefined) throw new TypeError(`Cannot prepare ${agent.name}: Litestream is not installed`);
    const yaml =
      c.kind === "s3"
        ? litestreamConfigYaml([spec], s3)
        : stringify({ dbs: [{ path: dbPath, "monitor-interval": settings.monitorInterval, replicas: [fileReplica] }] });
    writeFileSync(configPath, yaml);
    const launch = litestreamLaunch(binary, configPath, agent, logPath);
    return {
      agent,
      dbPath,
      configPath,
      launch,
      replica,
      restoreArgv: (out) => litestreamRestoreArgv(binary, configPath, dbPath, out),
      restoreEnv: launch.env,
    };
  }
  const binary = ctx.binaries.litefleet;
  let yaml: string;
  if (c.kind === "s3") {
    yaml = litefleetConfigYaml([spec], s3, settings.litefleetConfigKeys);
  } else {
    const keys = settings.litefleetConfigKeys;
    const config: Record<string, unknown> = keys.emitStatusAndLevels
      ? { status: { addr: "" }, levels: keys.levels.map((interval) => ({ interval })) }
      : {};
    config["dbs"] = [{ path: dbPath, "monitor-interval": settings.monitorInterval, replica: fileReplica }];
    yaml = stringify(config);
  }
  writeFileSync(configPath, yaml);
  const url = c.kind === "s3" ? litefleetReplicaUrl(spec, s3) : `file://${replicaDir}`;
  return {
    agent,
    dbPath,
    configPath,
    launch: litefleetLaunch(binary, configPath, agent, s3, logPath),
    replica,
    restoreArgv: (out) => litefleetRestoreArgv(binary, url, out),
    restoreEnv: litefleetEnv(s3, undefined),
  };
}
