/**
 * An HTTP proxy in front of a real S3 server (s3rver) that injects S3
 * faults per request: error answers (500, 503, SlowDown), connection resets
 * in the middle of a body, stalls, truncated response bodies, a PUT that is
 * stored but answered 500, and full outages. Which request gets which fault
 * is decided by a callback, so a seeded schedule can drive it
 * (`bench/chaos-schedule.ts`); `test/harness/s3-fault-proxy.test.ts` shows
 * each fault as a real S3 client sees it.
 *
 * Built on `node:http` (Bun and Node). The proxy never changes a request it
 * forwards; s3rver sees exactly what the client sent.
 *
 * @module
 */

import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import { parseS3Request } from "./s3-server.ts";

/** The faults the proxy can inject into one request. */
export type FaultKind =
  /** Answer 500 InternalError without forwarding. */
  | "error-500"
  /** Answer 503 ServiceUnavailable without forwarding. */
  | "error-503"
  /** Answer 503 SlowDown (S3's throttling error) without forwarding. */
  | "slow-down"
  /**
   * Reset the connection (TCP RST) mid-body: halfway through the request
   * body when the request has one (nothing is forwarded), else halfway
   * through the forwarded response body.
   */
  | "reset"
  /** Send no byte either way for `stallMs`, then forward normally. */
  | "stall"
  /** Forward, then send the full headers but only half the response body and close (FIN). */
  | "truncate"
  /** Forward and let the server store it, then answer 500 InternalError anyway. */
  | "stored-500";

/** Every fault kind, for tables and counters. */
export const FAULT_KINDS: readonly FaultKind[] = [
  "error-500",
  "error-503",
  "slow-down",
  "reset",
  "stall",
  "truncate",
  "stored-500",
];

/** One fault to inject. */
export interface Fault {
  readonly kind: FaultKind;
  /** `stall` only: how long nothing is sent, in ms. @default 5000 */
  readonly stallMs?: number;
}

/** What the decider is told about a request. */
export interface ProxiedRequest {
  /** `GET`, `PUT`, … */
  readonly method: string;
  /** S3 operation as far as the URL tells it: `PutObject`, `GetObject`, `ListObjectsV2`, `UploadPart`, … */
  readonly op: string;
  /** Path and query as sent. */
  readonly url: string;
  /** The request's `Content-Length` (0 when absent). */
  readonly contentLength: number;
}

/** One request the proxy saw. */
export interface ProxyLogEntry extends ProxiedRequest {
  /** `Date.now()` when the request arrived. */
  readonly time: number;
  /** The fault injected, `"outage"` for a request reset by an outage, or undefined when forwarded untouched. */
  readonly fault: FaultKind | "outage" | undefined;
}

/** Options of {@linkcode startS3FaultProxy}. */
export interface S3FaultProxyOptions {
  /** The S3 server to forward to, `http://host:port`. */
  readonly target: string;
  /** Picks the fault of each request (none by default); replaceable with `setDecider`. */
  readonly decide?: (request: ProxiedRequest) => Fault | undefined;
}

/** A running proxy. Dispose it (or call `stop()`) to close it and every connection. */
export interface S3FaultProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, the S3 endpoint to give clients. */
  readonly endpoint: string;
  /** Every request seen so far, in arrival order. */
  readonly log: readonly ProxyLogEntry[];
  /** Faults injected so far, by kind (`outage` counts connections and requests refused). */
  readonly counts: Readonly<Record<FaultKind | "outage", number>>;
  /** True while an outage is on. */
  readonly inOutage: boolean;
  /** Replaces the decider; `undefined` forwards everything. */
  setDecider(decide: ((request: ProxiedRequest) => Fault | undefined) | undefined): void;
  /** Starts an outage: every open connection is reset, and every new one as soon as it is accepted, until `endOutage()`. */
  startOutage(): void;
  /** Ends an outage. */
  endOutage(): void;
  /** Closes the listener and every connection. Calling it twice does nothing. */
  stop(): Promise<void>;
}

const ERROR_BODIES: Record<
  "error-500" | "error-503" | "slow-down" | "stored-500",
  { status: number; code: string; message: string }
> = {
  "error-500": { status: 500, code: "InternalError", message: "We encountered an internal error. Please try again." },
  "stored-500": { status: 500, code: "InternalError", message: "We encountered an internal error. Please try again." },
  "error-503": { status: 503, code: "ServiceUnavailable", message: "Service is unable to handle request." },
  "slow-down": { status: 503, code: "SlowDown", message: "Please reduce your request rate." },
};

/**
 * Starts the proxy on 127.0.0.1 with an OS-assigned port.
 *
 * @example
 * ```ts
 * await using s3 = await startS3Server({ buckets: ["bkt"] });
 * await using proxy = await startS3FaultProxy({ target: s3.endpoint, decide: (r) => (r.op === "PutObject" ? { kind: "slow-down" } : undefined) });
 * // give proxy.endpoint to the client
 * ```
 */
export async function startS3FaultProxy(options: S3FaultProxyOptions): Promise<S3FaultProxy> {
  const target = new URL(options.target);
  let decide = options.decide;
  const log: ProxyLogEntry[] = [];
  const counts = Object.fromEntries([...FAULT_KINDS, "outage"].map((k) => [k, 0])) as Record<
    FaultKind | "outage",
    number
  >;
  const sockets = new Set<Socket>();
  let outage = false;

  const server = createServer((req, res) => {
    const request: ProxiedRequest = {
      method: req.method ?? "GET",
      op: parseS3Request(req.method ?? "GET", req.url ?? "/").kind,
      url: req.url ?? "/",
      contentLength: Number(req.headers["content-length"] ?? 0) || 0,
    };
    if (outage) {
      counts.outage++;
      log.push({ ...request, time: Date.now(), fault: "outage" });
      reset(req.socket);
      return;
    }
    const fault = decide?.(request);
    log.push({ ...request, time: Date.now(), fault: fault?.kind });
    if (fault !== undefined) counts[fault.kind]++;
    handle(req, res, request, fault).catch(() => reset(req.socket));
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    if (outage) {
      counts.outage++;
      reset(socket);
    }
  });

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    request: ProxiedRequest,
    fault: Fault | undefined,
  ): Promise<void> {
    switch (fault?.kind) {
      case undefined:
        return forwardStreaming(req, res);
      case "error-500":
      case "error-503":
      case "slow-down": {
        await drain(req);
        return sendError(res, fault.kind);
      }
      case "stall": {
        // Nothing is read or written meanwhile: the client's body waits in the socket buffers.
        await Bun.sleep(fault.stallMs ?? 5000);
        if (req.socket.destroyed) return;
        return forwardStreaming(req, res);
      }
      case "reset": {
        if (request.contentLength > 0) {
          await readUntil(req, Math.max(1, Math.floor(request.contentLength / 2)));
          reset(req.socket);
          return;
        }
        const up = await forwardBuffered(req);
        res.writeHead(up.status, up.headers);
        res.write(up.body.subarray(0, Math.floor(up.body.byteLength / 2)));
        // Give the half body a moment to leave before the RST discards the send buffer.
        await Bun.sleep(20);
        reset(req.socket);
        return;
      }
      case "truncate": {
        const up = await forwardBuffered(req);
        if (up.body.byteLength < 2) {
          // Nothing to cut in half: close before any response byte instead.
          req.socket.destroy();
          return;
        }
        res.writeHead(up.status, up.headers);
        res.write(up.body.subarray(0, Math.floor(up.body.byteLength / 2)));
        await Bun.sleep(20);
        req.socket.destroy();
        return;
      }
      case "stored-500": {
        await forwardBuffered(req);
        return sendError(res, "stored-500");
      }
    }
  }

  function upstreamRequest(req: IncomingMessage): ReturnType<typeof httpRequest> {
    return httpRequest({
      host: target.hostname,
      port: Number(target.port),
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
  }

  function forwardStreaming(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      const up = upstreamRequest(req);
      up.on("error", reject);
      up.on("response", (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, copyHeaders(upRes.headers));
        upRes.pipe(res);
        upRes.on("end", () => resolve());
        upRes.on("error", reject);
      });
      req.pipe(up);
      req.on("error", (err) => {
        up.destroy();
        reject(err);
      });
    });
  }

  function forwardBuffered(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const up = upstreamRequest(req);
      up.on("error", reject);
      up.on("response", (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on("data", (c: Buffer) => chunks.push(c));
        upRes.on("end", () =>
          resolve({
            status: upRes.statusCode ?? 502,
            headers: copyHeaders(upRes.headers),
            body: Buffer.concat(chunks),
          }),
        );
        upRes.on("error", reject);
      });
      req.pipe(up);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    server.close();
    throw new Error(`Cannot start S3 fault proxy: unexpected listen address '${String(address)}'`);
  }

  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    log,
    counts,
    get inOutage() {
      return outage;
    },
    setDecider(d) {
      decide = d;
    },
    startOutage() {
      outage = true;
      for (const s of sockets) reset(s);
    },
    endOutage() {
      outage = false;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function sendError(res: ServerResponse, kind: keyof typeof ERROR_BODIES): void {
  const e = ERROR_BODIES[kind];
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${e.message}</Message><RequestId>chaos-proxy</RequestId></Error>`;
  res.writeHead(e.status, {
    "content-type": "application/xml",
    "content-length": String(Buffer.byteLength(body)),
    "x-amz-request-id": "chaos-proxy",
  });
  res.end(body);
}

function copyHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined && k !== "connection" && k !== "keep-alive") out[k] = v;
  return out;
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve();
    req.on("end", () => resolve());
    req.on("error", () => resolve());
    req.resume();
  });
}

function readUntil(req: IncomingMessage, bytes: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    req.on("data", (c: Buffer) => {
      seen += c.byteLength;
      if (seen >= bytes) resolve();
    });
    req.on("end", () => resolve());
    req.on("error", () => resolve());
  });
}

/** Closes a socket with a TCP RST (the peer sees ECONNRESET), or plainly if that is not possible. */
function reset(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
