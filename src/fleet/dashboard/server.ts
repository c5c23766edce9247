/**
 * A read-only fleet dashboard over HTTP (`node:http`, so it runs under Bun
 * and Node):
 *
 * | route | answer |
 * |---|---|
 * | `GET /` | the page ({@linkcode PAGE_HTML}); its URL's query holds the filters |
 * | `GET /api/devices?…` | `DeviceView[]` as JSON, problems first, filtered by `state`, `lag-over`, `search`, `version` (400 on a bad value) |
 * | `GET /api/summary` | the `FleetSummary` as JSON |
 * | `GET /api/history?device=ID[&db=PATH][&since=…][&limit=N]` | `{device, db, entries, truncated}` (`history-store.ts`): the newest `limit` (default 1,000, at most 10,000) entries at or after `since` (a duration back from now, RFC 3339 or Unix ms), oldest first; 400 on a bad parameter, 404 (JSON `{error, device, db}`) for a device (or database) with no history, 500 when the history file cannot be read (damaged), 503 when history is off |
 * | `GET /events?…` | Server-Sent Events, filtered like `/api/devices`: `snapshot` at once, then `update`s (below); a comment as heartbeat |
 *
 * `/events` frames (docs/FLEET.md "Dashboard stream"): `event: snapshot`
 * with `{"summary": FleetSummary, "devices": [...]}`, then `event: update`
 * with `{"summary", "devices": [the changed devices that match], "removed":
 * [ids no longer listed]}`, each device a `DeviceView` without `dbs` (the
 * raw summaries, which `rows` already carries: half the bytes at 10,000
 * devices); with a filter it cannot use, one
 * `event: invalid` with `{"error": "…"}` and heartbeats only. Changes are
 * coalesced: a burst of statuses (such as the retained ones when the view
 * opens, or 200 updates a second from a large fleet) becomes one update per
 * {@linkcode PUSH_DELAY_MS}, carrying only the devices that changed. The
 * server listens on loopback unless told otherwise and has no
 * authentication, so it must not be exposed as is.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { errorMessage, systemErrorText } from "../../errors.ts";
import { FilterError, filterDevice, filterDevices, filterFromQuery, type FleetFilter } from "../fleet-query.ts";
import type { DeviceView, FleetView } from "../fleet-view.ts";
import { HistoryParamError, historyQueryFromParams } from "../history/history-params.ts";
import type { HistoryAnswer, HistoryQuery } from "../history/history-store.ts";
import { parseDashboardAddr } from "./listen-addr.ts";
import { PAGE_CSP, PAGE_HTML } from "./page.ts";

/** Why listening failed, for the system codes an operator meets (Bun's EADDRINUSE message names only the port). */
const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the address is already in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "the host is not an address of this machine",
};

/**
 * The dashboard could not listen on its address. `code` is the system
 * error (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL` …), when there was one;
 * the message ends with the reason and that code.
 */
export class DashboardListenError extends Error {
  override name = "DashboardListenError";
  /** The address as given (`host:port`). */
  readonly addr: string;
  readonly code: string | undefined;
  constructor(addr: string, cause: unknown) {
    const raw = (cause as { code?: unknown } | null)?.code;
    const code = typeof raw === "string" ? raw : undefined;
    const known = code === undefined ? undefined : LISTEN_REASONS[code];
    const reason = known === undefined ? systemErrorText(cause) : `${known} (${code})`;
    super(`Cannot start dashboard: listening on '${addr}' failed: ${reason}`, { cause });
    this.addr = addr;
    this.code = code;
  }
}

/** Longest wait between a change and its push to `/events` clients (ms). */
export const PUSH_DELAY_MS = 100;

/** A device as `/events` sends it: without the raw `dbs`. */
function streamed(d: DeviceView): Omit<DeviceView, "dbs"> {
  const { dbs: _, ...rest } = d;
  return rest;
}

/** An `/events` client: its filter (null when it sent one that cannot be used) and the devices it lists. */
interface Stream {
  readonly filter: FleetFilter | null;
  readonly shown: Set<string>;
}

/** What `/api/history` reads: a `HistoryRecorder` (or a `HistoryStore`). */
export interface HistoryReader {
  query(q: HistoryQuery): HistoryAnswer | undefined;
}

/** Options for {@linkcode startDashboard}. */
export interface DashboardOptions {
  readonly view: FleetView;
  /** The history to serve at `/api/history`; absent or null: history is off (503). */
  readonly history?: HistoryReader | null;
  /**
   * The dashboard's clock (Unix ms), for `since` durations.
   *
   * @default {Date.now}
   */
  readonly now?: () => number;
  /**
   * `host:port` to listen on (`[::1]:8080` for IPv6); port 0 picks a free
   * one, an empty host means 127.0.0.1.
   *
   * @default {"127.0.0.1:0"}
   */
  readonly addr?: string;
  /**
   * Interval of the `/events` heartbeat comment, which keeps proxies from
   * closing an idle stream (ms).
   *
   * @default {15000}
   */
  readonly heartbeatMs?: number;
}

/** A running dashboard. Dispose it (or call `close()`) to stop it; calling `close()` twice does nothing. */
export interface Dashboard extends AsyncDisposable {
  /** `http://<host>:<port>/` */
  readonly url: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const ROUTES = new Set(["/", "/api/devices", "/api/summary", "/api/history", "/events"]);

/** Host names that mean this machine. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** The host part of a Host header (without port), or "" when absent. */
function hostName(header: string | undefined): string {
  if (header === undefined) return "";
  return header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : (header.split(":")[0] ?? "");
}

/**
 * Starts the dashboard for `view`.
 *
 * @throws {RangeError} when `addr` is not `host:port` with a port in 0-65535
 * @throws {DashboardListenError} when the address cannot be bound (e.g. `EADDRINUSE`)
 *
 * @example
 * ```ts
 * const dashboard = await startDashboard({ view, addr: "127.0.0.1:8080" });
 * console.log(`dashboard at ${dashboard.url}`);
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { host, port } = parseDashboardAddr(options.addr ?? "127.0.0.1:0");
  const { view } = options;
  const streams = new Map<ServerResponse, Stream>();

  const server = createServer((req, res) => {
    handle(req, res);
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    // On a loopback address, a Host other than a loopback name is a page on
    // another site reaching in through DNS rebinding: refuse it.
    if (LOOPBACK_HOSTS.has(host) && !LOOPBACK_HOSTS.has(hostName(req.headers.host))) {
      send(
        res,
        421,
        "text/plain; charset=utf-8",
        "Cannot serve this host name: the dashboard answers to localhost only\n",
      );
      return;
    }
    if (!ROUTES.has(path)) {
      send(res, 404, "text/plain; charset=utf-8", `Cannot find ${path}\n`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, "text/plain; charset=utf-8", `Cannot ${req.method} ${path}: only GET is allowed\n`);
      return;
    }
    if (path === "/") {
      res.setHeader("content-security-policy", PAGE_CSP);
      send(res, 200, "text/html; charset=utf-8", PAGE_HTML);
    } else if (path === "/api/devices") {
      let filter: FleetFilter;
      try {
        filter = filterFromQuery(url.searchParams);
      } catch (err) {
        if (!(err instanceof FilterError)) throw err;
        send(res, 400, "text/plain; charset=utf-8", `${err.message}\n`);
        return;
      }
      send(res, 200, "application/json", JSON.stringify(filterDevices(view.devices(), filter)));
    } else if (path === "/api/summary") {
      send(res, 200, "application/json", JSON.stringify(view.summary()));
    } else if (path === "/api/history") {
      history(url.searchParams, res);
    } else {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "content-type": "text/event-stream; charset=utf-8",
        connection: "keep-alive",
      });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      let filter: FleetFilter | null = null;
      try {
        filter = filterFromQuery(url.searchParams);
      } catch (err) {
        if (!(err instanceof FilterError)) throw err;
        res.write(`retry: 2000\nevent: invalid\ndata: ${JSON.stringify({ error: err.message })}\n\n`);
      }
      const stream: Stream = { filter, shown: new Set() };
      if (filter !== null) {
        const devices = filterDevices(view.devices(), filter);
        for (const d of devices) stream.shown.add(d.device);
        const frame = JSON.stringify({ summary: view.summary(), devices: devices.map(streamed) });
        res.write(`retry: 2000\nevent: snapshot\ndata: ${frame}\n\n`);
      }
      streams.set(res, stream);
      res.on("close", () => streams.delete(res));
    }
  }

  function history(params: URLSearchParams, res: ServerResponse): void {
    const text = "text/plain; charset=utf-8";
    const reader = options.history;
    if (reader === undefined || reader === null) {
      send(res, 503, text, "Cannot read history: this dashboard keeps none (it was started with --no-history)\n");
      return;
    }
    let q: HistoryQuery;
    try {
      q = historyQueryFromParams(params, (options.now ?? Date.now)());
    } catch (err) {
      if (!(err instanceof HistoryParamError)) throw err;
      send(res, 400, text, `${err.message}\n`);
      return;
    }
    let answer: HistoryAnswer | undefined;
    try {
      answer = reader.query(q);
    } catch (err) {
      // A damaged file (its message names it), or SQLite failing to read.
      send(res, 500, text, `${errorMessage(err)}\n`);
      return;
    }
    if (answer === undefined) {
      const what = q.db === undefined ? `device '${q.device}'` : `database '${q.db}' of device '${q.device}'`;
      // JSON, so that a client tells it from a 404 of something that is not a dashboard.
      const body = {
        error: `Cannot find history of ${what}: nothing was recorded`,
        device: q.device,
        db: q.db ?? null,
      };
      send(res, 404, "application/json", JSON.stringify(body));
      return;
    }
    send(res, 200, "application/json", JSON.stringify(answer));
  }

  /** Devices changed since the last push. */
  let changed = new Set<string>();
  let pushTimer: ReturnType<typeof setTimeout> | undefined;
  const push = () => {
    pushTimer = undefined;
    const ids = changed;
    changed = new Set();
    const views = new Map<string, DeviceView | undefined>();
    for (const id of ids) views.set(id, view.device(id));
    const summary = JSON.stringify(view.summary());
    for (const [res, stream] of streams) {
      if (stream.filter === null) continue;
      const devices: Omit<DeviceView, "dbs">[] = [];
      const removed: string[] = [];
      for (const [id, v] of views) {
        const shown = v === undefined ? undefined : filterDevice(v, stream.filter);
        if (shown !== undefined) {
          devices.push(streamed(shown));
          stream.shown.add(id);
        } else if (stream.shown.delete(id)) removed.push(id);
      }
      res.write(
        `event: update\ndata: {"summary":${summary},"devices":${JSON.stringify(devices)},"removed":${JSON.stringify(removed)}}\n\n`,
      );
    }
  };
  const unsubscribe = view.onChange((change) => {
    if (change.kind === "event") return;
    changed.add(change.device);
    pushTimer ??= setTimeout(push, PUSH_DELAY_MS);
  });
  const heartbeat = setInterval(() => {
    for (const res of streams.keys()) res.write(": heartbeat\n\n");
  }, options.heartbeatMs ?? 15_000);

  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearTimeout(pushTimer);
    clearInterval(heartbeat);
    for (const res of streams.keys()) res.end();
    const done = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    server.closeAllConnections();
    await done;
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await close().catch(() => undefined);
    throw new DashboardListenError(options.addr ?? "127.0.0.1:0", err);
  }
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return { url: `http://${urlHost}:${bound}/`, close, [Symbol.asyncDispose]: close };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
