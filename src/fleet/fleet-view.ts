/**
 * The operator's live picture of the fleet, built from what devices publish:
 * the retained `status` of each device and its recent `evt` messages.
 *
 * Payloads come from the network, so nothing here throws on bad input: a
 * payload that does not parse, or names another device than its topic, is
 * counted as malformed and dropped. A late Last Will (an offline status of
 * an older session than the one already known) is counted as stale and
 * dropped too, so a device that reconnected is not shown offline. An empty
 * retained `status` (how MQTT clears a retained message) forgets the device.
 *
 * Each device gets a state (`device-health.ts`: starting, ok, degraded,
 * error, offline). A device first seen offline (its retained status is the
 * Will, which carries no databases) has its last data read from its
 * retained `tele` message: the view subscribes to that one topic until the
 * message arrives or the device is back online.
 *
 * @module
 */

import type { MqttClient } from "mqtt";
import {
  MessageError,
  parseEvent,
  parseStatus,
  parseTelemetry,
  type DbSummary,
  type EventMessage,
  type StatusMessage,
  type TelemetrySummary,
} from "../protocol/messages.ts";
import { DEFAULT_TOPIC_ROOT, checkTopicRoot, deviceOfTopic, deviceTopics, fleetFilters } from "../protocol/topics.ts";
import { DEFAULT_HEALTH_THRESHOLDS, deviceHealth, type DeviceHealth, type HealthThresholds } from "./device-health.ts";

/** Replication state of one database, as in {@linkcode DbSummary}. */
export type DbState = DbSummary["state"];

/** One device as the fleet sees it; plain JSON. */
export interface DeviceView {
  readonly device: string;
  /** The device state (`device-health.ts`): starting, ok, degraded, error or offline. */
  readonly state: DeviceHealth;
  /** Why its data is not ok, worst first (for an offline device: what its last data said). */
  readonly problems: readonly string[];
  /** As of the last status accepted from the device. */
  readonly online: boolean;
  /** Why the device is offline ("lost": its Will; "stopped": a clean stop), or null. */
  readonly reason: "lost" | "stopped" | null;
  readonly session: number;
  /** Latest time the device was heard from: the `ts` of its statuses, the `now` of its telemetry (ms). */
  readonly lastSeen: number;
  /** When the device sent the data in `dbs` (ms), or null when none is known. */
  readonly dataAt: number | null;
  /** Agent version, from the last status that carried one. */
  readonly agent: string | null;
  /** Databases from the last status (or, for a device first seen offline, telemetry) that listed them. */
  readonly dbs: readonly DbSummary[];
  /** The worst state across `dbs` (error > pending > starting > ok), or null with no databases. */
  readonly dbState: DbState | null;
  /** The largest `lagMs` across `dbs` (0 with none). */
  readonly maxLagMs: number;
  /** Sums across `dbs`. */
  readonly pendingFiles: number;
  readonly pendingBytes: number;
  /** The most recent `lastUploadAt` across `dbs`, or null before any upload. */
  readonly lastUploadAt: number | null;
  /** The first `lastError` across `dbs`, or null. */
  readonly lastError: string | null;
}

/** What changed, passed to {@linkcode FleetView.onChange} listeners. */
export interface FleetChange {
  /** "status": a status was accepted; "event": an event was added; "removed": the retained status was cleared. */
  readonly kind: "status" | "event" | "removed";
  readonly device: string;
}

/** Payloads dropped so far. */
export interface FleetViewStats {
  /** Payloads that did not parse, or whose device differs from their topic's. */
  readonly malformed: number;
  /** Offline statuses of an older session than the known one (late Wills). */
  readonly stale: number;
}

/** Options for {@linkcode FleetView.open}. */
export interface FleetViewOptions {
  /**
   * Topic root the devices publish under.
   *
   * @default {"litefleet/v1"}
   */
  readonly root?: string;
  /**
   * Events kept per device (the newest).
   *
   * @default {20}
   */
  readonly maxEvents?: number;
  /** When a device counts as degraded (see `device-health.ts`). */
  readonly thresholds?: HealthThresholds;
}

/** What is kept per device between statuses. */
interface DeviceRecord {
  readonly status: StatusMessage;
  readonly lastSeen: number;
  readonly dataAt: number | null;
  readonly agent: string | null;
  readonly dbs: readonly DbSummary[];
  readonly disk: StatusMessage["disk"];
}

const SEVERITY: Readonly<Record<DbState, number>> = { ok: 0, starting: 1, pending: 2, error: 3 };

/**
 * Watches every device under a topic root on an MQTT client it does not own.
 *
 * @example
 * ```ts
 * const client = await mqtt.connectAsync("mqtt://127.0.0.1:1883");
 * const view = await FleetView.open(client, { root: "litefleet/v1" });
 * const stop = view.onChange(() => console.log(view.devices()));
 * ```
 */
export class FleetView {
  readonly #client: MqttClient;
  readonly #root: string;
  readonly #maxEvents: number;
  readonly #filters: readonly string[];
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #events = new Map<string, EventMessage[]>();
  readonly #listeners = new Set<(change: FleetChange) => void>();
  readonly #thresholds: HealthThresholds;
  /** Devices whose retained telemetry is subscribed to (first seen offline, no data yet), by topic. */
  readonly #teleWanted = new Map<string, string>();
  #malformed = 0;
  #stale = 0;
  #closed = false;

  private constructor(client: MqttClient, root: string, maxEvents: number, thresholds: HealthThresholds) {
    this.#client = client;
    this.#root = root;
    this.#maxEvents = maxEvents;
    this.#thresholds = thresholds;
    const filters = fleetFilters(root);
    this.#filters = [filters.status, filters.evt];
  }

  /**
   * Subscribes `client` (already connected) to the status and event topics
   * of every device under the root. Retained statuses then arrive as
   * changes; `open` does not wait for them.
   *
   * @throws {RangeError} when the root is not a valid topic root or `maxEvents` is not a positive integer
   * @throws {Error} when the broker refuses a subscription
   */
  static async open(client: MqttClient, options: FleetViewOptions = {}): Promise<FleetView> {
    const root = options.root ?? DEFAULT_TOPIC_ROOT;
    const maxEvents = options.maxEvents ?? 20;
    checkTopicRoot(root);
    if (!Number.isInteger(maxEvents) || maxEvents < 1) {
      throw new RangeError(
        `Cannot open fleet view: 'maxEvents' must be a positive integer: current value is ${maxEvents}`,
      );
    }
    const view = new FleetView(client, root, maxEvents, options.thresholds ?? DEFAULT_HEALTH_THRESHOLDS);
    // The listener goes first so that no retained message is missed.
    client.on("message", view.#onMessage);
    try {
      const grants = await client.subscribeAsync([...view.#filters], { qos: 1 });
      const refused = grants.find((g) => g.qos > 2);
      if (refused !== undefined)
        throw new Error(`Cannot open fleet view: the broker refused subscription '${refused.topic}'`);
    } catch (err) {
      client.removeListener("message", view.#onMessage);
      throw err;
    }
    return view;
  }

  /** Every device with a status, sorted by device id. */
  devices(): DeviceView[] {
    return [...this.#devices]
      .sort(([a], [b]) => compareIds(a, b))
      .map(([id, record]) => toView(id, record, this.#thresholds));
  }

  /** The newest events of `device`, oldest first (at most `maxEvents`). */
  events(device: string): readonly EventMessage[] {
    return [...(this.#events.get(device) ?? [])];
  }

  /** Counts of dropped payloads. */
  stats(): FleetViewStats {
    return { malformed: this.#malformed, stale: this.#stale };
  }

  /**
   * Calls `listener` after every change, synchronously from the MQTT client's
   * message handler (a listener must not throw).
   *
   * @returns a function that removes the listener
   */
  onChange(listener: (change: FleetChange) => void): () => void {
    const own = (change: FleetChange) => listener(change);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /**
   * Stops watching: no more changes are applied or reported, and the
   * subscriptions are removed when the client is connected. The client stays
   * open. Calling it twice does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.removeListener("message", this.#onMessage);
    this.#listeners.clear();
    const teles = [...this.#teleWanted.keys()];
    this.#teleWanted.clear();
    if (this.#client.connected) await this.#client.unsubscribeAsync([...this.#filters, ...teles]);
  }

  readonly #onMessage = (topic: string, payload: Buffer): void => {
    const teleOf = this.#teleWanted.get(topic);
    if (teleOf !== undefined) {
      this.#onTelemetry(teleOf, payload);
      return;
    }
    const target = this.#classify(topic);
    if (target === undefined) return;
    if (target.device === undefined) {
      this.#malformed++;
    } else if (target.kind === "status") {
      this.#onStatus(target.device, payload);
    } else {
      this.#onEvent(target.device, payload);
    }
  };

  /**
   * Which of our subscriptions `topic` belongs to: undefined when none (the
   * client may carry other subscriptions), `device` undefined when the
   * device level is not a valid id.
   */
  #classify(topic: string): { kind: "status" | "evt"; device: string | undefined } | undefined {
    if (!topic.startsWith(`${this.#root}/`)) return undefined;
    const levels = topic.slice(this.#root.length + 1).split("/");
    const kind = levels[1];
    if (levels.length !== 2 || (kind !== "status" && kind !== "evt")) return undefined;
    return { kind, device: deviceOfTopic(this.#root, topic) };
  }

  #onStatus(device: string, payload: Buffer): void {
    if (payload.length === 0) {
      if (!this.#devices.delete(device)) return;
      this.#events.delete(device);
      this.#emit({ kind: "removed", device });
      return;
    }
    const msg = parseOrUndefined(parseStatus, payload);
    if (msg === undefined || msg.device !== device) {
      this.#malformed++;
      return;
    }
    const previous = this.#devices.get(device);
    if (previous !== undefined && !msg.online && msg.session < previous.status.session) {
      this.#stale++;
      return;
    }
    const record: DeviceRecord = {
      status: msg,
      lastSeen: previous === undefined ? msg.ts : Math.max(previous.lastSeen, msg.ts),
      dataAt: msg.dbs !== undefined ? msg.ts : (previous?.dataAt ?? null),
      agent: msg.agent ?? previous?.agent ?? null,
      dbs: msg.dbs ?? previous?.dbs ?? [],
      disk: msg.disk ?? previous?.disk,
    };
    this.#devices.set(device, record);
    if (!msg.online && record.dataAt === null) this.#wantTelemetry(device);
    else if (msg.online) this.#dropTelemetry(device);
    this.#emit({ kind: "status", device });
  }

  /** Subscribes to the retained telemetry of `device` (offline, no data known). */
  #wantTelemetry(device: string): void {
    const topic = deviceTopics(this.#root, device).tele;
    if (this.#teleWanted.has(topic)) return;
    this.#teleWanted.set(topic, device);
    this.#client.subscribeAsync(topic, { qos: 0 }).catch(() => this.#teleWanted.delete(topic));
  }

  #dropTelemetry(device: string): void {
    const topic = deviceTopics(this.#root, device).tele;
    if (!this.#teleWanted.delete(topic)) return;
    if (this.#client.connected) this.#client.unsubscribeAsync(topic).catch(() => undefined);
  }

  /** The last telemetry of an offline device: its data, as of when it was sent. */
  #onTelemetry(device: string, payload: Buffer): void {
    const tele: TelemetrySummary | undefined =
      payload.length === 0 ? undefined : parseOrUndefined(parseTelemetry, payload);
    this.#dropTelemetry(device);
    const record = this.#devices.get(device);
    if (tele === undefined || tele.device !== device) {
      if (payload.length > 0) this.#malformed++;
      return;
    }
    // Only while the device is still offline with nothing better known.
    if (record === undefined || record.status.online || record.dataAt !== null) return;
    this.#devices.set(device, {
      ...record,
      lastSeen: Math.max(record.lastSeen, tele.ts),
      dataAt: tele.ts,
      dbs: tele.dbs,
      agent: record.agent ?? tele.agent,
    });
    this.#emit({ kind: "status", device });
  }

  #onEvent(device: string, payload: Buffer): void {
    const msg = parseOrUndefined(parseEvent, payload);
    if (msg === undefined || msg.device !== device) {
      this.#malformed++;
      return;
    }
    const list = this.#events.get(device) ?? [];
    // QoS 1 may deliver an event twice.
    if (list.some((e) => e.id === msg.id)) return;
    list.push(msg);
    if (list.length > this.#maxEvents) list.splice(0, list.length - this.#maxEvents);
    this.#events.set(device, list);
    this.#emit({ kind: "event", device });
  }

  #emit(change: FleetChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** Parses with `parse`, or returns undefined when the payload is not a valid message. */
function parseOrUndefined<T>(parse: (payload: Uint8Array) => T, payload: Uint8Array): T | undefined {
  try {
    return parse(payload);
  } catch (err) {
    if (err instanceof MessageError) return undefined;
    throw err;
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toView(device: string, record: DeviceRecord, thresholds: HealthThresholds): DeviceView {
  const { status, dbs } = record;
  let dbState: DbState | null = null;
  for (const db of dbs) if (dbState === null || SEVERITY[db.state] > SEVERITY[dbState]) dbState = db.state;
  const uploads = dbs.map((db) => db.lastUploadAt).filter((t): t is number => t !== null);
  const health = deviceHealth({ online: status.online, dbs, disk: record.disk }, thresholds);
  return {
    device,
    state: health.state,
    problems: health.problems,
    online: status.online,
    reason: status.online ? null : (status.reason ?? null),
    session: status.session,
    lastSeen: record.lastSeen,
    dataAt: record.dataAt,
    agent: record.agent,
    dbs,
    dbState,
    maxLagMs: dbs.reduce((n, db) => Math.max(n, db.lagMs), 0),
    pendingFiles: dbs.reduce((n, db) => n + db.pendingFiles, 0),
    pendingBytes: dbs.reduce((n, db) => n + db.pendingBytes, 0),
    lastUploadAt: uploads.length === 0 ? null : Math.max(...uploads),
    lastError: dbs.find((db) => db.lastError !== null)?.lastError ?? null,
  };
}
