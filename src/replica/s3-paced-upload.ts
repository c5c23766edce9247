/**
 * Throttled S3 uploads: a request body sent as a paced stream of 16 KiB
 * chunks (`paceBody`), and a multipart upload whose parts go out one at a
 * time, each paced that way (`pacedMultipartUpload`), so the bandwidth cap
 * holds on the wire for every part rather than on average.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import { ReplicaError } from "../errors.ts";
import type { S3ErrorMapper } from "./s3-errors.ts";
import { pacedChunks, type ByteThrottle } from "./throttle.ts";

/** How long cleaning up a failed paced multipart upload may take. */
const ABORT_UPLOAD_TIMEOUT_MS = 10_000;

/** Bytes released per `throttle.take` when a body is paced. */
const PACED_CHUNK_SIZE = 16 * 1024;

/** Where `pacedBody` sits: innermost, right before the HTTP handler, inside the retry loop. */
const PACED_BODY_OPTIONS = { step: "deserialize", priority: "low", name: "litefleetPacedBody", override: true } as const;

/** The middleware `pacedBody` makes. */
type PacedBodyMiddleware = ReturnType<typeof pacedBody>;

/** An SDK command whose middleware stack can take the paced-body middleware. */
export interface PaceableCommand {
  /** The command's own middleware stack (not the client's). */
  readonly middlewareStack: {
    add(middleware: PacedBodyMiddleware, options: typeof PACED_BODY_OPTIONS): void;
  };
}

/** Options of `paceBody`. */
export interface PaceBodyOptions {
  /** Every body byte passes through it before it is sent. */
  readonly throttle: ByteThrottle;
  /** The caller's signal; aborting it ends a paced wait at once. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Makes `command` send `body` (its own request body) as a paced stream of
 * 16 KiB chunks, each after `throttle.take`, with the same `Content-Length`
 * and `Content-MD5`. SDK retries still apply: each attempt streams the body
 * again.
 *
 * @example
 * ```ts
 * const command = new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.byteLength });
 * paceBody(command, body, { throttle, signal });
 * await client.send(command);
 * ```
 */
export function paceBody(command: PaceableCommand, body: Uint8Array, options: PaceBodyOptions): void {
  command.middlewareStack.add(pacedBody(body, options.throttle, options.signal), PACED_BODY_OPTIONS);
}

/** Options of `pacedMultipartUpload`. */
export interface PacedMultipartUploadOptions extends PaceBodyOptions {
  readonly bucket: string;
  /** The object key. */
  readonly key: string;
  /** Object metadata, set when the upload is created. */
  readonly metadata: Record<string, string>;
  /** Bytes per part (the last one may be smaller); at least 5 MiB and at most 10,000 parts. */
  readonly partSize: number;
  /** For messages: "Cannot <action>: …". */
  readonly action: string;
  /** The replica's `location`, for `ReplicaError`. */
  readonly replica: string;
  /** Maps SDK failures of the upload. */
  readonly errors: S3ErrorMapper;
}

/**
 * A multipart upload whose parts are sent one after another, each paced
 * by `throttle` (the throttle, not parallelism, bounds the speed) and with
 * its own `Content-MD5`. Aborted on failure, so no parts are left behind.
 *
 * @throws {ReplicaError} when S3 answers `CreateMultipartUpload` without an upload id, or as mapped by `errors`
 * @example
 * ```ts
 * await pacedMultipartUpload(client, body, {
 *   bucket, key, metadata, partSize: 5 * 1024 * 1024, throttle,
 *   action: `write '${key}' to replica 's3://backups'`, replica: "s3://backups", errors,
 * });
 * ```
 */
export async function pacedMultipartUpload(
  client: S3Client,
  body: Uint8Array,
  options: PacedMultipartUploadOptions,
): Promise<void> {
  const { bucket, key, metadata, partSize, action, replica, errors, throttle, signal } = options;
  const target = { Bucket: bucket, Key: key };
  const created = await errors.call(
    action,
    (o) => client.send(new CreateMultipartUploadCommand({ ...target, Metadata: metadata }), o),
    { signal },
  );
  const UploadId = created.UploadId;
  if (UploadId === undefined) {
    throw new ReplicaError(`Cannot ${action}: S3 answered CreateMultipartUpload without an upload id`, {
      replica,
    });
  }
  try {
    const parts: CompletedPart[] = [];
    for (let offset = 0, PartNumber = 1; offset < body.byteLength; offset += partSize, PartNumber++) {
      const part = body.subarray(offset, Math.min(body.byteLength, offset + partSize));
      const command = new UploadPartCommand({
        ...target,
        UploadId,
        PartNumber,
        Body: part,
        ContentLength: part.byteLength,
        ContentMD5: createHash("md5").update(part).digest("base64"),
      });
      paceBody(command, part, { throttle, signal });
      const out = await client.send(command, signal === undefined ? {} : { abortSignal: signal });
      parts.push({ PartNumber, ETag: out.ETag });
    }
    const complete = new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts } });
    await client.send(complete, signal === undefined ? {} : { abortSignal: signal });
  } catch (err) {
    // Best effort, with its own time limit instead of the caller's
    // (possibly aborted) signal: the upload's own error is the one to
    // report, and S3 lifecycle rules clean up uploads left behind.
    await client
      .send(new AbortMultipartUploadCommand({ ...target, UploadId }), {
        abortSignal: AbortSignal.timeout(ABORT_UPLOAD_TIMEOUT_MS),
      })
      .catch(() => undefined);
    throw errors.toError(err, action);
  }
}

/**
 * A per-command middleware (added with `PACED_BODY_OPTIONS`) that sends
 * `body` as a paced stream of 16 KiB chunks.
 *
 * The input keeps the bytes, so `Content-Length`, `Content-MD5` and the
 * signature are computed as without a throttle, and the SDK's retry
 * middleware still sees a replayable body: the SDK never retries a stream
 * body (it logs "An error was encountered in a non-retryable streaming
 * request" to the console and gives up). The stream is swapped in by the
 * innermost middleware, once per attempt, right before the HTTP handler.
 */
function pacedBody(body: Uint8Array, throttle: ByteThrottle, signal: AbortSignal | undefined) {
  return <A extends { request: unknown }, R>(next: (args: A) => Promise<R>) =>
    async (args: A): Promise<R> => {
      const request = args.request;
      if (typeof request !== "object" || request === null || !("body" in request)) return next(args);
      // Ends a paced wait at once when the attempt ends or the caller aborts,
      // so no tokens are spent on bytes that will not be sent.
      const attempt = new AbortController();
      const onAbort = (): void => attempt.abort(signal?.reason);
      if (signal?.aborted === true) onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const stream = Readable.from(pacedChunks(body, throttle, { chunkSize: PACED_CHUNK_SIZE, signal: attempt.signal }), {
        objectMode: false,
        highWaterMark: PACED_CHUNK_SIZE,
      });
      // The HTTP handler pipes the body into the request and does not listen
      // for its errors; the only error here is the abort, which also fails
      // the request through the SDK's abort signal.
      stream.on("error", () => undefined);
      const original = request.body;
      request.body = stream;
      try {
        return await next(args);
      } finally {
        request.body = original;
        signal?.removeEventListener("abort", onAbort);
        attempt.abort();
        stream.destroy();
      }
    };
}
