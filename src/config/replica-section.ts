/**
 * The replica part of a database entry: `replica:` (one) or `replicas:` (a
 * list), each given by `url` or by `type` + `path` / `bucket`, plus S3
 * settings, credentials and the upload policy keys (`upload-policy.ts`).
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { ReplicaSpec, S3ReplicaSpec } from "../replica/spec.ts";
import { checkS3Endpoint, checkS3Region, parseReplicaUrl } from "../replica/url.ts";
import { configError, fieldPath, type MapReader, resolvePath } from "./map-reader.ts";
import type { ReplicaConfig } from "./schema.ts";
import type { VariableLookup } from "./expand.ts";
import { readUploadLayer, resolveUpload, type ResolvedUpload, UPLOAD_KEYS, type UploadLayer } from "./upload-policy.ts";

/** An access key pair from the config. */
export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What replica parsing needs from the enclosing config. */
export interface ReplicaContext {
  /** Absolute directory relative replica paths resolve against. */
  readonly base: string;
  /** Variable lookup, for `~` in URLs given as plain paths. */
  readonly lookup: VariableLookup;
  /** Top-level `access-key-id` / `secret-access-key`, the default for S3 replicas. */
  readonly credentials: Credentials | undefined;
  /** The top-level `upload:` section, the defaults of every replica's upload keys. */
  readonly upload: UploadLayer | undefined;
}

/** Keys accepted in a replica entry. */
export const REPLICA_KEYS = [
  "type",
  "name",
  "url",
  "path",
  "bucket",
  "endpoint",
  "region",
  "force-path-style",
  "skip-verify",
  "access-key-id",
  "secret-access-key",
  ...UPLOAD_KEYS,
] as const;

/** Keys that only make sense for S3 replicas. */
const S3_ONLY_KEYS = [
  "bucket",
  "endpoint",
  "region",
  "force-path-style",
  "skip-verify",
  "access-key-id",
  "secret-access-key",
] as const;

const NOT_SUPPORTED = "is a Litestream setting that litefleet does not support";

/** Litestream replica keys that litefleet rejects with an explanation rather than a suggestion. */
const LITESTREAM_ONLY: Readonly<Record<string, string>> = Object.fromEntries(
  [
    "retention",
    "retention-check-interval",
    "snapshot-interval",
    "validation-interval",
    "max-sync-ltx-files",
    "auto-recover",
    "sign-payload",
    "require-content-md5",
    "storage-class",
    "part-size",
    "concurrency",
    "sse-customer-algorithm",
    "sse-customer-key",
    "sse-customer-key-path",
    "sse-kms-key-id",
    "age",
    "account-name",
    "account-key",
    "host",
    "user",
    "password",
    "key-path",
  ].map((key) => [key, NOT_SUPPORTED]),
);

/** litefleet keys that belong elsewhere than on a replica. */
const ELSEWHERE: Readonly<Record<string, string>> = {
  upload: "is only supported at the top level (give its keys, e.g. 'min-interval', directly on the replica)",
  spool: "is only supported at the top level and on each database",
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Reads an `access-key-id` / `secret-access-key` pair; both or neither.
 *
 * @param r the mapping holding the keys
 * @returns the pair, or `undefined` when neither is given
 * @throws {ConfigError} when only one of the two is given
 */
export function readCredentials(r: MapReader): Credentials | undefined {
  const accessKeyId = r.string("access-key-id");
  const secretAccessKey = r.string("secret-access-key");
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    const [missing, given] =
      accessKeyId === undefined ? ["access-key-id", "secret-access-key"] : ["secret-access-key", "access-key-id"];
    const field = fieldPath(r.field, missing);
    throw configError(field, `missing key '${field}' (required with '${fieldPath(r.field, given)}')`);
  }
  return { accessKeyId, secretAccessKey };
}

/**
 * Reads the replicas of one database entry (`replica:` or `replicas:`) and
 * names them.
 *
 * @param db the database entry
 * @param ctx base directory, variable lookup and global credentials
 * @returns at least one replica, names unique within the database
 * @throws {ConfigError} for any invalid replica setting
 */
export function readReplicas(db: MapReader, ctx: ReplicaContext): ReplicaConfig[] {
  const single = db.map("replica");
  const list = db.list("replicas");
  if (single !== undefined && list !== undefined) {
    throw configError(db.field, `'${db.field}' has both 'replica' and 'replicas' (use one)`);
  }
  const readers = single !== undefined ? [single] : (list ?? []).map((_, i) => db.item("replicas", i));
  if (readers.length === 0) {
    throw configError(fieldPath(db.field, "replica"), `'${db.field}' has no replica (add 'replica:' with a 'url')`);
  }
  const read = readers.map((r) => {
    r.checkKeys(REPLICA_KEYS, { ...LITESTREAM_ONLY, ...ELSEWHERE });
    return { r, name: readName(r), ...readReplica(r, ctx) };
  });
  const unnamedPerType = new Map<string, number>();
  for (const { name, spec } of read) {
    if (name === undefined) unnamedPerType.set(spec.type, (unnamedPerType.get(spec.type) ?? 0) + 1);
  }
  const explicit = new Set(read.flatMap(({ name }) => (name === undefined ? [] : [name])));
  const taken = new Set<string>();
  return read.map(({ r, name, spec, upload }, i) => {
    const generated = name === undefined;
    let finalName = name ?? spec.type;
    if (generated && ((unnamedPerType.get(spec.type) ?? 0) > 1 || explicit.has(finalName))) {
      finalName = `${spec.type}-${i}`;
    }
    if (taken.has(finalName)) {
      const field = generated ? r.field : fieldPath(r.field, "name");
      throw configError(
        field,
        `'${field}' repeats the replica name '${finalName}' (give each replica a unique 'name')`,
      );
    }
    taken.add(finalName);
    return { name: finalName, spec, ...upload };
  });
}

function readName(r: MapReader): string | undefined {
  const name = r.string("name");
  if (name !== undefined && !NAME.test(name)) {
    const field = fieldPath(r.field, "name");
    throw configError(field, `'${field}' may only contain letters, digits, '.', '-' and '_': received '${name}'`, {
      value: name,
    });
  }
  return name;
}

function readReplica(r: MapReader, ctx: ReplicaContext): { spec: ReplicaSpec; upload: ResolvedUpload } {
  const upload = resolveUpload(ctx.upload, readUploadLayer(r));
  const type = r.oneOf("type", ["file", "s3"]);
  const url = r.string("url");
  let spec: ReplicaSpec;
  if (url !== undefined) {
    for (const key of ["path", "bucket"]) {
      if (r.has(key)) {
        const field = fieldPath(r.field, key);
        throw configError(field, `'${field}' cannot be given with '${fieldPath(r.field, "url")}' (put it in the URL)`);
      }
    }
    spec = specFromUrl(r, url, ctx);
    if (type !== undefined && type !== spec.type) {
      const field = fieldPath(r.field, "type");
      throw configError(
        field,
        `'${field}' is '${type}' but '${fieldPath(r.field, "url")}' is ${spec.type === "s3" ? "an s3" : "a file"} URL`,
        {
          value: type,
        },
      );
    }
  } else if (type === "s3") {
    spec = { type: "s3", bucket: readBucket(r), path: (r.string("path") ?? "").replace(/^\/+|\/+$/g, "") };
  } else {
    if (type === undefined && r.has("bucket")) {
      const field = fieldPath(r.field, "type");
      throw configError(field, `missing key '${field}' (add 'type: s3' to use 'bucket')`);
    }
    const path = r.path("path", ctx.base);
    if (path === undefined) {
      const field = fieldPath(r.field, "path");
      throw configError(
        field,
        `missing key '${field}' (a replica needs 'url', a 'path', or 'type: s3' with a 'bucket')`,
      );
    }
    spec = { type: "file", path };
  }
  if (spec.type === "file") {
    const s3Key = S3_ONLY_KEYS.find((key) => r.has(key));
    if (s3Key !== undefined) {
      const field = fieldPath(r.field, s3Key);
      throw configError(field, `'${field}' applies only to s3 replicas`);
    }
    return { spec, upload };
  }
  return { spec: withS3Settings(r, spec, ctx), upload };
}

function specFromUrl(r: MapReader, url: string, ctx: ReplicaContext): ReplicaSpec {
  const field = fieldPath(r.field, "url");
  // A plain path in `url` gets the same `~` handling as `path`.
  const target =
    url === "~" || url.startsWith("~/") ? resolvePath(url, { base: ctx.base, field, lookup: ctx.lookup }) : url;
  try {
    return parseReplicaUrl(target, { cwd: ctx.base });
  } catch (cause) {
    const reason = errorMessage(cause);
    throw configError(field, `'${field}' is invalid: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
      cause,
    });
  }
}

function readBucket(r: MapReader): string {
  const bucket = r.string("bucket");
  const field = fieldPath(r.field, "bucket");
  if (bucket === undefined) throw configError(field, `missing key '${field}' (required for type 's3')`);
  if (!/^[A-Za-z0-9._-]+$/.test(bucket)) {
    throw configError(field, `'${field}' may only contain letters, digits, '.', '-' and '_': received '${bucket}'`, {
      value: bucket,
    });
  }
  return bucket;
}

/** Applies S3 keys on top of the URL's settings (keys win, as in Litestream) and credentials. */
function withS3Settings(r: MapReader, base: S3ReplicaSpec, ctx: ReplicaContext): S3ReplicaSpec {
  const spec: { -readonly [K in keyof S3ReplicaSpec]: S3ReplicaSpec[K] } = { ...base };
  const endpoint = checked(r, "endpoint", checkS3Endpoint);
  const region = checked(r, "region", checkS3Region);
  const forcePathStyle = r.boolean("force-path-style");
  const skipVerify = r.boolean("skip-verify");
  if (endpoint !== undefined) spec.endpoint = endpoint;
  if (region !== undefined) spec.region = region;
  if (skipVerify !== undefined) spec.skipVerify = skipVerify;
  if (forcePathStyle !== undefined) spec.forcePathStyle = forcePathStyle;
  // A custom endpoint (MinIO, R2, s3rver) almost always needs path-style addressing.
  else if (spec.endpoint !== undefined && spec.forcePathStyle === undefined) spec.forcePathStyle = true;
  const credentials = readCredentials(r) ?? ctx.credentials;
  if (credentials !== undefined) {
    spec.accessKeyId = credentials.accessKeyId;
    spec.secretAccessKey = credentials.secretAccessKey;
  }
  return spec;
}

function checked(r: MapReader, key: string, check: (value: string) => string): string | undefined {
  const value = r.string(key);
  if (value === undefined) return undefined;
  try {
    return check(value);
  } catch (cause) {
    const field = fieldPath(r.field, key);
    const reason = errorMessage(cause);
    throw configError(field, `'${field}' is invalid: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
      value,
      cause,
    });
  }
}
