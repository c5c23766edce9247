/**
 * A replica in an S3 (or S3-compatible) bucket:
 * `<prefix>/<level %04x>/<min>-<max>.ltx`, with the LTX timestamp in the
 * object metadata `litestream-timestamp` (Litestream v0.5 layout), as a
 * layout over `S3ObjectStore`.
 *
 * @module
 */

import type { LtxFileInfo, SignalOptions } from "../client.ts";
import { s3LevelPrefix } from "../layout.ts";
import { LtxReplicaClient } from "../ltx-replica-client.ts";
import type { S3ReplicaSpec } from "../spec.ts";
import { S3ObjectStore, type S3ObjectStoreOptions } from "./object-store.ts";

/** Options for `S3ReplicaClient` beyond the replica spec (see `S3ObjectStoreOptions`). */
export type S3ReplicaClientOptions = S3ObjectStoreOptions;

/** `<level %04x>/`: the key prefix of one level under the replica's prefix. */
function levelPrefix(level: number): string {
  return s3LevelPrefix("", level);
}

/**
 * Stores LTX files in an S3 bucket. Small files are one PutObject with
 * `Content-MD5`; files larger than `partSize` are multipart uploads read
 * from the body part by part. Every failure is mapped the same way
 * (`S3ErrorMapper`): a missing object becomes `NotFoundError`, a missing
 * bucket, bad credentials or an unreachable endpoint become `ReplicaError`
 * with a hint, and aborts pass through.
 *
 * @example
 * ```ts
 * const client = new S3ReplicaClient({ type: "s3", bucket: "backups", path: "app" }, { env: process.env });
 * await client.init();
 * ```
 */
export class S3ReplicaClient extends LtxReplicaClient {
  /**
   * Creates a client; no request is made until a method is called.
   * @throws {RangeError} when `partSize` is below 5 MiB or `maxAttempts` or `requestTimeoutMs` is not a positive integer
   * @throws {ReplicaError} when only half of a credential pair is set
   */
  constructor(spec: S3ReplicaSpec, options: S3ReplicaClientOptions) {
    const store = new S3ObjectStore(spec, options);
    const url = store.url;
    super(
      store,
      { levelPrefix, parseLevel: (dir) => (/^[0-9a-f]{4}$/.test(dir) ? parseInt(dir, 16) : undefined) },
      {
        listLevel: (level) => `list level '${level}' of replica '${url}'`,
        listAll: () => `list replica '${url}'`,
        deleteFiles: (count) => `delete ${count} LTX files from replica '${url}'`,
      },
    );
  }

  /** Every level in one listing of the prefix: one request per 1,000 files instead of one per level. */
  listAllLevels(options: SignalOptions = {}): AsyncIterable<LtxFileInfo> {
    return this.listEveryLevel(options);
  }
}
