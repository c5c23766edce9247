/**
 * `litefleet replicate`: runs the agent for every configured database (or
 * one given on the command line) until SIGINT/SIGTERM (or, with `--once`,
 * for one round), then makes a final sync and upload and writes the
 * handover tip stock Litestream resumes from (docs/OPERATIONS.md).
 *
 * @module
 */

import { existsSync } from "node:fs";
import type { DbAgent } from "../agent/db-agent.ts";
import { DirWatcher, dirDatabasesAtStart } from "../agent/dir-watcher.ts";
import { LocalStore } from "../agent/local-store.ts";
import { renderMetrics } from "../agent/metrics.ts";
import type { HttpSurface } from "../agent/status-server.ts";
import { Store } from "../agent/store.ts";
import type { AgentFleet } from "../fleet/agent-fleet.ts";
import { configForSingleDb } from "../config/parse.ts";
import type { Config, DbConfig } from "../config/schema.ts";
import { errorMessage, UsageError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { systemClock } from "../platform/clock.ts";
import { sqliteVersion } from "../platform/sqlite.ts";
import { createReplicaClient } from "../replica/registry.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { listAllLtxFiles, planRestore } from "../restore/planner.ts";
import { requireSqliteVersion } from "../sqlite/version.ts";
import { agentExitCode, startExecChild, STOP_SIGNALS, type ExecChild } from "./exec-child.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { deviceId, loadConfig } from "./load-config.ts";
import { VERSION } from "./version.ts";

/**
 * How long the agent waits, after its `--exec` child ended of SIGTERM or
 * SIGINT, for its own copy of that signal before it takes the child's death
 * for a failure (exit 143 / 130) rather than a requested stop (exit 0).
 */
const OWN_SIGNAL_GRACE_MS = 250;

/** Options of `replicate`. */
export interface ReplicateOptions {
  readonly config?: string;
  /** Run this command as a child after the first sync (overrides config `exec`). */
  readonly exec?: string;
  /** Restore each missing database from its first replica before starting. */
  readonly restoreIfDbNotExists?: boolean;
  /** Capture, upload everything pending and the handover tip, then exit (Litestream's `-once`). */
  readonly once?: boolean;
}

/** Runs `replicate`; resolves with the exit code when stopped. */
export async function runReplicate(io: CliIo, args: string[], options: ReplicateOptions): Promise<number> {
  requireSqliteVersion(sqliteVersion());
  if (options.once && options.exec !== undefined) {
    throw new UsageError("Cannot combine --once with --exec", "run the application separately, or drop --once");
  }
  const configured = resolveConfig(io, args, options);
  if (configured.dbs.length === 0 && configured.dirs.length === 0) {
    throw new UsageError(
      "Cannot replicate: the config lists no databases",
      "add a 'dbs:' entry or run 'litefleet replicate DB_PATH REPLICA_URL'",
    );
  }
  const log = createLogger({ level: configured.logging.level, format: configured.logging.format, sink: io.stderr });
  // The databases directory entries find now replicate from the start like configured ones.
  const found = dirDatabasesAtStart(configured, log);
  const config: Config = { ...configured, dbs: [...configured.dbs, ...found] };
  for (const db of config.dbs) {
    if (options.restoreIfDbNotExists || db.restoreIfDbNotExists) await restoreIfMissing(io, db, log);
  }
  let fleet: AgentFleet | undefined;
  if (config.mqtt) {
    // The fleet side, and mqtt with it (~12 MiB once imported), loads only with an `mqtt:` section (issue #13).
    const { AgentFleet } = await import("../fleet/agent-fleet.ts");
    fleet = new AgentFleet(config, { log, version: VERSION });
  }
  // Before any agent opens a database: finish a live restore a crash interrupted.
  await fleet?.recover();
  const store = await Store.open(config, {
    env: io.env,
    log,
    version: VERSION,
    ...(fleet ? { onEvent: fleet.event, mqttStatus: () => fleet.link.linkStatus() } : {}),
  });
  const metrics = () => renderMetrics(store.agents, store.status().mqtt);
  const servers: HttpSurface[] = [];
  let child: ExecChild | undefined;
  let stopRequested = false;
  /** The signals received (and forwarded to the child, if any). */
  const received = new Set<string>();
  let resolveStop: () => void = () => {};
  const stopSignal = new Promise<void>((r) => (resolveStop = r));
  const unregister = io.onSignal((sig) => {
    log.info("signal received", { signal: sig });
    stopRequested = true;
    received.add(sig);
    // With a child, the child's exit stops the agent (after its final sync).
    child?.signal(sig as NodeJS.Signals);
    resolveStop();
  });
  let code: number = ExitCode.ok;
  let stopMemoryLog = (): void => {};
  const watchers = config.dirs
    .filter((entry) => entry.watch)
    .map(
      (entry) =>
        new DirWatcher({
          entry,
          claimed: (path) => store.has(path),
          add: async (db) => startLogged(await store.addDb(db), log),
          remove: (path) => store.removeDb(path),
          log,
        }),
    );
  const stopWatchers = () => Promise.all(watchers.map((w) => w.stop()));
  try {
    // node:http loads only for a server that is on (~1-2 MiB of RSS otherwise; issue #13).
    const { startMetricsServer, startStatusServer } =
      config.status.addr || config.metrics.addr ? await import("../agent/status-server.ts") : {};
    if (config.status.addr && startStatusServer) {
      servers.push(
        await startStatusServer(config.status.addr, {
          status: () => store.status(),
          syncNow: () => store.syncNow(),
          metrics,
        }),
      );
      log.info("status server listening", { addr: servers[0]?.addr });
    }
    if (config.metrics.addr && startMetricsServer) {
      const m = await startMetricsServer(config.metrics.addr, metrics);
      servers.push(m);
      log.info("metrics server listening", { addr: m.addr });
    }
    log.info("litefleet replicating", { dbs: store.agents.length, device: config.device.id, version: VERSION });
    fleet?.start(store);
    for (const db of config.dbs) {
      for (const r of db.replicas) log.info("replica", { db: db.path, replica: r.name, url: describeSpec(r.spec) });
    }
    // A signal while starting (waiting for a database to appear, or for a
    // replica to answer) stops at once.
    await Promise.race([Promise.all(store.agents.map((a) => startLogged(a, log))), stopSignal]);
    if (!stopRequested) for (const w of watchers) w.start(found);
    stopMemoryLog = await startMemoryLog(io.env["LITEFLEET_DEBUG_MEMORY"], log);
    const command = options.once ? undefined : (options.exec ?? config.exec);
    if (options.once) {
      if (!stopRequested) code = await syncOnce(store, log);
    } else if (command !== undefined && !stopRequested) {
      await Promise.race([store.firstSync(), stopSignal]);
      if (!stopRequested) {
        child = startExecChild(command, { env: io.env });
        log.info("started --exec child", { pid: child.pid, command });
        const exit = await child.exited;
        if (exit.signal !== undefined && STOP_SIGNALS.has(exit.signal) && !stopRequested) {
          // systemd's default KillMode=control-group signals the agent and the child at
          // once, and the child's exit may be seen first: let the agent's own signal arrive.
          const arrived = new AbortController();
          void stopSignal.then(() => arrived.abort());
          await systemClock.sleep(OWN_SIGNAL_GRACE_MS, arrived.signal);
        }
        // A stop the agent was asked for and forwarded, which the child ended of, is a success.
        code = agentExitCode(exit, received);
        log.info("--exec child exited", {
          code: exit.status,
          ...(exit.signal ? { signal: exit.signal } : {}),
          ...(code !== exit.status ? { exit: code } : {}),
        });
      }
    } else {
      await stopSignal;
    }
    log.info("stopping");
    await stopWatchers();
    const reports = await store.stop();
    if (options.once) code = reportUnsent(reports, log) ? ExitCode.failure : code;
  } finally {
    await stopWatchers();
    stopMemoryLog();
    await fleet?.stop();
    unregister();
    for (const srv of servers) await srv.close();
  }
  log.info("stopped", { code });
  return code;
}

/**
 * `--once`: captures and uploads everything pending now, as an explicit
 * `sync` does (the batch policy, time windows and the metered policy do not
 * hold level-0 uploads back; snapshots and compaction keep their windows).
 * The stop that follows writes the handover tip. Returns the exit code so
 * far: a failure when a replica could not be reached or refused an upload.
 */
async function syncOnce(store: Store, log: Logger): Promise<number> {
  try {
    await store.syncNow();
    return ExitCode.ok;
  } catch (err) {
    log.error("--once: upload failed; what was captured stays in the local spool for the next run", {
      err: errorMessage(err),
    });
    return ExitCode.failure;
  }
}

/** Logs every replica a stop left behind; true when there is one. */
function reportUnsent(reports: Awaited<ReturnType<Store["stop"]>>, log: Logger): boolean {
  let any = false;
  for (const r of reports) {
    for (const u of r.unsent) {
      any = true;
      log.error("--once: the replica does not hold everything captured", {
        db: r.db,
        replica: u.replica,
        err: u.error,
      });
    }
  }
  return any;
}

/**
 * With `LITEFLEET_DEBUG_MEMORY=<seconds>`, logs the process's memory
 * (`/proc/self/status` and the JS heap) now and every that many seconds
 * (issue #13; `bun run bench idle-rss` measures the same from outside).
 * The module that reads it loads only then.
 *
 * @returns a function that stops the log
 */
async function startMemoryLog(setting: string | undefined, log: Logger): Promise<() => void> {
  if (setting === undefined || setting === "") return () => {};
  const seconds = Number(setting);
  if (!(seconds > 0)) {
    log.warn("ignoring LITEFLEET_DEBUG_MEMORY: not a positive number of seconds", { value: setting });
    return () => {};
  }
  const { memorySnapshot } = await import("../platform/memory.ts");
  const write = () => log.info("memory", { ...memorySnapshot() });
  write();
  const timer = setInterval(write, seconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

async function startLogged(agent: DbAgent, log: Logger): Promise<void> {
  await agent.start();
  log.info("capture started", { db: agent.path, txid: agent.capture?.position?.txid.toString(16) });
}

/**
 * Boot on fresh or replaced hardware: when the database file is missing,
 * restore it from its first replica (nothing to do when that is empty).
 */
async function restoreIfMissing(io: CliIo, db: DbConfig, log: Logger): Promise<void> {
  if (existsSync(db.path)) {
    log.info("database exists; no restore", { db: db.path });
    return;
  }
  const replica = db.replicas[0];
  if (!replica) return;
  const client = await createReplicaClient(replica.spec, { env: io.env });
  await client.init();
  const files = await listAllLtxFiles(client);
  if (files.length === 0) {
    log.info("database missing and the replica holds no backup; starting without one", {
      db: db.path,
      replica: replica.name,
    });
    return;
  }
  const plan = await planRestore(client, {}, { files });
  const result = await applyRestorePlan(client, plan, { output: db.path });
  LocalStore.resetAfterRestore(db.metaPath);
  log.info("database restored from its replica", {
    db: db.path,
    replica: replica.name,
    txid: result.txid.toString(16),
    pages: result.pages,
  });
}

function resolveConfig(io: CliIo, args: string[], options: ReplicateOptions): Config {
  if (args.length === 2) {
    if (options.config !== undefined) {
      throw new UsageError(
        "Cannot combine --config with DB_PATH REPLICA_URL",
        "give either a config file or a database and a replica URL",
      );
    }
    const [dbPath, url] = args as [string, string];
    return configForSingleDb(dbPath, url, { cwd: io.cwd, deviceId: deviceId(io), env: io.env });
  }
  if (args.length !== 0) {
    throw new UsageError(
      `Cannot replicate: expected DB_PATH and REPLICA_URL, got ${args.length} argument(s)`,
      "litefleet replicate --help",
    );
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
