/**
 * Where `litefleet aggregate` puts its Parquet export: a local directory or
 * an S3 prefix, laid out in hive partitions,
 * `device_id=<device>/<table>/part-00000.parquet`. Every file belongs to one
 * device, so a device's export can be replaced without touching the others.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { ReplicaError } from "../errors.ts";
import { atomicWrite } from "../platform/atomic-write.ts";
import { S3ErrorMapper } from "../replica/s3-errors.ts";
import { s3Access } from "../replica/s3-sdk.ts";
import type { S3ReplicaSpec } from "../replica/spec.ts";
import { parseReplicaUrl } from "../replica/url.ts";

/** S3 allows at most 1000 keys per DeleteObjects request. */
const DELETE_BATCH_SIZE = 1000;

/**
 * A destination for Parquet files. Paths are relative, `/`-separated and
 * start with the device's partition directory (`deviceDir`).
 */
export interface ParquetSink {
  /** The directory, or `s3://bucket/prefix` followed by ` (endpoint)` for custom endpoints; never holds secrets. */
  readonly location: string;
  /**
   * Stores `bytes` at `relPath`, replacing any previous file there. A reader
   * sees the old file or the new one, never a partial one (temp file and
   * rename locally; a single PutObject on S3, so at most 5 GiB).
   * @throws {TypeError} when `relPath` is not `device_id=<id>/<segment>/…`
   */
  write(relPath: string, bytes: Uint8Array): Promise<void>;
  /**
   * Deletes every file under `device_id=<deviceId>/`; a device with no files
   * is not an error.
   * @throws {TypeError} when `deviceId` is not a valid path segment
   */
  removeDevice(deviceId: string): Promise<void>;
}

/**
 * Opens the sink for `target`: a directory path (relative to `options.cwd`),
 * `file:///abs/dir`, or `s3://bucket/prefix?endpoint=…&region=…` (credentials
 * from `options.env`, as for replicas; see `resolveS3Credentials`). Nothing is
 * created or contacted until the first call.
 *
 * @example
 * ```ts
 * const sink = createParquetSink("s3://lake/fleet?endpoint=http://127.0.0.1:9000", {
 *   cwd: process.cwd(),
 *   env: process.env,
 * });
 * await sink.removeDevice("edge-1");
 * ```
 *
 * @throws {TypeError} when `target` is not a valid directory or S3 URL
 * @throws {ReplicaError} when only half of an S3 credential pair is set
 */
export function createParquetSink(
  target: string,
  options: { cwd: string; env: Record<string, string | undefined> },
): ParquetSink {
  const spec = parseReplicaUrl(target, { cwd: options.cwd });
  return spec.type === "file" ? new FileParquetSink(spec.path) : new S3ParquetSink(spec, options.env);
}

/**
 * Checks that `value` can be one path segment of the export: not empty, not
 * `.` or `..`, and without `/`, `\`, `=` (which readers take for a hive
 * partition) or control characters.
 *
 * @param what what the value is, for the message (`device id`, `table name`)
 * @returns `value`, unchanged
 * @throws {TypeError} when it cannot
 */
export function pathSegment(what: string, value: string): string {
  if (!isPathSegment(value)) {
    throw new TypeError(
      `Cannot use ${what} '${value}' in a Parquet export path: it must be a non-empty name without '/', '\\', '=' or control characters, and not '.' or '..'`,
    );
  }
  return value;
}

function isPathSegment(value: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  return value !== "" && value !== "." && value !== ".." && !/[/\\=\u0000-\u001f\u007f]/.test(value);
}

/**
 * The hive partition directory of a device, `device_id=<deviceId>`.
 * @throws {TypeError} when `deviceId` is not a valid path segment (`pathSegment`)
 */
export function deviceDir(deviceId: string): string {
  return `device_id=${pathSegment("device id", deviceId)}`;
}

/** Checks the `write` contract: `device_id=<id>/<segment>/…/<segment>`. */
function checkRelPath(relPath: string, location: string): void {
  const [first = "", ...rest] = relPath.split("/");
  const device = first.startsWith("device_id=") ? first.slice("device_id=".length) : "";
  if (rest.length === 0 || ![device, ...rest].every(isPathSegment)) {
    throw new TypeError(
      `Cannot write Parquet file '${relPath}' to '${location}': the path must be 'device_id=<id>/<name>/…' with plain path segments`,
    );
  }
}

/** A local directory; created on the first write. */
class FileParquetSink implements ParquetSink {
  readonly location: string;

  constructor(dir: string) {
    this.location = dir;
  }

  async write(relPath: string, bytes: Uint8Array): Promise<void> {
    checkRelPath(relPath, this.location);
    const path = join(this.location, relPath);
    await mkdir(dirname(path), { recursive: true });
    await atomicWrite(path, bytes);
  }

  async removeDevice(deviceId: string): Promise<void> {
    await rm(join(this.location, deviceDir(deviceId)), { recursive: true, force: true });
  }
}

/**
 * An S3 prefix, through `s3Access` (path-style addressing for custom
 * endpoints, checksums only where S3 requires them; uploads carry
 * `Content-MD5`), failures mapped by `S3ErrorMapper`.
 */
class S3ParquetSink implements ParquetSink {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  /** `""` or `<prefix>/`. */
  readonly #keyPrefix: string;
  readonly #url: string;
  readonly #errors: S3ErrorMapper;

  constructor(spec: S3ReplicaSpec, env: Record<string, string | undefined>) {
    const s3 = s3Access(spec, { env });
    this.#client = s3.client;
    this.#bucket = s3.bucket;
    this.#keyPrefix = s3.prefix;
    this.#url = s3.location.replace(/\/$/, "");
    this.location = s3.customEndpoint ? `${this.#url} (${s3.endpoint})` : this.#url;
    this.#errors = new S3ErrorMapper({
      replica: this.location,
      bucket: spec.bucket,
      endpoint: s3.endpoint,
      customEndpoint: s3.customEndpoint,
      region: s3.region,
      credentials: s3.credentials,
    });
  }

  async write(relPath: string, bytes: Uint8Array): Promise<void> {
    checkRelPath(relPath, this.location);
    const key = this.#keyPrefix + relPath;
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      Body: bytes,
      ContentLength: bytes.byteLength,
      ContentMD5: createHash("md5").update(bytes).digest("base64"),
    });
    await this.#errors.call(`write '${key}' to '${this.#url}'`, (o) => this.#client.send(command, o));
  }

  async removeDevice(deviceId: string): Promise<void> {
    const prefix = `${this.#keyPrefix}${deviceDir(deviceId)}/`;
    const action = `remove device '${deviceId}' from '${this.#url}'`;
    // List everything first: deleting while paginating could shift the listing.
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: prefix,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      });
      const out = await this.#errors.call(action, (o) => this.#client.send(command, o));
      for (const obj of out.Contents ?? []) if (obj.Key !== undefined) keys.push(obj.Key);
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);

    for (let i = 0; i < keys.length; i += DELETE_BATCH_SIZE) {
      const command = new DeleteObjectsCommand({
        Bucket: this.#bucket,
        Delete: { Objects: keys.slice(i, i + DELETE_BATCH_SIZE).map((Key) => ({ Key })), Quiet: true },
      });
      const out = await this.#errors.call(action, (o) => this.#client.send(command, o));
      const failed = out.Errors?.[0];
      if (failed !== undefined) {
        throw new ReplicaError(
          `Cannot ${action}: S3 did not delete '${failed.Key}' (${[failed.Code, failed.Message].filter(Boolean).join(": ")})`,
          { replica: this.location, hint: `Check that the credentials allow s3:DeleteObject on bucket '${this.#bucket}'` },
        );
      }
    }
  }
}
