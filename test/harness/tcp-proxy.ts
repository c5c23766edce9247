/**
 * A TCP proxy for tests that sits between a client and a real server
 * (s3rver, an MQTT broker), counts the bytes going each way, records when
 * client bytes arrive, and can cut the link: `cut()` resets every open
 * connection and every new one until `resume()`.
 *
 * Built on `node:net`, which Bun and Deno both provide.
 *
 * @module
 */

import { createConnection, createServer, type Server, type Socket } from "node:net";

/** One chunk of client bytes as the proxy received it. */
export interface ChunkArrival {
  /** `performance.now()` when the chunk arrived, in ms. */
  readonly time: number;
  readonly bytes: number;
}

/** Options for `startTcpProxy`. */
export interface TcpProxyOptions {
  /** Where connections are forwarded. */
  readonly target: { readonly host: string; readonly port: number };
  /**
   * Called for each client → server chunk after it is counted (and before
   * it is forwarded), e.g. to `cut()` the link once a request is half sent.
   */
  readonly onData?: (bytes: number, time: number) => void;
}

/** A running proxy. Dispose it (or call `stop()`) to close it and every connection. */
export interface TcpProxy extends AsyncDisposable {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The port the proxy listens on. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, to use as an HTTP endpoint. */
  readonly endpoint: string;
  /** Client → server bytes forwarded so far, over every connection. */
  readonly bytesToTarget: number;
  /** Server → client bytes forwarded so far, over every connection. */
  readonly bytesFromTarget: number;
  /**
   * Every client → server chunk in arrival order, to compute the rate over a
   * window: sum `bytes` of the entries with `time` inside it.
   */
  readonly history: readonly ChunkArrival[];
  /** Connections accepted so far, including those reset by `cut()`. */
  readonly connections: number;
  /**
   * Resets (TCP RST) every open connection, and from now on every new one
   * as soon as it is accepted, until `resume()`.
   */
  cut(): void;
  /**
   * Black-holes the link: open connections stop forwarding in both
   * directions and new ones are accepted but never forwarded (a dead
   * cellular link: requests hang instead of failing), until `resume()`.
   */
  stall(): void;
  /** Forwards new connections again after `cut()` or `stall()`; stalled ones are reset. */
  resume(): void;
  /** Closes the listener and every connection. Calling it twice does nothing. */
  stop(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 with an OS-assigned port, forwarding every
 * connection to `target`.
 *
 * @example
 * ```ts
 * await using s3 = await startS3Server({ buckets: ["bkt"] });
 * const { hostname, port } = new URL(s3.endpoint);
 * await using proxy = await startTcpProxy({ target: { host: hostname, port: Number(port) } });
 * // use proxy.endpoint as the S3 endpoint; proxy.cut() to fail the link
 * ```
 */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const {
    target: { host: targetHost, port: targetPort },
    onData,
  } = options;
  const open = new Set<Socket>();
  const history: ChunkArrival[] = [];
  let bytesToTarget = 0;
  let bytesFromTarget = 0;
  let connections = 0;
  let isCut = false;
  let isStalled = false;
  const pairs = new Map<Socket, Socket>();

  function track(socket: Socket): void {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    // Errors (resets from either side) end the pair; nothing to report.
    socket.on("error", () => undefined);
  }

  const server: Server = createServer((client) => {
    connections++;
    track(client);
    if (isCut) {
      reset(client);
      return;
    }
    if (isStalled) {
      client.pause();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    track(upstream);
    client.on("data", (chunk: Buffer) => {
      bytesToTarget += chunk.byteLength;
      const arrival = { time: performance.now(), bytes: chunk.byteLength };
      history.push(arrival);
      onData?.(arrival.bytes, arrival.time);
    });
    upstream.on("data", (chunk: Buffer) => {
      bytesFromTarget += chunk.byteLength;
    });
    // Half-closes pass through (`end` by default), so HTTP keep-alive and
    // request bodies ended with FIN behave as without the proxy.
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.set(client, upstream);
    client.once("close", () => {
      pairs.delete(client);
      upstream.destroy();
    });
    upstream.once("close", () => client.destroy());
  });

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
    throw new Error(`Cannot start TCP proxy: unexpected listen address '${String(address)}'`);
  }
  const port = address.port;

  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    for (const socket of open) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  return {
    host: "127.0.0.1",
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get bytesToTarget() {
      return bytesToTarget;
    },
    get bytesFromTarget() {
      return bytesFromTarget;
    },
    history,
    get connections() {
      return connections;
    },
    cut() {
      isCut = true;
      for (const socket of open) reset(socket);
    },
    stall() {
      isStalled = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    resume() {
      if (isStalled) for (const socket of open) reset(socket);
      isCut = false;
      isStalled = false;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Closes a socket with a TCP RST (the peer sees ECONNRESET), or plainly if that is not possible. */
function reset(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
