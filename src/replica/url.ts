/**
 * Replica URLs, as given on the command line (`litefleet replicate DB URL`)
 * or as `url:` in the config: `file:///abs/dir`, a plain directory path, or
 * `s3://bucket/prefix?endpoint=…&region=…&force-path-style=true&skip-verify=true`.
 *
 * @module
 */

import { posix } from "node:path";
import type { FileReplicaSpec, ReplicaSpec, S3ReplicaSpec } from "./spec.ts";

/** Options for {@linkcode parseReplicaUrl}. */
export interface ParseReplicaUrlOptions {
  /**
   * Absolute directory that a relative plain path is resolved against. Pure
   * code never reads the process's working directory; the caller passes it.
   * @default {"/"}
   */
  readonly cwd?: string;
}

/** Query parameters of an `s3://` URL, with their camelCase aliases. */
const S3_PARAMS: Readonly<Record<string, "endpoint" | "region" | "forcePathStyle" | "skipVerify">> =
  {
    endpoint: "endpoint",
    region: "region",
    "force-path-style": "forcePathStyle",
    forcePathStyle: "forcePathStyle",
    "skip-verify": "skipVerify",
    skipVerify: "skipVerify",
  };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * Parses a replica URL into a {@linkcode ReplicaSpec}.
 *
 * - `file:///abs/dir` or a plain path (`/abs/dir`, `rel/dir`, resolved
 *   against `options.cwd`) → a file replica.
 * - `s3://bucket/prefix/path` → an S3 replica; leading and trailing `/` are
 *   stripped from the prefix. Query parameters: `endpoint` (an `http://` or
 *   `https://` URL; implies path-style addressing unless
 *   `force-path-style=false`), `region`, `force-path-style` /
 *   `forcePathStyle`, `skip-verify` / `skipVerify` (`true` or `false`).
 *
 * Messages quote the URL without its query string or user info, so a secret
 * put in the URL by mistake is never echoed.
 *
 * @example
 * ```ts
 * parseReplicaUrl("s3://backups/edge/app?endpoint=http://127.0.0.1:9000");
 * // { type: "s3", bucket: "backups", path: "edge/app",
 * //   endpoint: "http://127.0.0.1:9000", forcePathStyle: true }
 * parseReplicaUrl("replica", { cwd: "/var/lib" }); // { type: "file", path: "/var/lib/replica" }
 * ```
 *
 * @param url the replica URL or path
 * @param options where relative paths are resolved
 * @returns the replica spec
 * @throws {TypeError} for an unsupported scheme, an empty or malformed URL,
 * credentials in the URL, an unknown or repeated query parameter, or a bad
 * parameter value
 */
export function parseReplicaUrl(url: string, options: ParseReplicaUrlOptions = {}): ReplicaSpec {
  const cwd = options.cwd ?? "/";
  if (!posix.isAbsolute(cwd)) {
    throw new TypeError(`Cannot use replica URL: the base directory '${cwd}' is not absolute`);
  }
  if (typeof url !== "string" || url.trim() === "") {
    throw new TypeError("Cannot use replica URL '': the URL is empty");
  }
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { type: "file", path: cleanDir(posix.resolve(cwd, url)) };
  if (scheme === "file") return parseFileUrl(url);
  if (scheme === "s3") return parseS3Url(url);
  throw new TypeError(
    `Cannot use replica URL '${displayUrl(url)}': scheme '${scheme}' is not supported (use file:// or s3://)`,
  );
}

/**
 * Returns `url` with user info and query string removed, safe to print.
 *
 * @param url a replica URL or path
 * @returns the URL as shown in messages and status output
 */
export function displayUrl(url: string): string {
  const noQuery = url.replace(/[?#].*$/s, "");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*@)/.exec(noQuery);
  return m === null ? noQuery : `${m[1]}***@${noQuery.slice(m[0].length)}`;
}

function parseFileUrl(url: string): FileReplicaSpec {
  const shown = displayUrl(url);
  if (/[?#]/.test(url)) {
    throw new TypeError(`Cannot use replica URL '${shown}': file URLs take no query or fragment`);
  }
  let rest = url.slice("file://".length);
  if (rest.startsWith("localhost/")) rest = rest.slice("localhost".length);
  if (!rest.startsWith("/")) {
    throw new TypeError(
      `Cannot use replica URL '${shown}': file URLs must hold an absolute path (e.g. 'file:///var/lib/replica'); use a plain path for a relative directory`,
    );
  }
  return { type: "file", path: cleanDir(posix.normalize(decode(rest, shown))) };
}

function parseS3Url(url: string): S3ReplicaSpec {
  const shown = displayUrl(url);
  const afterScheme = url.slice("s3://".length);
  const hashAt = afterScheme.indexOf("#");
  if (hashAt >= 0) {
    throw new TypeError(`Cannot use replica URL '${shown}': S3 URLs take no fragment`);
  }
  const queryAt = afterScheme.indexOf("?");
  const beforeQuery = queryAt >= 0 ? afterScheme.slice(0, queryAt) : afterScheme;
  const query = queryAt >= 0 ? afterScheme.slice(queryAt + 1) : "";
  const slashAt = beforeQuery.indexOf("/");
  const bucket = slashAt >= 0 ? beforeQuery.slice(0, slashAt) : beforeQuery;
  const rawPath = slashAt >= 0 ? beforeQuery.slice(slashAt + 1) : "";
  if (bucket.includes("@")) {
    throw new TypeError(
      `Cannot use replica URL '${shown}': credentials must not be put in the URL (use access-key-id and secret-access-key, or the environment)`,
    );
  }
  if (bucket === "") {
    throw new TypeError(`Cannot use replica URL '${shown}': the bucket name is missing (s3://BUCKET/prefix)`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(bucket)) {
    throw new TypeError(
      `Cannot use replica URL '${shown}': bucket '${bucket}' may only contain letters, digits, '.', '-' and '_'`,
    );
  }
  const spec: {
    -readonly [K in keyof S3ReplicaSpec]: S3ReplicaSpec[K];
  } = { type: "s3", bucket, path: trimSlashes(decode(rawPath, shown)) };
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(query)) {
    const field = S3_PARAMS[name];
    if (field === undefined) {
      throw new TypeError(
        `Cannot use replica URL '${shown}': unknown query parameter '${name}' (known: endpoint, region, force-path-style, skip-verify)`,
      );
    }
    if (seen.has(field)) {
      throw new TypeError(`Cannot use replica URL '${shown}': query parameter '${name}' is given more than once`);
    }
    seen.add(field);
    if (field === "endpoint") spec.endpoint = checkS3Endpoint(value);
    else if (field === "region") spec.region = checkS3Region(value);
    else spec[field] = parseBool(name, value, shown);
  }
  if (spec.endpoint !== undefined && spec.forcePathStyle === undefined) spec.forcePathStyle = true;
  return spec;
}

/**
 * Checks an S3 endpoint: an `http://` or `https://` URL without credentials.
 *
 * @param endpoint the endpoint as given
 * @returns the endpoint, unchanged
 * @throws {TypeError} when the endpoint is not such a URL
 */
export function checkS3Endpoint(endpoint: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(endpoint);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new TypeError(
      `Cannot use S3 endpoint '${displayUrl(endpoint)}': it must be an http:// or https:// URL (e.g. 'http://127.0.0.1:9000')`,
    );
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError(
      `Cannot use S3 endpoint '${displayUrl(endpoint)}': it must not hold credentials`,
    );
  }
  return endpoint;
}

/**
 * Checks an S3 region name (`us-east-1`, `auto`).
 *
 * @param region the region as given
 * @returns the region, unchanged
 * @throws {TypeError} when the region is empty or has characters other than letters, digits and '-'
 */
export function checkS3Region(region: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(region)) {
    throw new TypeError(
      `Cannot use S3 region '${region}': it may only contain letters, digits and '-'`,
    );
  }
  return region;
}

function parseBool(name: string, value: string, shown: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new TypeError(
    `Cannot use replica URL '${shown}': query parameter '${name}' must be 'true' or 'false', received '${value}'`,
  );
}

function decode(text: string, shown: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw new TypeError(`Cannot use replica URL '${shown}': the path has a malformed percent-escape`, {
      cause,
    });
  }
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/** Drops a trailing `/` (except for the root) so equal directories compare equal. */
function cleanDir(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
