/**
 * Where `litefleet aggregate` puts its Parquet export: a local directory or
 * an S3 prefix, laid out in hive partitions,
 * `device_id=<device>/<table>/part-00000.parquet`. Every file belongs to one
 * device, so a device's export can be replaced without touching the others.
 *
 * @module
 */

import { FileObjectStore } from "../replica/file/object-store.ts";
import { S3ObjectStore } from "../replica/s3/object-store.ts";
import { parseReplicaUrl } from "../replica/url.ts";

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
  return new StoreParquetSink(
    spec.type === "file" ? new FileObjectStore(spec.path) : new S3ObjectStore(spec, { env: options.env }),
  );
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

/**
 * A sink over an object store: a local directory (created on the first
 * write, temp file and rename) or an S3 prefix (one PutObject with
 * `Content-MD5`, failures mapped by the S3 error mapper).
 */
class StoreParquetSink implements ParquetSink {
  readonly location: string;
  readonly #store: FileObjectStore | S3ObjectStore;
  /** For messages: the directory, or `s3://bucket/prefix` without the endpoint. */
  readonly #name: string;

  constructor(store: FileObjectStore | S3ObjectStore) {
    this.#store = store;
    this.location = store.location;
    this.#name = store instanceof S3ObjectStore ? store.url : store.location;
  }

  async write(relPath: string, bytes: Uint8Array): Promise<void> {
    checkRelPath(relPath, this.location);
    const key = this.#store instanceof S3ObjectStore ? this.#store.fullKey(relPath) : relPath;
    await this.#store.put(relPath, bytes, { action: `write '${key}' to '${this.#name}'` });
  }

  async removeDevice(deviceId: string): Promise<void> {
    await this.#store.deletePrefix(`${deviceDir(deviceId)}/`, {
      action: `remove device '${deviceId}' from '${this.#name}'`,
    });
  }
}
