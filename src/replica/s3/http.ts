/**
 * The one S3 client of litefleet: SigV4-signed requests over `fetch`, for
 * one bucket and prefix of a replica spec. It owns the endpoint and
 * addressing (path style for custom endpoints, virtual-hosted on AWS),
 * the region, credentials (`resolveS3Credentials`, then the AWS shared
 * files), an idle timeout per request, retries with backoff, the
 * storage's clock (`Date` of the last answer) and the error mapper. No
 * SDK: see docs/BENCHMARKS.md "Issue #13: choosing the S3 client".
 *
 * @module
 */

import { systemClock, type Clock } from "../../platform/clock.ts";
import type { S3ReplicaSpec } from "../spec.ts";
import type { ByteThrottle } from "../throttle.ts";
import { pacedChunks } from "../throttle.ts";
import { loadSharedCredentials, resolveS3Credentials, type ResolvedS3Credentials } from "./credentials.ts";
import { S3ErrorMapper, S3ResponseError, type S3ErrorContext } from "./errors.ts";
import { signRequest, uriEncode, UNSIGNED_PAYLOAD } from "./sigv4.ts";
import { text } from "./xml.ts";

/** A request without progress for this long is abandoned (then retried). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Attempts per request, including the first, as the AWS SDK's standard retry mode. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Backoff before retry n (1-based) is random in [0, min(cap, base · 2^n)), the SDK's "full jitter". */
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 20_000;

/** Bytes per chunk of an unpaced request body; also how often the idle timer sees progress. */
const BODY_CHUNK_SIZE = 64 * 1024;

/** Bytes released per `throttle.take` when a body is paced. */
const PACED_CHUNK_SIZE = 16 * 1024;

/** Socket error codes worth another attempt. */
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ConnectionClosed",
  "ConnectionRefused",
  "UND_ERR_SOCKET",
]);

/** S3 error codes worth another attempt whatever the status. */
const RETRYABLE_S3_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "Throttling",
  "ThrottlingException",
]);

/** Options of `S3Http`. */
export interface S3HttpOptions {
  /** Environment for credentials, `AWS_REGION`, `AWS_PROFILE` …, `AWS_SDK_UA_APP_ID` (never `process.env` implicitly). */
  readonly env: Record<string, string | undefined>;
  /** Attempts per request, including the first. @default 3 */
  readonly maxAttempts?: number;
  /**
   * How long a request may go without progress (connecting, sending a
   * body chunk, receiving headers or a body chunk) before it is abandoned
   * with a `TimeoutError`, in ms. An idle timeout, not a total one: a
   * large upload paced by a bandwidth cap keeps sending and is not cut off.
   * @default 60000
   */
  readonly requestTimeoutMs?: number;
  /** For backoff sleeps and the signing time. @default systemClock */
  readonly clock?: Clock;
}

/**
 * How far the device's clock may be from the storage's before requests are
 * signed on the storage's clock. S3 refuses a signature more than 15 minutes
 * off (`RequestTimeTooSkewed`); a Pi without a battery-backed clock boots
 * hours or days off until NTP answers.
 */
const CLOCK_SKEW_TOLERANCE_MS = 4 * 60_000;

/** One request. */
export interface S3HttpRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** The full object key (prefix included); unset for bucket requests. */
  readonly key?: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Header names in lower case. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Kept in memory so a retry can send it again; an upload part at most. */
  readonly body?: Uint8Array;
  /** Paces `body` on the wire. */
  readonly throttle?: ByteThrottle | undefined;
  readonly signal?: AbortSignal | undefined;
  /**
   * Return the answer with its body unread (a streamed GET); the idle
   * timer then keeps running over the body's chunks. Only the request up
   * to its headers is retried.
   */
  readonly stream?: boolean;
}

/** An answer with status < 300. */
export interface S3HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The body text (empty for streamed requests). */
  readonly text: string;
  /** Streamed requests: the body's chunks (read it once, to the end or not). */
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * Signed requests to one bucket. Construction does no I/O; the AWS shared
 * files are read at the first request that needs them.
 *
 * @example
 * ```ts
 * const http = new S3Http({ type: "s3", bucket: "b", path: "app" }, { env: process.env });
 * const answer = await http.request({ method: "GET", query: { "list-type": "2", "max-keys": "1" } });
 * ```
 */
export class S3Http {
  readonly bucket: string;
  /** `""` or the prefix with a trailing `/`. */
  readonly prefix: string;
  /** `s3://bucket` or `s3://bucket/prefix`, for messages. */
  readonly url: string;
  /** `url`, followed by ` (endpoint)` for custom endpoints; never holds secrets. */
  readonly location: string;
  readonly region: string;
  /** The endpoint for messages, without user info. */
  readonly endpoint: string;
  readonly customEndpoint: boolean;
  /** Maps every failure of this client. */
  readonly errors: S3ErrorMapper;
  readonly #base: URL;
  readonly #pathStyle: boolean;
  readonly #env: Record<string, string | undefined>;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #skipVerify: boolean;
  readonly #userAgent: string;
  #credentials: ResolvedS3Credentials;
  #loading: Promise<ResolvedS3Credentials> | undefined;
  #storageDate: { at: number; mono: number } | undefined;
  /** Added to the device's clock to sign: 0, or the storage's clock minus ours when they differ by more than the tolerance. */
  #skewMs = 0;

  /**
   * @throws {RangeError} when `maxAttempts` or `requestTimeoutMs` is not a positive integer
   * @throws {ReplicaError} when only half of a credential pair is set
   */
  constructor(spec: S3ReplicaSpec, options: S3HttpOptions) {
    const {
      env,
      maxAttempts = DEFAULT_MAX_ATTEMPTS,
      requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
      clock = systemClock,
    } = options;
    checkPositiveInteger("maxAttempts", maxAttempts);
    checkPositiveInteger("requestTimeoutMs", requestTimeoutMs);
    const trimmed = spec.path.replace(/^\/+|\/+$/g, "");
    this.bucket = spec.bucket;
    this.prefix = trimmed === "" ? "" : `${trimmed}/`;
    this.url = `s3://${spec.bucket}${trimmed === "" ? "" : `/${trimmed}`}`;
    this.region = spec.region ?? (spec.endpoint === undefined ? env["AWS_REGION"] : undefined) ?? "us-east-1";
    this.customEndpoint = spec.endpoint !== undefined;
    this.endpoint = spec.endpoint === undefined ? `https://s3.${this.region}.amazonaws.com` : redactUrl(spec.endpoint);
    this.location = this.customEndpoint ? `${this.url} (${this.endpoint})` : this.url;
    this.#base = new URL(spec.endpoint ?? `https://s3.${this.region}.amazonaws.com`);
    this.#base.username = "";
    this.#base.password = "";
    // Buckets with dots break virtual-hosted TLS names, as in the SDKs.
    this.#pathStyle =
      spec.forcePathStyle ?? (this.customEndpoint || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(spec.bucket));
    this.#env = env;
    this.#maxAttempts = maxAttempts;
    this.#timeoutMs = requestTimeoutMs;
    this.#clock = clock;
    this.#skipVerify = spec.skipVerify === true;
    const app = env["AWS_SDK_UA_APP_ID"];
    this.#userAgent = `litefleet${app === undefined || app === "" ? "" : ` app/${app}`}`;
    this.#credentials = resolveS3Credentials(spec, { env, replica: this.location });
    const self = this;
    const context: S3ErrorContext = {
      replica: this.location,
      bucket: spec.bucket,
      endpoint: this.endpoint,
      customEndpoint: this.customEndpoint,
      region: this.region,
      get credentials() {
        return self.#credentials;
      },
    };
    this.errors = new S3ErrorMapper(context);
  }

  /**
   * The bucket's clock from the last answer's `Date` header plus the time
   * since, minus one second: `Date` and LastModified have whole seconds,
   * so this never runs ahead of the storage.
   */
  storageNow(): number | undefined {
    const d = this.#storageDate;
    return d === undefined ? undefined : d.at + (performance.now() - d.mono) - 1000;
  }

  /**
   * Sends one request, retrying network failures, timeouts, 5xx and
   * throttling answers with backoff (not past the caller's abort).
   * @throws {S3ResponseError} for an answer with status >= 300
   * @throws the network error, a `TimeoutError`, or the signal's reason
   */
  async request(req: S3HttpRequest): Promise<S3HttpAnswer> {
    for (let attempt = 1; ; attempt++) {
      req.signal?.throwIfAborted();
      try {
        return await this.#attempt(req);
      } catch (err) {
        if (attempt >= this.#maxAttempts || req.signal?.aborted === true || !retryable(err)) throw err;
      }
      const delay = Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
      await this.#clock.sleep(delay, req.signal);
    }
  }

  async #attempt(req: S3HttpRequest): Promise<S3HttpAnswer> {
    const credentials = await this.#resolvedCredentials();
    const url = this.#urlOf(req.key, req.query);
    const headers: Record<string, string> = { host: url.host, ...req.headers };
    if (req.body !== undefined) headers["x-amz-content-sha256"] = UNSIGNED_PAYLOAD;
    signRequest(
      { method: req.method, url, headers },
      { credentials, region: this.region, now: new Date(this.#clock.now() + this.#skewMs) },
    );
    delete headers["host"];
    headers["user-agent"] = this.#userAgent;
    headers["accept-encoding"] = "identity";

    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort(req.signal?.reason);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () => attempt.abort(new DOMException(`No progress for ${this.#timeoutMs} ms`, "TimeoutError")),
        this.#timeoutMs,
      );
    };
    const done = (): void => {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    };
    touch();
    let streaming = false;
    try {
      const init: RequestInit & { tls?: { rejectUnauthorized: boolean }; decompress?: boolean } = {
        method: req.method,
        headers,
        redirect: "manual",
        signal: attempt.signal,
        decompress: false,
        ...(this.#skipVerify ? { tls: { rejectUnauthorized: false } } : {}),
      };
      if (req.body !== undefined) {
        headers["content-length"] = String(req.body.byteLength);
        init.body = bodyStream(req.body, req.throttle, attempt.signal, touch);
      }
      let res: Response;
      try {
        res = await fetch(url, init);
      } catch (err) {
        throw attempt.signal.aborted ? attempt.signal.reason : err;
      }
      touch();
      const date = Date.parse(res.headers.get("date") ?? "");
      if (Number.isFinite(date)) {
        this.#storageDate = { at: date, mono: performance.now() };
        // Sign on the storage's clock while ours is far off (a RequestTimeTooSkewed
        // answer carries the storage's Date and is retried); back to ours once NTP
        // has set it.
        const diff = date - this.#clock.now();
        this.#skewMs = Math.abs(diff) > CLOCK_SKEW_TOLERANCE_MS ? diff : 0;
      }
      if (res.status >= 300) {
        const body = req.method === "HEAD" ? "" : await res.text().catch(() => "");
        throw new S3ResponseError(res.status, {
          code: text(body, "Code"),
          message: text(body, "Message"),
          requestId: res.headers.get("x-amz-request-id") ?? undefined,
        });
      }
      if (req.stream === true && res.body !== null) {
        streaming = true;
        return { status: res.status, headers: res.headers, text: "", body: timedBody(res.body, attempt, touch, done) };
      }
      const body = req.method === "HEAD" ? "" : await res.text();
      // S3 can answer 200 with an error document (CompleteMultipartUpload, CopyObject).
      if (body.includes("<Error>")) {
        throw new S3ResponseError(500, { code: text(body, "Code"), message: text(body, "Message") });
      }
      return { status: res.status, headers: res.headers, text: body, body: emptyBody() };
    } catch (err) {
      throw attempt.signal.aborted && !(req.signal?.aborted ?? false) ? attempt.signal.reason : err;
    } finally {
      if (!streaming) done();
    }
  }

  async #resolvedCredentials() {
    const known = this.#credentials.credentials;
    if (known !== undefined) return known;
    this.#loading ??= loadSharedCredentials({ env: this.#env }).then(
      (c) => (this.#credentials = c),
      (err: unknown) => {
        this.#loading = undefined; // A file fixed later is read again.
        throw err;
      },
    );
    const loaded = (await this.#loading).credentials;
    if (loaded === undefined) throw new Error("Cannot sign S3 request: credentials were not loaded");
    return loaded;
  }

  #urlOf(key: string | undefined, query: S3HttpRequest["query"]): URL {
    const basePath = this.#base.pathname.replace(/\/+$/, "");
    const keyPath = key === undefined ? "" : `/${uriEncode(key, true)}`;
    const url = new URL(this.#base.origin);
    if (this.#pathStyle) {
      url.pathname = `${basePath}/${uriEncode(this.bucket)}${keyPath}`;
    } else {
      url.hostname = `${this.bucket}.${this.#base.hostname}`;
      url.pathname = `${basePath}${keyPath === "" ? "/" : keyPath}`;
    }
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    // URLSearchParams writes spaces as '+'; S3 reads '+' as a plus sign.
    url.search = url.search.replace(/\+/g, "%20");
    return url;
  }
}

/** Whether another attempt may succeed. */
function retryable(err: unknown): boolean {
  if (err instanceof S3ResponseError) {
    return err.status >= 500 || err.status === 429 || (err.Code !== undefined && RETRYABLE_S3_CODES.has(err.Code));
  }
  if (!(err instanceof Error)) return false;
  if (err.name === "TimeoutError") return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && RETRYABLE_CODES.has(code);
}

/** The body of one attempt: chunks of `body`, paced by `throttle`, each one progress for the idle timer. */
function bodyStream(
  body: Uint8Array,
  throttle: ByteThrottle | undefined,
  signal: AbortSignal,
  touch: () => void,
): ReadableStream<Uint8Array> {
  const chunks =
    throttle === undefined ? plainChunks(body) : pacedChunks(body, throttle, { chunkSize: PACED_CHUNK_SIZE, signal });
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await it.next();
        touch();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await it.return?.(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

async function* plainChunks(body: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < body.byteLength; at += BODY_CHUNK_SIZE) yield body.subarray(at, at + BODY_CHUNK_SIZE);
}

/** A response body whose chunks keep the idle timer alive; the attempt ends with the body. */
async function* timedBody(
  body: ReadableStream<Uint8Array>,
  attempt: AbortController,
  touch: () => void,
  done: () => void,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        throw attempt.signal.aborted ? attempt.signal.reason : err;
      }
      if (next.done) return;
      touch();
      yield next.value;
    }
  } finally {
    done();
    // Stopped early: release the connection.
    if (!attempt.signal.aborted) await reader.cancel().catch(() => undefined);
  }
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/**
 * Removes user info from an endpoint URL before it goes into messages;
 * the one redaction of S3 endpoints.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === "" && u.password === "") return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create S3 replica client: '${name}' must be a positive integer, got '${value}'`);
  }
}
