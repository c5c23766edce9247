/**
 * The agent's local control surface: HTTP on a loopback address.
 *
 * - `GET /status` → `AgentStatus` JSON
 * - `POST /sync` → captures and uploads every database now (pre-empting the
 *   batch policy); answers `{"ok":true, …status}` when every replica holds
 *   everything, or 502 `{"ok":false,"error":…}`.
 *
 * @module
 */

import { createServer, type Server } from "node:http";
import { errorMessage } from "../errors.ts";
import type { AgentStatus } from "./status.ts";

/** What the server needs from the agent. */
export interface StatusSource {
  status(): AgentStatus;
  syncNow(): Promise<void>;
}

/** A running status server. */
export interface StatusServer {
  /** `host:port` actually bound (port 0 resolved). */
  readonly addr: string;
  close(): Promise<void>;
}

/**
 * Starts the server on `addr` (`host:port`).
 * @throws {Error} when the address cannot be bound (in use, not local)
 */
export async function startStatusServer(addr: string, source: StatusSource): Promise<StatusServer> {
  const { host, port } = splitAddr(addr);
  const server: Server = createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method === "GET" && req.url === "/status") return send(200, source.status());
    if (req.method === "POST" && req.url === "/sync") {
      source.syncNow().then(
        () => send(200, { ok: true, ...source.status() }),
        (err: unknown) => send(502, { ok: false, error: errorMessage(err) }),
      );
      return;
    }
    send(404, { ok: false, error: `Cannot ${req.method} ${req.url}: use GET /status or POST /sync` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`Cannot start the status server on '${addr}': ${errorMessage(err)} (set status.addr, or "" to disable)`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const actual = typeof bound === "object" && bound ? `${host}:${bound.port}` : addr;
  return {
    addr: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Splits `host:port` (IPv6 in brackets). */
export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  if (!m) throw new TypeError(`Cannot use status address '${addr}': expected host:port`);
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}
