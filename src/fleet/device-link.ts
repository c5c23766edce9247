/**
 * The device's MQTT link (docs/FLEET.md): one connection at a time, made
 * by this module rather than by mqtt.js's fixed one-second reconnect
 * (`reconnectPeriod: 0`), with jittered exponential backoff (1 s doubling
 * to 5 min, full jitter) so a fleet does not hammer a restarted broker.
 *
 * Per connection: a new session sequence (`DeviceState`), a retained Last
 * Will `offline`/"lost" with that sequence (MQTT 5 Will Delay rides out
 * short drops), then the retained birth `status`, a subscription to `cmd`,
 * the outbox drained at QoS 1, and every `status-interval` the retained
 * status again plus telemetry (`tele`, QoS 0, the full status object,
 * retained so that the last data of a device whose status is now its Will
 * stays readable). A clean stop publishes a retained `offline`/"stopped"
 * status.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from "mqtt";
import type { AgentStatus, MqttLinkStatus } from "../protocol/agent-status.ts";
import { Backoff } from "../agent/backoff.ts";
import type { MqttConfig } from "../config/schema.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { raceTimeout, systemClock, TIMED_OUT } from "../platform/clock.ts";
import { brokerConnectOptions, redactBrokerUrl } from "../protocol/broker-url.ts";
import type { DeviceState } from "./device-state.ts";
import {
  encodeMessage,
  summarizeStatus,
  type EventMessage,
  type ReplyMessage,
  type StatusMessage,
} from "../protocol/messages.ts";
import type { Outbox } from "./outbox.ts";
import { deviceTopics, type DeviceTopics } from "../protocol/topics.ts";

const MAX_BACKOFF_MS = 5 * 60_000;
/**
 * A connection the broker closes this soon after it was made counts as a
 * quick drop; `QUICK_DROPS` in a row get a warning (see `#run`).
 */
const QUICK_DROP_MS = 5_000;
const QUICK_DROPS = 3;
/** How long `stop` waits for the broker to take the stopped status. */
const STOP_TIMEOUT_MS = 3_000;

/** Where a command came from and where its replies go. */
export interface CommandMeta {
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
}

/** Options of {@linkcode DeviceLink}. */
export interface DeviceLinkOptions {
  readonly config: MqttConfig;
  readonly device: string;
  readonly agentVersion: string;
  readonly status: () => AgentStatus;
  readonly disk?: () => { free: number; total: number } | undefined;
  readonly state: DeviceState;
  readonly outbox: Outbox;
  readonly onCommand: (payload: Buffer, meta: CommandMeta) => void;
  readonly log: Logger;
  readonly random?: () => number;
}

/** See the module documentation. */
export class DeviceLink {
  readonly topics: DeviceTopics;
  readonly #o: DeviceLinkOptions;
  readonly #abort = new AbortController();
  #client: MqttClient | undefined;
  #session = 0;
  #eventSeq = 0;
  /** Final replies waiting for a connection ({@linkcode DeviceLink.replyWhenConnected}). */
  readonly #pendingReplies: ReplyMessage[] = [];
  #flushingReplies = false;
  #draining = false;
  #loop: Promise<void> | undefined;
  /** Connections made so far (for tests and the log). */
  connections = 0;

  constructor(options: DeviceLinkOptions) {
    this.#o = options;
    this.topics = deviceTopics(options.config.topicRoot, options.device);
  }

  /** The link's state for the status object and metrics. */
  linkStatus(): MqttLinkStatus {
    return {
      connected: this.connected,
      session: this.#session,
      connections: this.connections,
      outboxEvents: this.#o.outbox.count(),
    };
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#client?.connected === true;
  }

  /** Starts connecting in the background (and reconnecting, until `stop`). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Queues an event in the outbox (durable) and sends it when connected. */
  async event(event: string, data: Record<string, unknown>): Promise<void> {
    const msg: EventMessage = {
      v: 1,
      type: "event",
      device: this.#o.device,
      id: `${Date.now()}-${this.#eventSeq++}`,
      ts: Date.now(),
      event,
      data,
    };
    await this.#o.outbox.add(msg);
    void this.#drain();
  }

  /**
   * Publishes a reply (QoS 1) to `meta.responseTopic` when it lies under
   * this device's `res/` topics, else to `res/<command id>`. Dropped when
   * offline: a repeated command gets its recorded outcome again.
   */
  async reply(reply: ReplyMessage, meta: CommandMeta): Promise<void> {
    const client = this.#client;
    if (!client?.connected) return;
    const topic = meta.responseTopic?.startsWith(this.topics.resPrefix)
      ? meta.responseTopic
      : `${this.topics.resPrefix}${reply.id}`;
    const opts: IClientPublishOptions = { qos: 1 };
    if (this.#o.config.protocolVersion === 5 && meta.correlationData)
      opts.properties = { correlationData: meta.correlationData };
    await client.publishAsync(topic, encodeMessage(reply), opts).catch((err: unknown) => {
      this.#o.log.warn("cannot publish command reply", { id: reply.id, err: errorMessage(err) });
    });
  }

  /**
   * Publishes a final reply on `res/<command id>` now, or once connected
   * (a command a crash interrupted, answered at the next start). Kept in
   * memory until sent: a repeated command gets its recorded outcome anyway.
   */
  replyWhenConnected(reply: ReplyMessage): void {
    this.#pendingReplies.push(reply);
    const client = this.#client;
    if (client?.connected) void this.#flushReplies();
  }

  async #flushReplies(): Promise<void> {
    if (this.#flushingReplies) return;
    this.#flushingReplies = true;
    try {
      // One at a time, each removed once published: a connection lost meanwhile keeps the rest for the next.
      while (this.#pendingReplies.length > 0 && this.#client?.connected) {
        await this.reply(this.#pendingReplies[0]!, {});
        this.#pendingReplies.shift();
      }
    } finally {
      this.#flushingReplies = false;
    }
  }

  /** Republishes the retained status now (after a change worth showing). */
  publishStatus(): void {
    const client = this.#client;
    if (client?.connected) void this.#publishStatus(client);
  }

  /**
   * Publishes a retained "stopped" status and disconnects, within
   * `STOP_TIMEOUT_MS`: a broker that stops answering, or a connection
   * taken over by another client with the same ID (a cloned device), must
   * not hold the agent's exit. Past it the connection is dropped; the
   * broker then publishes the Will.
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    const client = this.#client;
    if (client?.connected) {
      const offline: StatusMessage = { ...this.#offline("stopped"), ts: Date.now() };
      const goodbye = (async () => {
        await client
          .publishAsync(this.topics.status, encodeMessage(offline), { qos: 1, retain: true })
          .catch(() => undefined);
        await client.endAsync().catch(() => undefined);
      })();
      if ((await raceTimeout(goodbye, STOP_TIMEOUT_MS)) === TIMED_OUT) {
        this.#o.log.warn("mqtt: the stopped status was not acknowledged in time; disconnecting", {
          timeout: `${STOP_TIMEOUT_MS}ms`,
        });
        client.end(true);
      }
    } else {
      client?.end(true);
    }
    await this.#loop;
  }

  async #run(): Promise<void> {
    const backoff = new Backoff({
      baseMs: 1000,
      maxMs: MAX_BACKOFF_MS,
      ...(this.#o.random ? { random: this.#o.random } : {}),
    });
    const signal = this.#abort.signal;
    let quickDrops = 0;
    while (!signal.aborted) {
      this.#session = await this.#o.state.nextSession();
      // Options, not the URL string: MQTT.js would parse that with the deprecated url.parse() (DEP0169).
      const client = mqtt.connect({ ...brokerConnectOptions(this.#o.config.url), ...this.#clientOptions() });
      this.#client = client;
      const error = await connected(client, signal);
      if (error !== undefined) {
        client.end(true);
        if (signal.aborted) return;
        const wait = backoff.fail();
        this.#o.log.warn("cannot connect to the MQTT broker; retrying", {
          url: redactBrokerUrl(this.#o.config.url),
          err: error,
          backoff: `${wait}ms`,
        });
        await systemClock.sleep(wait, signal);
        continue;
      }
      this.connections++;
      const failures = backoff.succeed();
      this.#o.log.info("mqtt connected", {
        session: this.#session,
        ...(failures > 0 ? { previousFailures: failures } : {}),
      });
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      const connectedAt = performance.now();
      client.on("message", (topic, payload, packet) => {
        if (topic !== this.topics.cmd) return;
        const props = packet.properties;
        this.#o.onCommand(payload, {
          ...(props?.responseTopic ? { responseTopic: props.responseTopic } : {}),
          ...(props?.correlationData ? { correlationData: props.correlationData } : {}),
        });
      });
      const timer = setInterval(() => {
        void this.#publishStatus(client);
        void this.#publishTelemetry(client);
      }, this.#o.config.statusInterval);
      try {
        await client.subscribeAsync(this.topics.cmd, { qos: 1 });
        await this.#publishStatus(client);
        void this.#publishTelemetry(client);
        void this.#drain();
        void this.#flushReplies();
      } catch (err) {
        this.#o.log.warn("mqtt session setup failed", { err: errorMessage(err) });
        client.end(true);
      }
      await Promise.race([closed, abortPromise(signal)]);
      clearInterval(timer);
      if (signal.aborted) return;
      client.end(true);
      quickDrops = performance.now() - connectedAt < QUICK_DROP_MS ? quickDrops + 1 : 0;
      if (quickDrops === QUICK_DROPS) {
        // Brokers close the older of two connections with one client ID
        // (MQTT 3.1.1 says nothing, MQTT 5 may); two clones then take turns.
        this.#o.log.warn(
          `mqtt: the broker closed the connection right after it was made ${QUICK_DROPS} times in a row: another client may use the same client ID, such as a cloned device with the same device.id (docs/OPERATIONS.md, "Cloning images"), or the broker refuses this client`,
          { clientId: this.#o.config.clientId },
        );
      }
      const wait = backoff.fail();
      this.#o.log.warn("mqtt connection lost; reconnecting", { backoff: `${wait}ms` });
      await systemClock.sleep(wait, signal);
    }
  }

  #clientOptions(): IClientOptions {
    const c = this.#o.config;
    const will = { ...this.#offline("lost"), ts: Date.now() };
    const opts: IClientOptions = {
      clientId: c.clientId,
      protocolVersion: c.protocolVersion,
      keepalive: Math.max(1, Math.round(c.keepalive / 1000)),
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      clean: true,
      // mqtt-packet's default fills a cache of 65,536 two-byte Buffers on the
      // first write (a few MiB of heap for the life of the process) to save an
      // allocation per packet; a device sends a few packets a minute (issue #13).
      writeCache: false,
      will: {
        topic: this.topics.status,
        payload: encodeMessage(will),
        qos: 1,
        retain: true,
        ...(c.protocolVersion === 5 ? { properties: { willDelayInterval: Math.round(c.willDelay / 1000) } } : {}),
      },
    };
    // The Will Delay only holds while the session outlives the connection.
    if (c.protocolVersion === 5) opts.properties = { sessionExpiryInterval: Math.round(c.willDelay / 1000) };
    if (c.username !== undefined) opts.username = c.username;
    if (c.password !== undefined) opts.password = c.password;
    if (c.ca !== undefined) opts.ca = readFileSync(c.ca);
    if (c.cert !== undefined) opts.cert = readFileSync(c.cert);
    if (c.key !== undefined) opts.key = readFileSync(c.key);
    return opts;
  }

  #offline(reason: "lost" | "stopped"): Omit<StatusMessage, "ts"> {
    return {
      v: 1,
      type: "status",
      device: this.#o.device,
      online: false,
      session: this.#session,
      reason,
      agent: this.#o.agentVersion,
    };
  }

  async #publishStatus(client: MqttClient): Promise<void> {
    const status = this.#o.status();
    const disk = this.#o.disk?.();
    const msg: StatusMessage = {
      v: 1,
      type: "status",
      device: this.#o.device,
      online: true,
      session: this.#session,
      ts: Date.now(),
      agent: this.#o.agentVersion,
      startedAt: status.startedAt,
      dbs: summarizeStatus(status),
      ...(disk ? { disk } : {}),
      intervalMs: this.#o.config.statusInterval,
    };
    await client
      .publishAsync(this.topics.status, encodeMessage(msg), { qos: 1, retain: true })
      .catch((err: unknown) => {
        this.#o.log.warn("cannot publish status", { err: errorMessage(err) });
      });
  }

  async #publishTelemetry(client: MqttClient): Promise<void> {
    await client
      .publishAsync(this.topics.tele, Buffer.from(JSON.stringify({ v: 1, type: "tele", ...this.#o.status() })), {
        qos: 0,
        retain: true,
      })
      .catch(() => undefined);
  }

  /** Sends waiting events in order; stops at the first failure (retried on the next connection). */
  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        const client = this.#client;
        if (!client?.connected) return;
        const dropped = this.#o.outbox.takeDropped();
        if (dropped > 0) await this.event("outbox.dropped", { count: dropped });
        const batch = this.#o.outbox.pending();
        if (batch.length === 0) return;
        for (const entry of batch) {
          try {
            await client.publishAsync(this.topics.evt, encodeMessage(entry.message), { qos: 1 });
          } catch (err) {
            this.#o.log.warn("cannot publish event; keeping it in the outbox", { err: errorMessage(err) });
            return;
          }
          this.#o.outbox.remove(entry.name);
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}

/** Resolves undefined on CONNACK, or the error message on failure or abort. */
function connected(client: MqttClient, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (result: string | undefined) => {
      client.off("connect", onConnect);
      client.off("error", onError);
      client.off("close", onClose);
      signal.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const onConnect = () => done(undefined);
    const onError = (err: Error) => done(errorMessage(err));
    const onClose = () => done("connection closed");
    const onAbort = () => done("stopped");
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
    signal.addEventListener("abort", onAbort);
  });
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
