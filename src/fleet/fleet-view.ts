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
 * Each database of a device gets a row and a state (`device-health.ts`:
 * error, conflict, offline, stale, lagging, degraded, starting, pending,
 * ok), the device the worst of them; `devices()` lists problems first
 * (`fleet-query.ts`). A device first seen offline (its retained status is
 * the Will, which carries no databases) has its last data read from its
 * retained `tele` message: the view subscribes to that one topic until the
 * message arrives or the device is back online.
 *
 * **Stale**: a device whose retained status says online but from which
 * nothing was heard for 3 status intervals (its `intervalMs`, else 60 s)
 * is `stale`. "Heard" is measured on the operator's clock (`now`): the
 * arrival of a live status; for a retained status (delivered at
 * subscription, possibly long after it was sent) its own `ts`, at most
 * `now`. The view re-checks every `staleCheckMs` and reports a device that
 * turned stale (or back) as a change of kind "stale".
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
import {
  DEFAULT_HEALTH_THRESHOLDS,
  DEFAULT_STATUS_INTERVAL_MS,
  STALE_INTERVALS,
  deviceHealth,
  type DeviceHealth,
  type HealthThresholds,
} from "./device-health.ts";
import { compareDevices, compareRows, fleetSummary, type FleetSummary } from "./fleet-query.ts";

/** Replication state of one database, as in {@linkcode DbSummary}. */
export type DbState = DbSummary["state"];

/** A monthly projection: S3 requests and bytes uploaded per 30 days. */
export interface MonthlyProjection {
  readonly requests: number;
  readonly bytes: number;
}

/** One row of the fleet views: one database of a device (or the device alone, when it lists none); plain JSON. */
export interface DbRow {
  /** The database path, or null for the one row of a device that lists no database. */
  readonly db: string | null;
  /** Its state (`device-health.ts`). */
  readonly state: DeviceHealth;
  /** Why, worst first, one sentence each (device-wide problems included). */
  readonly problems: readonly string[];
  /** Last captured TXID, or null before the first sync (and without a database). */
  readonly txid: string | null;
  /** Age of its oldest change not yet in every replica (ms; 0 = caught up), or null without a database. */
  readonly lagMs: number | null;
  readonly pendingFiles: number;
  readonly pendingBytes: number;
  /** Its replicas' oldest `lastUploadAt`, or null before any upload. */
  readonly lastUploadAt: number | null;
  /** Database size in bytes, or null when unknown. */
  readonly size: number | null;
  /** The sum over its replicas, or null when none reports one. */
  readonly projectedPerMonth: MonthlyProjection | null;
}

/** One device as the fleet sees it; plain JSON. */
export interface DeviceView {
  readonly device: string;
  /** The device state (`device-health.ts`): the worst state of its rows. */
  readonly state: DeviceHealth;
  /** Why its data is not ok, worst first (for an offline device: what its last data said). */
  readonly problems: readonly string[];
  /** As of the last status accepted from the device. */
  readonly online: boolean;
  /** Why the device is offline ("lost": its Will; "stopped": a clean stop), or null. */
  readonly reason: "lost" | "stopped" | null;
  readonly session: number;
  /** Latest time the device was heard from, by its own clock: the `ts` of its statuses, the `now` of its telemetry (ms). */
  readonly lastSeen: number;
  /**
   * Latest time the device was heard from, by the operator's clock (ms): the
   * arrival of its last live online status; for a retained one, its `ts` (at
   * most the arrival). `LAST SEEN` and staleness use it.
   */
  readonly heardAt: number;
  /** Online by its retained status, but nothing heard for 3 × `intervalMs`. */
  readonly stale: boolean;
  /** Its status interval (ms): as reported (`intervalMs`), else 60 000. */
  readonly intervalMs: number;
  /** Free and total bytes of the file system of its first database, from the last status that had them, or null. */
  readonly disk: { readonly free: number; readonly total: number } | null;
  /** The sum of its rows' projections, or null when none reports one. */
  readonly projectedPerMonth: MonthlyProjection | null;
  /** One per database, problems first (`fleet-query.ts`); one with `db: null` when it lists none. */
  readonly rows: readonly DbRow[];
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
  /**
   * "status": a status (or an offline device's telemetry) was accepted;
   * "event": an event was added; "removed": the retained status was cleared;
   * "stale": the device turned stale, or back (no message: time passed).
   */
  readonly kind: "status" | "event" | "removed" | "stale";
  readonly device: string;
  /** The message was a retained one (delivered at subscription), not live. */
  readonly retained?: boolean;
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
  /** The RPO and the low-disk fraction (see `device-health.ts`). */
  readonly thresholds?: HealthThresholds;
  /**
   * The operator's clock (Unix ms), for staleness.
   *
   * @default {Date.now}
   */
  readonly now?: () => number;
  /**
   * How often (ms) the view re-checks which devices are stale; 0: only when
   * asked ({@linkcode FleetView.checkStale}).
   *
   * @default {1000}
   */
  readonly staleCheckMs?: number;
}

/** What is kept per device between statuses. */
interface DeviceRecord {
  readonly status: StatusMessage;
  readonly lastSeen: number;
  readonly heardAt: number;
  readonly dataAt: number | null;
  readonly agent: string | null;
  readonly dbs: readonly DbSummary[];
  readonly disk: StatusMessage["disk"];
  readonly intervalMs: number | undefined;
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
  readonly #now: () => number;
  /** Devices whose retained telemetry is subscribed to (first seen offline, no data yet), by topic. */
  readonly #teleWanted = new Map<string, string>();
  /** The last view built of each device, and the staleness it was built with. */
  readonly #views = new Map<string, { readonly stale: boolean; readonly view: DeviceView }>();
  /** Devices found stale by the last {@linkcode FleetView.checkStale}. */
  readonly #staleDevices = new Set<string>();
  #staleTimer: ReturnType<typeof setInterval> | undefined;
  #malformed = 0;
  #stale = 0;
  #closed = false;

  private constructor(
    client: MqttClient,
    root: string,
    maxEvents: number,
    thresholds: HealthThresholds,
    now: () => number,
  ) {
    this.#client = client;
    this.#root = root;
    this.#maxEvents = maxEvents;
    this.#thresholds = thresholds;
    this.#now = now;
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
    const staleCheckMs = options.staleCheckMs ?? 1000;
    if (!Number.isFinite(staleCheckMs) || staleCheckMs < 0) {
      throw new RangeError(
        `Cannot open fleet view: 'staleCheckMs' must be 0 or more: current value is ${staleCheckMs}`,
      );
    }
    const view = new FleetView(
      client,
      root,
      maxEvents,
      options.thresholds ?? DEFAULT_HEALTH_THRESHOLDS,
      options.now ?? Date.now,
    );
    // The listener goes first so that no retained message is missed.
    client.on("message", view.#onMessage);
    try {
      // Statuses at QoS 0: a broker holds back QoS 1 messages beyond a small window per
      // client (mosquitto: 20 in flight, 1,000 queued by default) and drops the rest, so a
      // QoS 1 subscription to 10,000 retained statuses sees about 1,020 of them. A status is
      // retained state: a reconnect gets it again. Events stay QoS 1.
      const grants = await client.subscribeAsync({
        [view.#filters[0]!]: { qos: 0 },
        [view.#filters[1]!]: { qos: 1 },
      });
      const refused = grants.find((g) => g.qos > 2);
      if (refused !== undefined)
        throw new Error(`Cannot open fleet view: the broker refused subscription '${refused.topic}'`);
    } catch (err) {
      client.removeListener("message", view.#onMessage);
      throw err;
    }
    if (staleCheckMs > 0) {
      view.#staleTimer = setInterval(() => view.checkStale(), staleCheckMs);
      view.#staleTimer.unref?.();
    }
    return view;
  }

  /** Every device with a status, problems first (`fleet-query.ts`), as of now. */
  devices(): DeviceView[] {
    return this.#allViews().sort(compareDevices);
  }

  /** One device as of now, or undefined when it has no status. */
  device(id: string): DeviceView | undefined {
    const record = this.#devices.get(id);
    return record === undefined ? undefined : this.#viewOf(id, record, this.#now());
  }

  /** The fleet summary (`fleet-query.ts`) as of now. */
  summary(): FleetSummary {
    const now = this.#now();
    return fleetSummary(this.#allViews(now), now);
  }

  /** How many devices have a status. */
  get size(): number {
    return this.#devices.size;
  }

  /**
   * Re-checks which online devices are stale (nothing heard for 3 status
   * intervals) and reports each that turned stale or back as a change of
   * kind "stale". The view calls it every `staleCheckMs`.
   */
  checkStale(): void {
    if (this.#closed) return;
    const now = this.#now();
    const flipped: string[] = [];
    for (const [id, record] of this.#devices) {
      const stale = this.#isStale(record, now);
      if (stale === this.#staleDevices.has(id)) continue;
      if (stale) this.#staleDevices.add(id);
      else this.#staleDevices.delete(id);
      flipped.push(id);
    }
    for (const device of flipped) this.#emit({ kind: "stale", device });
  }

  #allViews(now = this.#now()): DeviceView[] {
    const out: DeviceView[] = [];
    for (const [id, record] of this.#devices) out.push(this.#viewOf(id, record, now));
    return out;
  }

  #isStale(record: DeviceRecord, now: number): boolean {
    const interval = record.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    return record.status.online && now - record.heardAt > STALE_INTERVALS * interval;
  }

  /** The view of `id`, from the cache while its record and staleness are unchanged. */
  #viewOf(id: string, record: DeviceRecord, now: number): DeviceView {
    const stale = this.#isStale(record, now);
    const cached = this.#views.get(id);
    if (cached !== undefined && cached.stale === stale) return cached.view;
    const view = toView(id, record, stale, this.#thresholds);
    this.#views.set(id, { stale, view });
    return view;
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
    clearInterval(this.#staleTimer);
    this.#client.removeListener("message", this.#onMessage);
    this.#listeners.clear();
    const teles = [...this.#teleWanted.keys()];
    this.#teleWanted.clear();
    if (this.#client.connected) await this.#client.unsubscribeAsync([...this.#filters, ...teles]);
  }

  readonly #onMessage = (topic: string, payload: Buffer, packet?: { retain?: boolean }): void => {
    const retained = packet?.retain === true;
    const teleOf = this.#teleWanted.get(topic);
    if (teleOf !== undefined) {
      this.#onTelemetry(teleOf, payload, retained);
      return;
    }
    const target = this.#classify(topic);
    if (target === undefined) return;
    if (target.device === undefined) {
      this.#malformed++;
    } else if (target.kind === "status") {
      this.#onStatus(target.device, payload, retained);
    } else {
      this.#onEvent(target.device, payload);
    }
  };

  /** When a message sent at `ts` (device clock) was heard, on the operator's clock (see the module documentation). */
  #heard(ts: number, retained: boolean): number {
    const now = this.#now();
    return retained ? Math.min(ts, now) : now;
  }

  #set(device: string, record: DeviceRecord): void {
    this.#devices.set(device, record);
    this.#views.delete(device);
    // A fresh message ends staleness without waiting for the next check.
    if (this.#staleDevices.has(device) && !this.#isStale(record, this.#now())) this.#staleDevices.delete(device);
  }

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

  #onStatus(device: string, payload: Buffer, retained: boolean): void {
    if (payload.length === 0) {
      if (!this.#devices.delete(device)) return;
      this.#events.delete(device);
      this.#views.delete(device);
      this.#staleDevices.delete(device);
      this.#emit({ kind: "removed", device, retained });
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
    // The Will's `ts` is when its session connected: it does not say the device was heard then.
    const heard = msg.online ? this.#heard(msg.ts, retained) : Math.min(msg.ts, this.#now());
    const record: DeviceRecord = {
      status: msg,
      lastSeen: previous === undefined ? msg.ts : Math.max(previous.lastSeen, msg.ts),
      heardAt: previous === undefined ? heard : msg.online ? heard : Math.max(previous.heardAt, heard),
      dataAt: msg.dbs !== undefined ? msg.ts : (previous?.dataAt ?? null),
      agent: msg.agent ?? previous?.agent ?? null,
      dbs: msg.dbs ?? previous?.dbs ?? [],
      disk: msg.disk ?? previous?.disk,
      intervalMs: msg.intervalMs ?? previous?.intervalMs,
    };
    this.#set(device, record);
    if (!msg.online && record.dataAt === null) this.#wantTelemetry(device);
    else if (msg.online) this.#dropTelemetry(device);
    this.#emit({ kind: "status", device, retained });
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
  #onTelemetry(device: string, payload: Buffer, retained: boolean): void {
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
    this.#set(device, {
      ...record,
      lastSeen: Math.max(record.lastSeen, tele.ts),
      heardAt: Math.max(record.heardAt, this.#heard(tele.ts, retained)),
      dataAt: tele.ts,
      dbs: tele.dbs,
      agent: record.agent ?? tele.agent,
    });
    this.#emit({ kind: "status", device, retained });
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

function toView(device: string, record: DeviceRecord, stale: boolean, thresholds: HealthThresholds): DeviceView {
  const { status, dbs } = record;
  let dbState: DbState | null = null;
  for (const db of dbs) if (dbState === null || SEVERITY[db.state] > SEVERITY[dbState]) dbState = db.state;
  const uploads = dbs.map((db) => db.lastUploadAt).filter((t): t is number => t !== null);
  const intervalMs = record.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
  const health = deviceHealth({ online: status.online, stale, intervalMs, dbs, disk: record.disk }, thresholds);
  const rows: DbRow[] =
    dbs.length === 0
      ? [
          {
            db: null,
            state: health.state,
            problems: health.problems,
            txid: null,
            lagMs: null,
            pendingFiles: 0,
            pendingBytes: 0,
            lastUploadAt: null,
            size: null,
            projectedPerMonth: null,
          },
        ]
      : dbs.map((db, i) => ({
          db: db.path,
          state: health.dbs[i]?.state ?? health.state,
          problems: health.dbs[i]?.problems ?? [],
          txid: db.txid,
          lagMs: db.lagMs,
          pendingFiles: db.pendingFiles,
          pendingBytes: db.pendingBytes,
          lastUploadAt: db.lastUploadAt,
          size: db.size,
          projectedPerMonth: sumProjections(db.replicas.map((r) => r.projectedPerMonth)),
        }));
  rows.sort(compareRows);
  return {
    device,
    state: health.state,
    problems: health.problems,
    online: status.online,
    reason: status.online ? null : (status.reason ?? null),
    session: status.session,
    lastSeen: record.lastSeen,
    heardAt: record.heardAt,
    stale,
    intervalMs,
    disk: record.disk ?? null,
    projectedPerMonth: sumProjections(rows.map((r) => r.projectedPerMonth)),
    rows,
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

/** The sum of the known projections, or null when none is known. */
function sumProjections(list: readonly (MonthlyProjection | null)[]): MonthlyProjection | null {
  let sum: { requests: number; bytes: number } | null = null;
  for (const p of list) {
    if (p === null) continue;
    sum ??= { requests: 0, bytes: 0 };
    sum.requests += p.requests;
    sum.bytes += p.bytes;
  }
  return sum;
}
