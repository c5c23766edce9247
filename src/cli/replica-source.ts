/**
 * Turns a `DB_PATH|REPLICA_URL` argument into a replica client, as
 * `restore` and `ltx` accept it: a URL (`s3://`, `file://`), a configured
 * database path, or one a directory entry claims (its first replica, or
 * `--replica NAME`), or a directory holding a file replica.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { findConfiguredDb } from "../config/dir-entry.ts";
import type { Config, DbConfig } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import type { ReplicaClient } from "../replica/client.ts";
import { createReplicaClient } from "../replica/registry.ts";
import { isReplicaUrl, parseReplicaUrl } from "../replica/url.ts";
import type { CliIo } from "./io.ts";

/** The resolved source. */
export interface ReplicaSource {
  readonly client: ReplicaClient;
  /** The configured database, when the argument named one. */
  readonly db: DbConfig | undefined;
}

/** Resolves `arg`; see the module documentation. */
export async function resolveReplicaSource(
  io: CliIo,
  arg: string,
  options: { config: Config | undefined; replica?: string | undefined },
): Promise<ReplicaSource> {
  if (isReplicaUrl(arg)) {
    let spec;
    try {
      spec = parseReplicaUrl(arg, { cwd: io.cwd });
    } catch (err) {
      if (err instanceof TypeError) throw new UsageError(err.message, "see docs/CONFIG.md for replica URL forms");
      throw err;
    }
    return { client: await createReplicaClient(spec, { env: io.env }), db: undefined };
  }
  const abs = resolve(io.cwd, arg);
  const db = options.config && findConfiguredDb(options.config, abs);
  if (db) {
    const replica =
      options.replica === undefined ? db.replicas[0] : db.replicas.find((r) => r.name === options.replica);
    if (!replica) {
      throw new UsageError(
        options.replica === undefined
          ? `Cannot use database '${abs}': it has no replica in the config`
          : `Cannot use database '${abs}': it has no replica named '${options.replica}'`,
        `configured replicas: ${db.replicas.map((r) => r.name).join(", ") || "none"}`,
      );
    }
    return { client: await createReplicaClient(replica.spec, { env: io.env }), db };
  }
  if (existsSync(join(abs, "ltx"))) {
    return { client: await createReplicaClient({ type: "file", path: abs }, { env: io.env }), db: undefined };
  }
  throw new UsageError(
    `Cannot find replica for '${arg}': it is not a replica URL, a database in the config, or a file replica directory`,
    "pass a replica URL such as s3://bucket/path or file:///dir, or --config with the database listed",
  );
}
