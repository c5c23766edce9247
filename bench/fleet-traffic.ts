/**
 * Live traffic for `bun run bench fleet`: the status updates a large fleet
 * sends once its retained statuses are on the broker, generated from the
 * fleet of `test/harness/fleet-statuses.ts` with a seeded PRNG (the same
 * seed gives the same updates).
 *
 * Each update is one device's next retained status, as its agent would
 * publish it, with a TXID that moves on (the device keeps writing). The
 * TXID doubles as the benchmark's marker: every update gets a new one,
 * unique across the fleet, which the dashboard shows in the row's TXID
 * column, so the page can tell when an update reached the screen. What
 * happens to a device depends on where it stands:
 *
 * - **watched** (the first screen's `error` devices, round-robin, a share
 *   of the updates): still failing, its pending files and lag growing; it
 *   stays where it is, so its updates must show on screen;
 * - **offline**: comes back (a birth status, the next session), caught up;
 * - **error / conflict / degraded**: half of the time recovers (caught up),
 *   else keeps failing the way it did;
 * - **starting / stale**: heard again, caught up;
 * - **ok / pending / lagging**: its lag grows (pending; past the RPO,
 *   lagging) or shrinks to zero (caught up); rarely, it loses its
 *   connection (its last telemetry, then its Will) or an upload fails.
 *
 * @module
 */

import type { GeneratedDevice } from "../test/harness/fleet-statuses.ts";
import { mulberry32 } from "../test/harness/prng.ts";
import type { DbSummary, StatusMessage } from "../src/protocol/messages.ts";

/** What the update does to the device, for the report's mix. */
export type UpdateKind =
  | "watched"
  | "heartbeat"
  | "lag-grows"
  | "caught-up"
  | "lagging"
  | "error"
  | "still-failing"
  | "recovered"
  | "offline"
  | "back-online";

/** One generated update: publish `status` (retained) and, when given, `tele` first (retained). */
export interface TrafficUpdate {
  readonly device: string;
  readonly kind: UpdateKind;
  /** The marker: this update's TXID (16 hex digits), unique; null for a Will, which has no databases. */
  readonly txid: string | null;
  readonly status: StatusMessage;
  /** The device's last telemetry, sent before its Will; else null. */
  readonly tele: Record<string, unknown> | null;
  /** Whether the device is one of the watched (first-screen) devices. */
  readonly watched: boolean;
}

/** Options for {@linkcode FleetTraffic}. */
export interface FleetTrafficOptions {
  /** Seed of the PRNG. */
  readonly seed: number;
  /** Ids of the devices on the first screen whose updates are measured. */
  readonly watched: readonly string[];
  /**
   * Share of the updates that go to watched devices (round-robin).
   *
   * @default {0.1}
   */
  readonly watchedShare?: number;
  /**
   * Lag past which a database is `lagging` (the dashboard's RPO), ms.
   *
   * @default {1800000} (30 min, the default `--rpo`)
   */
  readonly rpoMs?: number;
}

/** Where a device stands, as the generator tracks it. */
type Standing = "ok" | "pending" | "lagging" | "error" | "offline" | "quiet";

interface DeviceState {
  readonly id: string;
  readonly agent: string;
  standing: Standing;
  session: number;
  startedAt: number;
  dbs: DbSummary[];
  disk: { readonly free: number; readonly total: number };
}

const MIB = 1_048_576;
/** TXIDs of the traffic start here, above the generated fleet's (`4d2`). */
const FIRST_TXID = 0x10_0000;

/** Generates a fleet's live status updates; see the module documentation. */
export class FleetTraffic {
  #rand: () => number;
  #devices: DeviceState[];
  #byId = new Map<string, DeviceState>();
  #watched: readonly string[];
  #watchedShare: number;
  #rpoMs: number;
  #nextWatched = 0;
  #seq = 0;
  #owed = 0;

  /** @param fleet the generated fleet whose retained statuses are on the broker */
  constructor(fleet: readonly GeneratedDevice[], options: FleetTrafficOptions) {
    this.#rand = mulberry32(options.seed);
    this.#watched = options.watched;
    this.#watchedShare = options.watchedShare ?? 0.1;
    this.#rpoMs = options.rpoMs ?? 30 * 60_000;
    const template = fleet.find((d) => d.expected === "ok" && d.databases === 1)?.status.dbs?.[0];
    if (template === undefined) throw new RangeError("Cannot generate traffic: the fleet has no caught-up device");
    this.#devices = fleet.map((d) => {
      const s = d.status;
      const standing: Standing =
        d.expected === "offline"
          ? "offline"
          : d.expected === "ok"
            ? "ok"
            : d.expected === "pending"
              ? "pending"
              : d.expected === "lagging"
                ? "lagging"
                : d.expected === "stale" || d.expected === "starting"
                  ? "quiet"
                  : "error";
      return {
        id: d.id,
        agent: s.agent ?? "0.2.0",
        standing,
        session: s.session,
        startedAt: s.startedAt ?? s.ts,
        dbs: [...(s.dbs ?? [{ ...template, path: "/var/lib/app/app.db" }])],
        disk: s.disk ?? { free: 8 * 1024 * MIB, total: 32 * 1024 * MIB },
      };
    });
    for (const d of this.#devices) this.#byId.set(d.id, d);
    for (const id of this.#watched)
      if (!this.#byId.has(id)) throw new RangeError(`Cannot watch device '${id}': it is not in the fleet`);
  }

  /** How many updates were generated so far. */
  get count(): number {
    return this.#seq;
  }

  /** The next update, as of `now` (ms). */
  next(now: number): TrafficUpdate {
    this.#owed += this.#watchedShare;
    // The epsilon: ten times 0.1 is 0.9999999999999999.
    if (this.#watched.length > 0 && this.#owed >= 1 - 1e-9) {
      this.#owed -= 1;
      const id = this.#watched[this.#nextWatched++ % this.#watched.length]!;
      return this.#failing(this.#byId.get(id)!, now, "watched", true);
    }
    let d = this.#devices[Math.floor(this.#rand() * this.#devices.length)]!;
    // Watched devices get their updates in turn only, so each one's marker has time to show.
    while (this.#watched.includes(d.id)) d = this.#devices[Math.floor(this.#rand() * this.#devices.length)]!;
    return this.#step(d, now);
  }

  #step(d: DeviceState, now: number): TrafficUpdate {
    const r = this.#rand();
    switch (d.standing) {
      case "offline":
        d.session++;
        d.startedAt = now;
        return this.#caughtUp(d, now, "back-online");
      case "error":
        if (r < 0.5) return this.#caughtUp(d, now, "recovered");
        // A writer conflict or a full disk stays what it is while it lasts; only the TXID moves on.
        return this.#keepsFailing(d)
          ? this.#online(d, now, "still-failing", false)
          : this.#failing(d, now, "still-failing", false);
      case "quiet":
        return this.#caughtUp(d, now, "heartbeat");
      default:
        break;
    }
    if (r < 0.01) return this.#offline(d, now);
    if (r < 0.013) return this.#failing(d, now, "error", false);
    if (r < 0.02) return this.#lagging(d, now);
    if (r < 0.45) return this.#lagGrows(d, now);
    return this.#caughtUp(d, now, d.standing === "ok" ? "heartbeat" : "caught-up");
  }

  #txid(): string {
    return (FIRST_TXID + this.#seq).toString(16).padStart(16, "0");
  }

  #online(d: DeviceState, now: number, kind: UpdateKind, watched: boolean): TrafficUpdate {
    const txid = this.#txid();
    this.#seq++;
    d.dbs = d.dbs.map((db, i) => (i === 0 ? { ...db, txid } : db));
    const status: StatusMessage = {
      v: 1,
      type: "status",
      device: d.id,
      online: true,
      session: d.session,
      ts: now,
      agent: d.agent,
      startedAt: d.startedAt,
      dbs: d.dbs,
      disk: d.disk,
      intervalMs: 60_000,
    };
    return { device: d.id, kind, txid, status, tele: null, watched };
  }

  #caughtUp(d: DeviceState, now: number, kind: UpdateKind): TrafficUpdate {
    d.standing = "ok";
    d.dbs = d.dbs.map((db) => ({
      ...db,
      state: "ok",
      pendingFiles: 0,
      pendingBytes: 0,
      lagMs: 0,
      lastUploadAt: now,
      lastError: null,
      captureError: null,
      diskFull: false,
      replicas: db.replicas.map((rep) => ({ ...rep, lastError: null, conflict: null, lagMs: 0, lastUploadAt: now })),
    }));
    return this.#online(d, now, kind, false);
  }

  #lagGrows(d: DeviceState, now: number): TrafficUpdate {
    const first = d.dbs[0]!;
    const lagMs = first.lagMs + Math.round(5_000 + this.#rand() * 115_000);
    d.standing = lagMs > this.#rpoMs ? "lagging" : "pending";
    this.#pending(d, lagMs, 1 + Math.floor(this.#rand() * 3));
    return this.#online(d, now, "lag-grows", false);
  }

  #lagging(d: DeviceState, now: number): TrafficUpdate {
    d.standing = "lagging";
    this.#pending(d, this.#rpoMs + Math.round(60_000 + this.#rand() * 3_600_000), 20 + Math.floor(this.#rand() * 200));
    return this.#online(d, now, "lagging", false);
  }

  #pending(d: DeviceState, lagMs: number, moreFiles: number): void {
    const first = d.dbs[0]!;
    const pendingFiles = first.pendingFiles + moreFiles;
    d.dbs = [
      {
        ...first,
        state: "pending",
        pendingFiles,
        pendingBytes: first.pendingBytes + moreFiles * 4_096 * (1 + Math.floor(this.#rand() * 8)),
        lagMs,
        replicas: first.replicas.map((rep) => ({ ...rep, lagMs })),
      },
      ...d.dbs.slice(1),
    ];
  }

  #keepsFailing(d: DeviceState): boolean {
    const first = d.dbs[0]!;
    return first.diskFull || first.replicas.some((rep) => rep.conflict !== null);
  }

  #failing(d: DeviceState, now: number, kind: UpdateKind, watched: boolean): TrafficUpdate {
    d.standing = "error";
    const first = d.dbs[0]!;
    const error = "Cannot upload: HTTP 503";
    const lagMs = first.lagMs + 1_000;
    d.dbs = [
      {
        ...first,
        state: "error",
        pendingFiles: first.pendingFiles + 1,
        pendingBytes: first.pendingBytes + 4_096,
        lagMs,
        lastError: error,
        replicas: first.replicas.map((rep) => ({ ...rep, lastError: error, lagMs })),
      },
      ...d.dbs.slice(1),
    ];
    return this.#online(d, now, kind, watched);
  }

  /** The device's last telemetry, then its Will (connection lost), as the broker would publish it. */
  #offline(d: DeviceState, now: number): TrafficUpdate {
    d.standing = "offline";
    const tele = {
      v: 1,
      type: "tele",
      version: 1,
      agent: d.agent,
      device: d.id,
      startedAt: d.startedAt,
      now,
      mqtt: null,
      dbs: d.dbs.map((db) => ({
        path: db.path,
        txid: db.txid,
        pageSize: 4096,
        pages: Math.round((db.size ?? 8 * MIB) / 4096),
        captureError: db.captureError,
        diskFull: db.diskFull,
        replicas: db.replicas.map((rep) => ({
          name: rep.name,
          lastError: rep.lastError,
          conflict: rep.conflict,
          lagMs: rep.lagMs,
          lastUploadAt: rep.lastUploadAt,
          pending: { files: db.pendingFiles, bytes: db.pendingBytes, oldestAt: db.lagMs > 0 ? now - db.lagMs : null },
          projectedPerMonth: { puts: 21_600, ...(rep.projectedPerMonth ?? { requests: 43_200, bytes: 1_491 * MIB }) },
        })),
      })),
    };
    this.#seq++;
    const status: StatusMessage = {
      v: 1,
      type: "status",
      device: d.id,
      online: false,
      session: d.session,
      ts: d.startedAt,
      reason: "lost",
      agent: d.agent,
    };
    return { device: d.id, kind: "offline", txid: null, status, tele, watched: false };
  }
}
