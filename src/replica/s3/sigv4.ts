/**
 * AWS Signature Version 4 for S3 requests (header-based, service `s3`).
 * Bodies are not hashed: requests carry `x-amz-content-sha256:
 * UNSIGNED-PAYLOAD`, as S3 allows, and uploads are protected by
 * `Content-MD5` instead, so a body is read once, never twice.
 *
 * @module
 */

import { hmacSha256, hmacSha256Hex, sha256Hex } from "../../platform/hash.ts";

/** Access key, secret and (temporary credentials) session token. */
export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What `signRequest` signs. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  /** Header names in lower case. Every header given is signed. */
  readonly headers: Record<string, string>;
}

/** The payload hash sent for bodies that are not hashed. */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

/** The hex SHA-256 of an empty body. */
export const EMPTY_SHA256 = sha256Hex("");

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
const UNRESERVED_OR_SLASH = /^[A-Za-z0-9\-._~/]*$/;

/**
 * Percent-encodes `text` the way SigV4 wants it: every byte but
 * `A-Z a-z 0-9 - . _ ~` (and `/` when `keepSlash`).
 */
export function uriEncode(text: string, keepSlash = false): string {
  // Most keys and query values need no escape at all: one test instead of
  // a regex per byte (signing runs for every request, issue #13).
  if ((keepSlash ? UNRESERVED_OR_SLASH : UNRESERVED).test(text)) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Adds `x-amz-date`, `x-amz-content-sha256` (when unset: the empty-body
 * hash), `x-amz-security-token` (with a session token) and
 * `authorization` to `request.headers`. The URL's path must already be
 * encoded (`uriEncode(key, true)`); its query is re-encoded canonically.
 *
 * @example
 * ```ts
 * const headers: Record<string, string> = { host: url.host };
 * signRequest({ method: "GET", url, headers }, { credentials, region: "us-east-1", now: new Date() });
 * ```
 */
export function signRequest(
  request: SignableRequest,
  options: { credentials: S3Credentials; region: string; now: Date },
): void {
  const { credentials, region, now } = options;
  const headers = request.headers;
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  headers["x-amz-date"] = amzDate;
  headers["x-amz-content-sha256"] ??= EMPTY_SHA256;
  if (credentials.sessionToken !== undefined) headers["x-amz-security-token"] = credentials.sessionToken;

  const names = Object.keys(headers)
    .map((n) => n.toLowerCase())
    .sort();
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const query = [...request.url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonical = [
    request.method,
    request.url.pathname === "" ? "/" : request.url.pathname,
    query,
    canonicalHeaders,
    signedHeaders,
    headers["x-amz-content-sha256"],
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
  let key = hmacSha256(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, "s3", "aws4_request"]) key = hmacSha256(key, part);
  const signature = hmacSha256Hex(key, toSign);
  headers["authorization"] =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}
