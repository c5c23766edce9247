/**
 * Per-agent tallies of S3 requests: which agent sent each request, and how
 * many requests of each billing class and how many body bytes it sent.
 *
 * Attribution, first match wins:
 * 1. the object key starts with the agent's prefix (`<prefix>/…`);
 * 2. the `prefix` query parameter of a listing starts with the agent's prefix
 *    (or is a parent of it only when no agent is more specific);
 * 3. the user agent contains the agent's token: needed for bucket-level
 *    requests that carry no key or prefix (HeadBucket, DeleteObjects, whose
 *    keys are in the body).
 *
 * Billing classes follow S3's price list: PUT, COPY, POST and LIST requests
 * share one price; GET and HEAD another; DELETE is free.
 *
 * @module
 */

import type { LoggedS3Request } from "./s3-request-log.ts";

/** How to recognize one agent's requests. */
export interface AgentRoute {
  /** Agent name, e.g. `lf-60s`. */
  readonly name: string;
  /** Its key prefix inside the bucket, without a trailing `/`, e.g. `lf-60s/app.db`. */
  readonly prefix: string;
  /** A whitespace-separated token of its `user-agent` header, e.g. `app/lf-60s`. */
  readonly userAgentToken: string;
}

/** Counts of one agent's requests (or of the unattributed ones). */
export interface RequestTally {
  /**
   * PUT-class writes, folded: PutObject + UploadPart + CreateMultipartUpload
   * + CompleteMultipartUpload (each billed as one PUT request).
   */
  puts: number;
  /** Of `puts`: PutObject requests. */
  putObjects: number;
  /** Of `puts`: UploadPart, CreateMultipartUpload and CompleteMultipartUpload requests. */
  multipartRequests: number;
  /** ListObjects + ListObjectsV2. */
  lists: number;
  /** GetObject + HeadObject + HeadBucket. */
  getHeads: number;
  /** DeleteObject + DeleteObjects + AbortMultipartUpload (free in S3). */
  deletes: number;
  /** Anything else (CreateBucket …), billed as PUT-class by S3 but not expected from an agent. */
  other: number;
  /** Sum of `content-length` of PutObject and UploadPart requests. */
  bytesUploaded: number;
  /** PutObject/UploadPart requests without a usable `content-length` (their bytes are missing from `bytesUploaded`). */
  uploadsWithoutLength: number;
  /** Approximate request header bytes (`name: value\r\n` per header, request line excluded). */
  headerBytes: number;
  /** All requests. */
  requests: number;
}

/** Name under which requests that match no agent are tallied. */
export const UNATTRIBUTED = "(unattributed)";

/** Returns a tally with every count zero. */
export function emptyTally(): RequestTally {
  return {
    puts: 0,
    putObjects: 0,
    multipartRequests: 0,
    lists: 0,
    getHeads: 0,
    deletes: 0,
    other: 0,
    bytesUploaded: 0,
    uploadsWithoutLength: 0,
    headerBytes: 0,
    requests: 0,
  };
}

/** Returns the name of the agent that sent `req`, or `undefined`; see the module doc for the rules. */
export function attributeRequest(req: LoggedS3Request, routes: readonly AgentRoute[]): string | undefined {
  if (req.key !== undefined) {
    const byKey = routes.find((r) => req.key === r.prefix || req.key?.startsWith(`${r.prefix}/`));
    if (byKey) return byKey.name;
  }
  if (req.listPrefix !== undefined && req.listPrefix !== "") {
    const p = req.listPrefix;
    const inside = routes.find((r) => p === r.prefix || p.startsWith(`${r.prefix}/`));
    if (inside) return inside.name;
    // A listing of a parent (`lf-60s/`) belongs to the one agent below it.
    const below = routes.filter((r) => r.prefix.startsWith(p));
    if (below.length === 1 && below[0]) return below[0].name;
  }
  const ua = `${headerText(req.headers["user-agent"])} ${headerText(req.headers["x-amz-user-agent"])}`.split(/\s+/);
  return routes.find((r) => ua.includes(r.userAgentToken))?.name;
}

/** Adds one request to `tally`. */
export function addToTally(tally: RequestTally, req: LoggedS3Request): void {
  tally.requests++;
  tally.headerBytes += headerBytes(req.headers);
  switch (req.kind) {
    case "PutObject":
    case "UploadPart": {
      tally.puts++;
      if (req.kind === "PutObject") tally.putObjects++;
      else tally.multipartRequests++;
      const length = Number(headerText(req.headers["content-length"]) || Number.NaN);
      if (Number.isFinite(length)) tally.bytesUploaded += length;
      else tally.uploadsWithoutLength++;
      return;
    }
    case "CreateMultipartUpload":
    case "CompleteMultipartUpload":
      tally.puts++;
      tally.multipartRequests++;
      return;
    case "ListObjects":
    case "ListObjectsV2":
      tally.lists++;
      return;
    case "GetObject":
    case "HeadObject":
    case "HeadBucket":
      tally.getHeads++;
      return;
    case "DeleteObject":
    case "DeleteObjects":
    case "AbortMultipartUpload":
      tally.deletes++;
      return;
    default:
      tally.other++;
  }
}

/**
 * Tallies `requests` per agent. Every route gets an entry (zero if it sent
 * nothing); requests matching no route go under {@linkcode UNATTRIBUTED}.
 */
export function tallyByAgent(
  requests: readonly LoggedS3Request[],
  routes: readonly AgentRoute[],
): Map<string, RequestTally> {
  const tallies = new Map<string, RequestTally>(routes.map((r) => [r.name, emptyTally()]));
  tallies.set(UNATTRIBUTED, emptyTally());
  for (const req of requests) {
    const name = attributeRequest(req, routes) ?? UNATTRIBUTED;
    const tally = tallies.get(name);
    if (tally) addToTally(tally, req);
  }
  return tallies;
}

function headerText(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(", ") : (value ?? "");
}

function headerBytes(headers: LoggedS3Request["headers"]): number {
  let n = 0;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value ?? ""]) n += name.length + 2 + Buffer.byteLength(v) + 2;
  }
  return n;
}
