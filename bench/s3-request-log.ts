/**
 * The benchmark's S3 server: the test harness's s3rver
 * (`test/harness/s3-server.ts`, which records method, operation kind,
 * bucket, key and headers of every request) plus what its records lack and
 * the benchmark needs: the list `prefix` query parameter, used to attribute
 * ListObjects requests to an agent, and when each request arrived and when
 * its response ended (the `large` benchmark waits for an agent's uploads to
 * finish).
 *
 * Both come from a second `request` listener on the same `node:http`
 * server. s3rver creates that server inside `run()` with
 * `http.createServer()`, so `createServer` is wrapped for the duration of
 * `startS3Server` only, to get hold of the instance. The two listeners run
 * synchronously in the same `emit`, so the i-th tap entry belongs to the
 * i-th harness record; {@linkcode S3RequestLog.requests} checks that.
 *
 * @module
 */

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { startS3Server, type S3Request, type S3Server } from "../test/harness/s3-server.ts";

/** One request: the harness's record plus the list prefix and its timing. */
export interface LoggedS3Request extends S3Request {
  /** `prefix` query parameter of a bucket-level request (ListObjects, ListObjectsV2), if any. */
  readonly listPrefix: string | undefined;
  /** `performance.now()` when the request arrived. */
  readonly startedAt?: number | undefined;
  /**
   * `performance.now()` when its response was finished or its connection
   * closed; `undefined` while it is still in flight (at the time of the
   * {@linkcode S3RequestLog.requests} call).
   */
  readonly endedAt?: number | undefined;
}

/** A running S3 server with its request log. Dispose it to stop the server and delete its data. */
export interface S3RequestLog extends AsyncDisposable {
  readonly server: S3Server;
  /** Number of requests received so far (a cheap cut point for later slicing). */
  count(): number;
  /**
   * The requests received so far, in arrival order.
   *
   * @throws {Error} if the tap and the harness disagree (a bug in this module)
   */
  requests(): LoggedS3Request[];
}

interface Tapped {
  readonly method: string;
  readonly listPrefix: string | undefined;
  readonly startedAt: number;
  endedAt: number | undefined;
}

const require = createRequire(import.meta.url);

/**
 * Starts the harness s3rver with `buckets` and taps its requests; see the
 * module doc.
 */
export async function startS3RequestLog(buckets: string[]): Promise<S3RequestLog> {
  const http = require("node:http") as { createServer: (...args: unknown[]) => Server };
  const tapped: Tapped[] = [];
  const createServer = http.createServer;
  let captured: Server | undefined;
  http.createServer = (...args: unknown[]): Server => {
    const server = createServer(...args);
    captured ??= server;
    // Prepended, so it runs before s3rver's handler and the harness's recorder.
    server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
      const t = tap(req);
      tapped.push(t);
      res.once("close", () => {
        t.endedAt = performance.now();
      });
    });
    return server;
  };
  let server: S3Server;
  try {
    server = await startS3Server({ buckets });
  } finally {
    http.createServer = createServer;
  }
  if (captured === undefined) {
    await server.stop();
    throw new Error("Cannot tap the S3 server: s3rver did not call http.createServer");
  }
  return {
    server,
    count: () => server.requests.length,
    requests() {
      const records = server.requests;
      return records.map((r, i) => {
        const t = tapped[i];
        if (t === undefined || t.method !== r.method) {
          throw new Error(
            `Cannot merge S3 request logs: entry ${i} is '${r.method} ${r.kind}' in the harness, '${t?.method ?? "missing"}' in the tap`,
          );
        }
        return { ...r, listPrefix: t.listPrefix, startedAt: t.startedAt, endedAt: t.endedAt };
      });
    },
    [Symbol.asyncDispose]: () => server.stop(),
  };
}

function tap(req: IncomingMessage): Tapped {
  const url = new URL(req.url ?? "/", "http://localhost");
  return {
    method: req.method ?? "GET",
    listPrefix: url.searchParams.get("prefix") ?? undefined,
    startedAt: performance.now(),
    endedAt: undefined,
  };
}
