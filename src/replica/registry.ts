/**
 * Turns a replica spec into a client. Backends are listed in one explicit
 * map; nothing registers itself as an import side effect.
 *
 * @module
 */

import type { ReplicaClient } from "./client.ts";
import { FileReplicaClient } from "./file/replica-client.ts";
import { S3ReplicaClient } from "./s3/replica-client.ts";
import type { ReplicaSpec } from "./spec.ts";

/** What every backend factory receives besides its spec. */
export interface ReplicaClientOptions {
  /** Environment for credentials and region (`LITEFLEET_*`, `AWS_*`). */
  readonly env: Record<string, string | undefined>;
}

type Factories = {
  readonly [T in ReplicaSpec["type"]]: (
    spec: Extract<ReplicaSpec, { type: T }>,
    options: ReplicaClientOptions,
  ) => ReplicaClient;
};

/** Every backend, by spec `type`. */
const FACTORIES: Factories = {
  file: (spec) => new FileReplicaClient(spec),
  s3: (spec, options) => new S3ReplicaClient(spec, { env: options.env }),
};

/**
 * Creates the client for a replica spec. No I/O happens; call `init()` to
 * check the storage.
 *
 * @throws {TypeError} when `spec.type` names no known backend
 * @throws {ReplicaError} when an S3 credential pair is half set
 *
 * @example
 * ```ts
 * const client = createReplicaClient({ type: "file", path: "/backups/app" }, { env: process.env });
 * ```
 */
export function createReplicaClient(spec: ReplicaSpec, options: ReplicaClientOptions): ReplicaClient {
  const type: unknown = spec.type;
  if (typeof type !== "string" || !Object.hasOwn(FACTORIES, type)) {
    throw new TypeError(`Cannot create replica client: unknown replica type '${String(type)}'`);
  }
  // TypeScript cannot correlate `spec` with `FACTORIES[spec.type]`; the
  // `Factories` type guarantees each factory gets its own spec type.
  const factory = FACTORIES[spec.type] as (spec: ReplicaSpec, options: ReplicaClientOptions) => ReplicaClient;
  return factory(spec, options);
}
