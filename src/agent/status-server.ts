/**
 * The agent's local HTTP surfaces:
 *
 * - the status server (`status.addr`, loopback by default):
 *   `GET /status` → `AgentStatus` JSON; `POST /sync` → captures and uploads
 *   every database now (pre-empting the batch policy), answering
 *   `{"ok":true, …status}` when every replica holds everything, else 502
 *   (failed) or 504 (not done within the `litefleet-timeout-ms` request
 *   header, default 300 s) with `{"ok":false,"timedOut","error","failures"}`
 *   naming each failing capture and replica (`sync-report.ts`);
 *   `GET /metrics` as below.
 * - the metrics server (`metrics.addr`, off by default): `GET /metrics` →
 *   Prometheus text, and nothing else, so it can listen beyond loopback.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseListenAddr } from "../config/status-section.ts";
import { errorMessage } from "../errors.ts";
import type { AgentStatus } from "../protocol/agent-status.ts";
import { syncWithDeadline } from "./sync-report.ts";

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
/** Deadline of `POST /sync` without a `litefleet-timeout-ms` header. */
const SYNC_TIMEOUT_MS = 300_000;

/**
 * Starts the status server on `addr` (`host:port`).
 * @throws {Error} when the address cannot be bound
 */
export function startStatusServer(addr: string, source: StatusSource): Promise<HttpSurface> {
  return serve(addr, "status.addr", (req, res) => {
    if (req.method === "GET" && req.url === "/status") return sendJson(res, 200, source.status());
    if (req.method === "GET" && req.url === "/metrics") return send(res, 200, PROMETHEUS_TYPE, source.metrics());
    if (req.method === "POST" && req.url === "/sync") {
      const header = Number(req.headers["litefleet-timeout-ms"]);
      const timeoutMs = Number.isFinite(header) && header > 0 ? header : SYNC_TIMEOUT_MS;
      syncWithDeadline(source, timeoutMs).then(
        (answer) => sendJson(res, answer.httpStatus, answer.body),
        (err: unknown) =>
          sendJson(res, 500, { ok: false, timedOut: false, error: `Cannot sync: ${errorMessage(err)}`, failures: [] }),
      );
      return;
    }
    sendJson(res, 404, {
      ok: false,
      error: `Cannot ${req.method} ${req.url}: use GET /status, POST /sync or GET /metrics`,
    });
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
      reject(
        new Error(
          `Cannot listen on '${addr}' (${key}): ${errorMessage(err)} (change ${key}, or set it to "" to turn it off)`,
          { cause: err },
        ),
      ),
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
