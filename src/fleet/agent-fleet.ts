/**
 * The device side of the fleet, assembled for `litefleet replicate` when
 * the config has `mqtt:`: the MQTT link, the event outbox, the command
 * executor and its commands (`sync`, `snapshot`, `status`, `verify`,
 * `restore`) over the agent's `Store`, and the recovery of a live restore a
 * crash interrupted.
 *
 * Every command ends by its deadline (`commands.ts`); the ones that wait
 * for replicas race that wait against it, since a replica that never
 * answers keeps `DbAgent.syncNow()` waiting. `sync`, `snapshot` and
 * `verify` share their databases; `restore` needs its database to itself;
 * `status` claims nothing, so it is answered whatever else runs.
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DbAgent } from "../agent/db-agent.ts";
import type { Store } from "../agent/store.ts";
import { describeSyncFailures, describeSyncWait, syncFailures } from "../agent/sync-report.ts";
import type { Config, DbConfig } from "../config/schema.ts";
import { UsageError, errorMessage, isDiskFull } from "../errors.ts";
import type { Logger } from "../log.ts";
import { formatTxid } from "../ltx/txid.ts";
import { parsePublicKey } from "../protocol/signing.ts";
import { verifyReplica } from "../verify/verify.ts";
import { CommandError, failureCode } from "./command-error.ts";
import { CommandExecutor, untilAborted, type CommandSpec } from "./commands.ts";
import { DeviceLink } from "./device-link.ts";
import { DeviceState } from "./device-state.ts";
import { Outbox } from "./outbox.ts";
import { checkRestoreArgs, recoverInterruptedRestore, runRemoteRestore } from "./remote-restore.ts";

/** Default deadline of a `restore` that carries none: staging a large database takes a while. */
const RESTORE_TIMEOUT_MS = 60 * 60_000;

/** See the module documentation. */
export class AgentFleet {
  readonly link: DeviceLink;
  readonly #config: Config;
  readonly #state: DeviceState;
  readonly #log: Logger;
  #store: Store | undefined;

  /** Builds the link (not yet connected); `config.mqtt` must be set. */
  constructor(config: Config, options: { log: Logger; version: string }) {
    const mqtt = config.mqtt;
    if (!mqtt) throw new RangeError("Cannot start the fleet link: the config has no 'mqtt' section");
    this.#config = config;
    this.#log = options.log;
    this.#state = new DeviceState(mqtt.stateDir);
    const outbox = new Outbox(join(mqtt.stateDir, "outbox"), { maxBytes: mqtt.outboxMaxBytes });
    const executor = new CommandExecutor({
      device: config.device.id,
      keys: config.fleet.operatorKeys.map(parsePublicKey),
      state: this.#state,
      commands: this.#commands(),
      reply: (reply, meta) => this.link.reply(reply, meta),
      event: (event, data) => this.link.event(event, data),
      log: options.log,
    });
    this.link = new DeviceLink({
      config: mqtt,
      device: config.device.id,
      agentVersion: options.version,
      status: () => this.#requireStore().status(),
      disk: () => diskOf(config.dbs[0]),
      state: this.#state,
      outbox,
      onCommand: (payload, meta) => {
        executor
          .handle(payload, meta)
          .catch((err: unknown) => options.log.error("command handling failed", { err: errorMessage(err) }));
      },
      log: options.log,
    });
  }

  /** Queues an event (for `Store`'s `onEvent`). */
  readonly event = (event: string, data: Record<string, unknown>): void => {
    this.link
      .event(event, data)
      .catch((err: unknown) => this.#log.warn("cannot queue event", { event, err: errorMessage(err) }));
  };

  /**
   * Rolls back or cleans up live restores a crash interrupted (before the
   * agents open their databases), recording each as a failed command.
   */
  async recover(): Promise<void> {
    for (const db of this.#config.dbs) {
      const recovered = await recoverInterruptedRestore(db);
      if (!recovered) continue;
      this.#log.warn("finished an interrupted restore", { db: db.path, ...recovered });
      const error = `the agent stopped during the restore; ${recovered.outcome === "rolled-back" ? "rolled back to the database as it was before" : "the live database was not changed"}`;
      await this.#state.record(
        recovered.id,
        { expiresAt: Date.now() + 24 * 3_600_000, status: "failed", error },
        Date.now(),
        0,
      );
      await this.link.event("restore.recovered", { db: db.path, id: recovered.id, outcome: recovered.outcome });
      await this.link.event("command.failed", { id: recovered.id, name: "restore", error, code: "interrupted" });
      // The operator may still be waiting: its final answer, once connected (on res/<id>).
      this.link.replyWhenConnected({
        v: 1,
        type: "reply",
        device: this.#config.device.id,
        id: recovered.id,
        ts: Date.now(),
        status: "failed",
        error,
        code: "interrupted",
      });
    }
  }

  /** Connects (in the background) once the agent's `Store` exists. */
  start(store: Store): void {
    this.#store = store;
    this.link.start();
  }

  /** Publishes the retained "stopped" status and disconnects. */
  async stop(): Promise<void> {
    await this.link.stop();
  }

  /** The databases replicated now: those a directory entry found come and go. */
  #dbs(): readonly DbConfig[] {
    return this.#store?.dbs ?? this.#config.dbs;
  }

  #requireStore(): Store {
    if (!this.#store) throw new Error("Cannot run a command: the agent is still starting");
    return this.#store;
  }

  #commands(): Record<string, CommandSpec> {
    const dbsOf = (args: Readonly<Record<string, unknown>>): readonly DbConfig[] => {
      if (args["db"] === undefined) return this.#dbs();
      if (typeof args["db"] !== "string")
        throw new UsageError(`Cannot run the command: 'db' must be a string: ${JSON.stringify(args["db"])}`);
      const db = this.#dbs().find((d) => d.path === args["db"]);
      if (!db)
        throw new UsageError(
          `Cannot run the command: '${String(args["db"])}' is not a configured database (${this.#dbs()
            .map((d) => d.path)
            .join(", ")})`,
        );
      return [db];
    };
    /** The paths a command names (all without `db`), for claims and messages; never throws. */
    const pathsOf = (args: Readonly<Record<string, unknown>>): string[] =>
      typeof args["db"] === "string" ? [args["db"]] : args["db"] === undefined ? this.#dbs().map((d) => d.path) : [];
    const agentOf = (db: DbConfig) => {
      const agent = this.#requireStore().agents.find((a) => a.path === db.path);
      if (!agent) throw new Error(`Cannot run the command: no agent for '${db.path}'`);
      return agent;
    };
    const shared = (args: Readonly<Record<string, unknown>>) => ({ dbs: pathsOf(args), exclusive: false });
    const checkDbs = (args: Readonly<Record<string, unknown>>): void => void dbsOf(args);
    const explainWait = (args: Readonly<Record<string, unknown>>) =>
      describeSyncWait(this.#requireStore().status(), pathsOf(args));
    return {
      sync: {
        check: checkDbs,
        claims: shared,
        explainTimeout: explainWait,
        run: async (args, ctx) => {
          const dbs = dbsOf(args);
          try {
            await untilAborted(Promise.all(dbs.map((db) => agentOf(db).syncNow())), ctx.signal);
          } catch (err) {
            if (ctx.signal.aborted) throw err;
            throw this.#syncError(err, dbs);
          } finally {
            this.link.publishStatus();
          }
          return { dbs: dbs.map((db) => ({ db: db.path, txid: txidOf(agentOf(db)) })) };
        },
      },
      snapshot: {
        check: checkDbs,
        claims: shared,
        explainTimeout: explainWait,
        run: async (args, ctx) => {
          const out: Record<string, unknown>[] = [];
          for (const db of dbsOf(args)) {
            const snap = await untilAborted(agentOf(db).snapshotNow(), ctx.signal).catch((err: unknown) => {
              throw ctx.signal.aborted ? err : this.#syncError(err, [db]);
            });
            out.push({ db: db.path, txid: snap ? formatTxid(snap.txid) : null, uploaded: snap?.uploaded ?? false });
          }
          return { dbs: out };
        },
      },
      status: {
        run: () => {
          this.link.publishStatus();
          return Promise.resolve({ ...this.#requireStore().status() });
        },
      },
      verify: {
        check: (args) => {
          if (args["full"] !== undefined && typeof args["full"] !== "boolean")
            throw new UsageError(`Cannot verify: 'full' must be true or false: ${JSON.stringify(args["full"])}`);
          for (const db of dbsOf(args))
            if (db.replicas.length === 0) throw new UsageError(`Cannot verify '${db.path}': it has no replica`);
        },
        claims: shared,
        explainTimeout: explainWait,
        run: async (args, ctx) => {
          const out: Record<string, unknown>[] = [];
          for (const db of dbsOf(args)) {
            const agent = agentOf(db);
            const client = agent.uploaders[0]?.client;
            if (!client) throw new UsageError(`Cannot verify '${db.path}': it has no replica`);
            const report = await untilAborted(
              verifyReplica(db.path, client, {
                full: args["full"] === true,
                sync: async () => {
                  await agent.syncNow();
                  return true;
                },
              }),
              ctx.signal,
            );
            out.push({ ...report });
          }
          return { ok: out.every((r) => r["ok"] === true), reports: out };
        },
      },
      restore: {
        check: (args) => checkRestoreArgs({ dbs: this.#dbs(), fleet: this.#config.fleet }, args),
        claims: (args) => ({ dbs: typeof args["db"] === "string" ? [args["db"]] : [], exclusive: true }),
        defaultTimeoutMs: RESTORE_TIMEOUT_MS,
        explainTimeout: explainWait,
        run: (args, ctx) =>
          runRemoteRestore(
            { store: this.#requireStore(), dbs: this.#dbs(), fleet: this.#config.fleet, log: this.#log },
            args,
            ctx,
          ),
      },
    };
  }

  /** A failed sync of `dbs`, naming the failing captures and replicas (from the status) and coded by the worst. */
  #syncError(err: unknown, dbs: readonly DbConfig[]): Error {
    const failures = syncFailures(
      this.#requireStore().status(),
      dbs.map((d) => d.path),
    );
    if (failures.length === 0) return err instanceof Error ? err : new Error(errorMessage(err));
    const own = failureCode(err);
    const code = isDiskFull(err)
      ? "disk-full"
      : own !== "internal"
        ? own
        : failures.some((f) => f.replica !== null)
          ? "replica"
          : "internal";
    return new CommandError(`Cannot sync: ${describeSyncFailures(failures)}`, { code, cause: err });
  }
}

function txidOf(agent: DbAgent): string | null {
  const id = agent.capture?.position?.txid;
  return id === undefined ? null : formatTxid(id);
}

function diskOf(db: DbConfig | undefined): { free: number; total: number } | undefined {
  if (!db) return undefined;
  try {
    const fs = statfsSync(dirname(db.path));
    return { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize };
  } catch {
    return undefined;
  }
}
