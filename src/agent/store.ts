/**
 * Every replicated database of one agent process: builds a `DbAgent` per
 * configured database, starts and stops them together, and answers for all
 * of them (status, explicit sync, metrics). Databases a directory entry
 * finds while running are added and removed one at a time
 * (`addDb` / `removeDb`) without touching the others.
 *
 * @module
 */

import type { Config, DbConfig } from "../config/schema.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { MeteredProbe } from "../platform/metered.ts";
import { STATUS_VERSION, type AgentStatus, type MqttLinkStatus } from "../protocol/agent-status.ts";
import { createReplicaClient } from "../replica/registry.ts";
import { DbAgent, type StopOptions, type StopReport } from "./db-agent.ts";

/** What {@linkcode Store.open} takes besides the config. */
export interface StoreOptions {
  env: Record<string, string | undefined>;
  log: Logger;
  version: string;
  /** Events for the fleet (see `DbAgentOptions.onEvent`). */
  onEvent?: (event: string, data: Record<string, unknown>) => void;
  /** The MQTT link's state, for the status object. */
  mqttStatus?: () => MqttLinkStatus;
}

/** See the module documentation. */
export class Store {
  /** The monotonic clock at start (`performance.now()`). */
  readonly #startedMono = performance.now();
  #config: Config;
  #version: string;
  #agents: DbAgent[];
  /** The config of each agent, same order as `#agents`. */
  #dbs: DbConfig[];
  #make: (db: DbConfig) => Promise<DbAgent>;
  #mqttStatus: (() => MqttLinkStatus) | undefined;
  #log: Logger;

  /**
   * Builds one agent per configured database. Async because a replica
   * client's backend module is loaded when the client is created
   * (`createReplicaClient`).
   */
  static async open(config: Config, options: StoreOptions): Promise<Store> {
    const store = new Store(config, options);
    store.#agents = await Promise.all(config.dbs.map((db) => store.#make(db)));
    store.#dbs = [...config.dbs];
    return store;
  }

  /** The agents are made by {@linkcode Store.open}. */
  private constructor(config: Config, options: StoreOptions) {
    this.#mqttStatus = options.mqttStatus;
    this.#log = options.log;
    this.#config = config;
    this.#version = options.version;
    const meteredProbe = new MeteredProbe();
    this.#make = async (db) =>
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
        replicas: await Promise.all(
          db.replicas.map(async (r) => ({
            name: r.name,
            client: await createReplicaClient(r.spec, { env: options.env }),
            config: r,
          })),
        ),
        meteredProbe,
        log: options.log,
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
    this.#agents = [];
    this.#dbs = [];
  }

  /** One agent per database: the configured ones in config order, then those added since. */
  get agents(): readonly DbAgent[] {
    return this.#agents;
  }

  /** The config of each database, in the order of {@linkcode Store.agents}. */
  get dbs(): readonly DbConfig[] {
    return this.#dbs;
  }

  /** Whether the database at `path` is replicated by this store. */
  has(path: string): boolean {
    return this.#dbs.some((d) => d.path === path);
  }

  /**
   * Adds a database found while running and returns its agent, not yet
   * started (the caller starts it, so a slow start holds up nothing else).
   * @throws {RangeError} when the store already has the database
   */
  async addDb(db: DbConfig): Promise<DbAgent> {
    if (this.has(db.path)) throw new RangeError(`Cannot add database '${db.path}': it is already replicated`);
    const agent = await this.#make(db);
    // Checked again: another add of the same path may have finished while the clients loaded.
    if (this.has(db.path)) throw new RangeError(`Cannot add database '${db.path}': it is already replicated`);
    this.#agents = [...this.#agents, agent];
    this.#dbs = [...this.#dbs, db];
    return agent;
  }

  /**
   * Stops the agent of `path` (with its final sync and upload, as at
   * shutdown) and forgets it; its local state stays on disk for a later
   * return. Does nothing when the store does not have it.
   */
  async removeDb(path: string): Promise<void> {
    const i = this.#dbs.findIndex((d) => d.path === path);
    const agent = this.#agents[i];
    if (i < 0 || !agent) return;
    this.#agents = this.#agents.filter((a) => a !== agent);
    this.#dbs = this.#dbs.filter((_, j) => j !== i);
    await agent.stop();
  }

  /**
   * Stops the agent of `path` (as `stop` says; with its final upload by
   * default), runs `between` while nothing of this process has the
   * database open, then puts a new agent in its place (which reads its
   * local state afresh) and starts it. Resolves once `between` ran, with
   * the new agent and its start (which resolves once capture is open
   * again): not waiting for it, since a start waits as long as the
   * replicas do not answer when it must take over what they hold. When
   * `between` throws, the new agent is started all the same (a failure of
   * that start is logged) and the error is rethrown.
   * @throws {RangeError} when `path` is not a configured database
   */
  async replaceDb(
    path: string,
    between: () => Promise<void>,
    stop?: StopOptions,
  ): Promise<{ agent: DbAgent; started: Promise<void> }> {
    const old = this.#agents.find((a) => a.path === path);
    const db = this.#dbs.find((d) => d.path === path);
    if (!old || !db) throw new RangeError(`Cannot replace database '${path}': it is not configured`);
    await old.stop(stop);
    let failure: { err: unknown } | undefined;
    try {
      await between();
    } catch (err) {
      failure = { err };
    }
    const next = await this.#make(db);
    this.#agents = this.#agents.map((a) => (a === old ? next : a));
    const started = next.start();
    if (failure) {
      started.catch((err: unknown) =>
        this.#log.error("cannot restart replication of the database", { db: path, err: errorMessage(err) }),
      );
      throw failure.err;
    }
    return { agent: next, started };
  }

  /** Starts every database (resolves when each has opened capture). */
  async start(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.start()));
  }

  /** Resolves once every database has made its first sync. */
  async firstSync(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.firstSync()));
  }

  /** Captures and uploads everything now, for every database. */
  async syncNow(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.syncNow()));
  }

  /** The agent's status object. */
  status(): AgentStatus {
    const now = Date.now();
    return {
      version: STATUS_VERSION,
      agent: this.#version,
      device: this.#config.device.id,
      // The start as the wall clock now dates it: `now - startedAt` is the uptime even after a clock step.
      startedAt: Math.round(now - (performance.now() - this.#startedMono)),
      now,
      dbs: this.agents.map((a) => a.status()),
      mqtt: this.#mqttStatus?.() ?? null,
    };
  }

  /** Stops every database with a final sync, upload and handover tip; returns what each left unsent. */
  async stop(): Promise<{ db: string; unsent: StopReport["unsent"] }[]> {
    const timeoutMs = this.#config.shutdownSyncTimeout;
    const reports = await Promise.all(this.agents.map((a) => a.stop({ timeoutMs })));
    return reports.map((r, i) => ({ db: this.agents[i]?.path ?? "", unsent: r.unsent }));
  }
}
