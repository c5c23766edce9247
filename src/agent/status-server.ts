/**
 * The agent's local HTTP surfaces:
 *
 * - the status server (`status.addr`, loopback by default):
 *   `GET /status` → `AgentStatus` JSON; `POST /sync` → captures and uploads
 *   every database now (pre-empting the batch policy), answering
 *   `{"ok":true, …status}` when every replica holds everything, or 502
 *   `{"ok":false,"error":…}`; `GET /metrics` as below.
 * - the metrics server (`metrics.addr`, off by default): `GET /metrics` →
 *   Prometheus text, and nothing else, so it can listen beyond loopback.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseListenAddr } from "../config/status-section.ts";
import { errorMessage } from "../errors.ts";
import type { AgentStatus } from "./status.ts";

/** What the status server needs from the agent. */
export interface StatusSource {
  status(): AgentStatus;
  syncNow(): Promise<void>;
  metrics(): string;
}

/** A running server. */
export interface HttpSurface {
  /** `host:port` actually bound (port 0 resolved). */
  readonly addr: string;
  close(): Promise<void>;
}

const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Starts the status server on `addr` (`host:port`).
 * @throws {Error} when the address cannot be bound
 */
export function startStatusServer(addr: string, source: StatusSource): Promise<HttpSurface> {
  return serve(addr, "status.addr", (req, res) => {
    if (req.method === "GET" && req.url === "/status") return sendJson(res, 200, source.status());
    if (req.method === "GET" && req.url === "/metrics") return send(res, 200, PROMETHEUS_TYPE, source.metrics());
    if (req.method === "POST" && req.url === "/sync") {
      source.syncNow().then(
        () => sendJson(res, 200, { ok: true, ...source.status() }),
        (err: unknown) => sendJson(res, 502, { ok: false, error: errorMessage(err) }),
      );
      return;
    }
    sendJson(res, 404, { ok: false, error: `Cannot ${req.method} ${req.url}: use GET /status, POST /sync or GET /metrics` });
  });
}

/**
 * Starts the metrics server on `addr`: only `GET /metrics`.
 * @throws {Error} when the address cannot be bound
 */
export function startMetricsServer(addr: string, metrics: () => string): Promise<HttpSurface> {
  return serve(addr, "metrics.addr", (req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
      return send(res, 200, PROMETHEUS_TYPE, metrics());
    }
    send(res, 404, "text/plain", "Cannot serve this path: only GET /metrics\n");
  });
}

async function serve(
  addr: string,
  key: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<HttpSurface> {
  const { host, port } = parseListenAddr(addr);
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`Cannot listen on '${addr}' (${key}): ${errorMessage(err)} (change ${key}, or set it to "" to turn it off)`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return {
    addr: typeof bound === "object" && bound ? `${host.includes(":") ? `[${host}]` : host}:${bound.port}` : addr,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { "content-type": type });
  res.end(body);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  send(res, code, "application/json", `${JSON.stringify(body)}\n`);
}
