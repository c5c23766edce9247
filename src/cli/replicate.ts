/**
 * `litefleet replicate`: runs the agent for every configured database (or
 * one given on the command line) until SIGINT/SIGTERM, then makes a final
 * sync and upload.
 *
 * @module
 */

import { DbAgent } from "../agent/db-agent.ts";
import { startStatusServer } from "../agent/status-server.ts";
import { STATUS_VERSION, type AgentStatus } from "../agent/status.ts";
import { MeteredProbe } from "../platform/metered.ts";
import { configForSingleDb } from "../config/parse.ts";
import type { Config } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { sqliteVersion } from "../platform/sqlite.ts";
import { createReplicaClient } from "../replica/registry.ts";
import { requireSqliteVersion } from "../sqlite/version.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { deviceId, loadConfig } from "./load-config.ts";
import { VERSION } from "./version.ts";

/** Options of `replicate`. */
export interface ReplicateOptions {
  readonly config?: string;
}

/** Runs `replicate`; resolves with the exit code when stopped. */
export async function runReplicate(io: CliIo, args: string[], options: ReplicateOptions): Promise<number> {
  requireSqliteVersion(sqliteVersion());
  const config = resolveConfig(io, args, options);
  if (config.dbs.length === 0) {
    throw new UsageError("Cannot replicate: the config lists no databases", "add a 'dbs:' entry or run 'litefleet replicate DB_PATH REPLICA_URL'");
  }
  const log = createLogger({ level: config.logging.level, format: config.logging.format, sink: io.stderr });
  const meteredProbe = new MeteredProbe();
  const agents = config.dbs.map(
    (db) =>
      new DbAgent({
        path: db.path,
        metaPath: db.metaPath,
        monitorIntervalMs: db.monitorInterval,
        snapshotIntervalMs: config.snapshot.interval,
        snapshotRetentionMs: config.snapshot.retention,
        levels: config.levels,
        spool: db.spool,
        capture: {
          busyTimeoutMs: db.busyTimeout,
          minCheckpointPageCount: db.minCheckpointPageCount,
          truncatePageN: db.truncatePageN,
          checkpointIntervalMs: db.checkpointInterval,
        },
        replicas: db.replicas.map((r) => ({
          name: r.name,
          client: createReplicaClient(r.spec, { env: io.env }),
          config: r,
        })),
        meteredProbe,
        log,
      }),
  );
  const startedAt = Date.now();
  const agentStatus = (): AgentStatus => ({
    version: STATUS_VERSION,
    agent: VERSION,
    device: config.device.id,
    startedAt,
    now: Date.now(),
    dbs: agents.map((a) => a.status()),
  });
  const server = config.status.addr
    ? await startStatusServer(config.status.addr, {
        status: agentStatus,
        syncNow: async () => {
          await Promise.all(agents.map((a) => a.syncNow()));
        },
      })
    : undefined;
  if (server) log.info("status server listening", { addr: server.addr });
  let stopping: Promise<void> | undefined;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const unregister = io.onSignal((sig) => {
    if (stopping) return;
    log.info("stopping", { signal: sig });
    stopping = Promise.all(agents.map((a) => a.stop())).then(() => resolveStopped());
  });
  try {
    log.info("litefleet replicating", { dbs: agents.length, device: config.device.id });
    for (const db of config.dbs) {
      for (const r of db.replicas) log.info("replica", { db: db.path, replica: r.name, url: describeSpec(r.spec) });
    }
    await Promise.all(agents.map((a) => startLogged(a, log)));
    await stopped;
  } finally {
    unregister();
    await server?.close();
  }
  log.info("stopped");
  return ExitCode.ok;
}

async function startLogged(agent: DbAgent, log: Logger): Promise<void> {
  await agent.start();
  log.info("capture started", { db: agent.path, txid: agent.capture?.position?.txid.toString(16) });
}

function resolveConfig(io: CliIo, args: string[], options: ReplicateOptions): Config {
  if (args.length === 2) {
    if (options.config !== undefined) {
      throw new UsageError("Cannot combine --config with DB_PATH REPLICA_URL", "give either a config file or a database and a replica URL");
    }
    const [dbPath, url] = args as [string, string];
    return configForSingleDb(dbPath, url, { cwd: io.cwd, deviceId: deviceId(io), env: io.env });
  }
  if (args.length !== 0) {
    throw new UsageError(`Cannot replicate: expected DB_PATH and REPLICA_URL, got ${args.length} argument(s)`, "litefleet replicate --help");
  }
  const config = loadConfig(io, options.config);
  if (!config) {
    throw new UsageError(
      "Cannot replicate: no config file (looked at $LITEFLEET_CONFIG and /etc/litefleet.yml)",
      "pass --config FILE, or run 'litefleet replicate DB_PATH REPLICA_URL'",
    );
  }
  return config;
}

/** A URL-like description of a replica spec without secrets. */
export function describeSpec(spec: Config["dbs"][number]["replicas"][number]["spec"]): string {
  if (spec.type === "file") return `file://${spec.path}`;
  return `s3://${spec.bucket}/${spec.path}${spec.endpoint ? ` (${spec.endpoint})` : ""}`;
}
