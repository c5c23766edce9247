/**
 * Every replicated database of one agent process: builds a `DbAgent` per
 * configured database, starts and stops them together, and answers for all
 * of them (status, explicit sync, metrics).
 *
 * @module
 */

import type { Config, DbConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { MeteredProbe } from "../platform/metered.ts";
import { STATUS_VERSION, type AgentStatus, type MqttLinkStatus } from "../protocol/agent-status.ts";
import { createReplicaClient } from "../replica/registry.ts";
import { DbAgent, type StopReport } from "./db-agent.ts";

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
  readonly startedAt = Date.now();
  #config: Config;
  #version: string;
  #agents: DbAgent[];
  #make: (db: DbConfig) => Promise<DbAgent>;
  #mqttStatus: (() => MqttLinkStatus) | undefined;

  /**
   * Builds one agent per configured database. Async because a replica
   * client's backend module is loaded when the client is created
   * (`createReplicaClient`).
   */
  static async open(config: Config, options: StoreOptions): Promise<Store> {
    const store = new Store(config, options);
    store.#agents = await Promise.all(config.dbs.map((db) => store.#make(db)));
    return store;
  }

  /** The agents are made by {@linkcode Store.open}. */
  private constructor(config: Config, options: StoreOptions) {
    this.#mqttStatus = options.mqttStatus;
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
  }

  /** One agent per configured database, in config order. */
  get agents(): readonly DbAgent[] {
    return this.#agents;
  }

  /**
   * Stops the agent of `path` (with its final sync), runs `between` while
   * nothing of this process has the database open, then starts a new agent
   * for it (which reads its local state afresh). Resolves once capture is
   * open again.
   * @throws {RangeError} when `path` is not a configured database
   */
  async replaceDb(path: string, between: () => Promise<void>): Promise<DbAgent> {
    const i = this.#agents.findIndex((a) => a.path === path);
    const db = this.#config.dbs.find((d) => d.path === path);
    if (i < 0 || !db) throw new RangeError(`Cannot replace database '${path}': it is not configured`);
    await this.#agents[i]!.stop();
    try {
      await between();
    } finally {
      const next = await this.#make(db);
      this.#agents[i] = next;
      await next.start();
    }
    return this.#agents[i]!;
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
    return {
      version: STATUS_VERSION,
      agent: this.#version,
      device: this.#config.device.id,
      startedAt: this.startedAt,
      now: Date.now(),
      dbs: this.agents.map((a) => a.status()),
      mqtt: this.#mqttStatus?.() ?? null,
    };
  }

  /** Stops every database with a final sync, upload and handover tip; returns what each left unsent. */
  async stop(): Promise<{ db: string; unsent: StopReport["unsent"] }[]> {
    const reports = await Promise.all(this.agents.map((a) => a.stop()));
    return reports.map((r, i) => ({ db: this.agents[i]?.path ?? "", unsent: r.unsent }));
  }
}
