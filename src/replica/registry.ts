/**
 * Turns a replica spec into a client. Backends are listed in one explicit
 * map; nothing registers itself as an import side effect.
 *
 * The S3 backend (the SigV4 client and XML reader) is
 * imported only when an S3 client is created, so a run with file replicas
 * never loads it (issue #13); the factory is async for that reason.
 *
 * @module
 */

import type { ReplicaClient } from "./client.ts";
import { FileReplicaClient } from "./file/replica-client.ts";
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
  ) => ReplicaClient | Promise<ReplicaClient>;
};

/** Every backend, by spec `type`. */
const FACTORIES: Factories = {
  file: (spec) => new FileReplicaClient(spec),
  s3: async (spec, options) => {
    // A literal specifier: `bun build --compile` bundles it, and evaluates it only here.
    const { S3ReplicaClient } = await import("./s3/replica-client.ts");
    return new S3ReplicaClient(spec, { env: options.env });
  },
};

/**
 * Creates the client for a replica spec, loading its backend's module on
 * first use. No I/O to the storage happens; call `init()` to check it.
 *
 * @throws {TypeError} when `spec.type` names no known backend
 * @throws {ReplicaError} when an S3 credential pair is half set
 *
 * @example
 * ```ts
 * const client = await createReplicaClient({ type: "file", path: "/backups/app" }, { env: process.env });
 * ```
 */
export async function createReplicaClient(spec: ReplicaSpec, options: ReplicaClientOptions): Promise<ReplicaClient> {
  const type: unknown = spec.type;
  if (typeof type !== "string" || !Object.hasOwn(FACTORIES, type)) {
    throw new TypeError(`Cannot create replica client: unknown replica type '${String(type)}'`);
  }
  // TypeScript cannot correlate `spec` with `FACTORIES[spec.type]`; the
  // `Factories` type guarantees each factory gets its own spec type.
  const factory = FACTORIES[spec.type] as (
    spec: ReplicaSpec,
    options: ReplicaClientOptions,
  ) => ReplicaClient | Promise<ReplicaClient>;
  return await factory(spec, options);
}
