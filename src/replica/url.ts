/**
 * Replica URLs, as given on the command line (`litefleet replicate DB URL`)
 * or as `url:` in the config: `file:///abs/dir`, a plain directory path, or
 * `s3://bucket/prefix?endpoint=…&region=…&force-path-style=true&skip-verify=true`.
 *
 * A plain path never starts with `word:` or `s3//` / `file//`: those are
 * mistyped URLs (`s3:/lake/x`, `s3//lake/x`, `file:/data/x`) and are
 * rejected with the URL that was probably meant, rather than becoming a
 * directory named `s3:` under the working directory (issue #12). A directory
 * whose name really starts so is written `./s3:odd`.
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
const S3_PARAMS: Readonly<Record<string, "endpoint" | "region" | "forcePathStyle" | "skipVerify">> = {
  endpoint: "endpoint",
  region: "region",
  "force-path-style": "forcePathStyle",
  forcePathStyle: "forcePathStyle",
  "skip-verify": "skipVerify",
  skipVerify: "skipVerify",
};

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** A scheme and a colon not followed by `//` (`s3:/x`, `file:x`, `gs:b`). */
const SCHEME_WITHOUT_SLASHES = /^([A-Za-z][A-Za-z0-9+.-]*):(?!\/\/)/;
/** `s3` or `file` followed by `//` without the colon (`s3//lake/x`). */
const SCHEME_WITHOUT_COLON = /^(s3|file)\/\//i;

/**
 * Whether `arg` is meant as a URL rather than a plain path: it starts with
 * `scheme://`, or with one of the mistyped forms {@linkcode parseReplicaUrl}
 * rejects (`s3:/x`, `s3//x`, `file:x`). The CLI uses it to tell a replica URL
 * from a database path before looking the path up in the config.
 *
 * @param arg a command-line argument
 * @returns true when `arg` is to be parsed with {@linkcode parseReplicaUrl}
 */
export function isReplicaUrl(arg: string): boolean {
  return SCHEME.test(arg) || SCHEME_WITHOUT_SLASHES.test(arg) || SCHEME_WITHOUT_COLON.test(arg);
}

/**
 * Parses a replica URL into a {@linkcode ReplicaSpec}.
 *
 * - `file:///abs/dir` or a plain path (`/abs/dir`, `rel/dir`, resolved
 *   against `options.cwd`) → a file replica. Schemes are case-insensitive
 *   (`S3://` is `s3://`).
 * - A mistyped URL (`s3:/lake/x`, `s3:lake/x`, `s3//lake/x`, `file:/data/x`,
 *   `file:data`, any other `word:…`) is an error whose message names the URL
 *   that was probably meant, never a directory.
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
 * @throws {TypeError} for an unsupported scheme, an empty, malformed or
 * mistyped URL, credentials in the URL, an unknown or repeated query
 * parameter, or a bad parameter value
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
  if (scheme === undefined) {
    rejectMistypedUrl(url);
    return { type: "file", path: cleanDir(posix.resolve(cwd, url)) };
  }
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
  // `\/*`, not `\/\/`: user info in a mistyped `s3:/key:secret@b` is hidden too.
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/*)([^/]*@)/.exec(noQuery);
  return m === null ? noQuery : `${m[1]}***@${noQuery.slice(m[0].length)}`;
}

/**
 * Throws for a plain path that is a mistyped URL (see the module
 * documentation), naming what was probably meant.
 */
function rejectMistypedUrl(url: string): void {
  const shown = displayUrl(url);
  const m = SCHEME_WITHOUT_COLON.exec(shown) ?? SCHEME_WITHOUT_SLASHES.exec(shown);
  if (m === null) return;
  const typed = m[1] ?? "";
  // `s3//x` and `file//x` lost the colon; `s3:x` and `file:/x` lost slashes.
  const lostColon = m[0].endsWith("//");
  const rest = shown.slice(m[0].length);
  const path = rest.replace(/^\/+/, "");
  switch (typed.toLowerCase()) {
    case "s3":
      throw new TypeError(
        `Cannot use replica URL '${shown}': an S3 URL starts with 's3://' (${path === "" ? "s3://BUCKET/prefix" : `did you mean 's3://${path}'?`})`,
      );
    case "file": {
      const meant =
        path === ""
          ? "e.g. 'file:///var/lib/replica'"
          : lostColon || rest.startsWith("/")
            ? `did you mean 'file:///${path}'?`
            : `did you mean the relative directory './${rest}'?`;
      throw new TypeError(
        `Cannot use replica URL '${shown}': a file URL is 'file:///' followed by an absolute path (${meant})`,
      );
    }
    default:
      throw new TypeError(
        `Cannot use replica URL '${shown}': '${typed}:' is not a supported scheme (use s3://bucket/prefix or file:///dir; write './${shown}' for a directory whose name has a colon)`,
      );
  }
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
      `Cannot use replica URL '${shown}': file URLs must hold an absolute path (e.g. 'file:///var/lib/replica'); use a plain path for a relative directory (did you mean 'file:///${shown.slice("file://".length)}'?)`,
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
    const rest = trimSlashes(beforeQuery);
    const meant = rest === "" ? "s3://BUCKET/prefix" : `did you mean '${displayUrl(`s3://${rest}`)}'?`;
    throw new TypeError(`Cannot use replica URL '${shown}': the bucket name is missing (${meant})`);
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
    throw new TypeError(`Cannot use S3 endpoint '${displayUrl(endpoint)}': it must not hold credentials`);
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
    throw new TypeError(`Cannot use S3 region '${region}': it may only contain letters, digits and '-'`);
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
