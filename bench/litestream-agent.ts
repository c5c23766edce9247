/**
 * Litestream v0.3.13, the baseline: where its binary is, its config, and
 * how to start it and restore from it.
 *
 * The binary comes from the npm package `@flydotio/litestream` (a
 * devDependency), whose per-platform optional dependency
 * `@flydotio/litestream-<platform>-<arch>` holds the Go binary itself. The
 * package's `litestream` bin is a Node wrapper that spawns that binary, so
 * the benchmark runs the binary directly: the process it measures must be
 * Litestream, not the wrapper.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { baseEnv, type AgentLaunch, type S3Target } from "./agent-process.ts";

/** The Litestream version the baseline is pinned to. */
export const LITESTREAM_VERSION = "v0.3.13";

/** Printed when the binary is missing. */
export const LITESTREAM_INSTALL_HINT =
  "install it with 'npm install' (devDependency @flydotio/litestream@1.0.1, which pulls the " +
  "@flydotio/litestream-<platform>-<arch> binary package; npm skips it with --omit=optional or on an unsupported platform)";

/** One database of a Litestream agent, with its one S3 replica. */
export interface LitestreamDbSpec {
  /** Database file. */
  readonly dbPath: string;
  /** Key prefix in the bucket, e.g. `ls-1s/app.db`. */
  readonly prefix: string;
  /** Litestream `sync-interval`, e.g. `1s`. */
  readonly syncInterval: string;
  /** Litestream `monitor-interval`, e.g. `1s` (its default). */
  readonly monitorInterval: string;
}

/** One Litestream agent in the benchmark that replicates one database. */
export interface LitestreamAgentSpec extends LitestreamDbSpec {
  /** Agent name, e.g. `ls-1s`. */
  readonly name: string;
}

/**
 * Returns the path of the Litestream binary shipped by
 * `@flydotio/litestream-<platform>-<arch>`, or `undefined` when it is not
 * installed.
 */
export function findLitestreamBinary(): string | undefined {
  const pkg = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    const path = join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), "litestream");
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** Returns Litestream's config file text for `dbs`, each with one S3 replica. */
export function litestreamConfigYaml(dbs: readonly LitestreamDbSpec[], s3: S3Target): string {
  return stringify({
    dbs: dbs.map((spec) => ({
      path: spec.dbPath,
      "monitor-interval": spec.monitorInterval,
      replicas: [
        {
          type: "s3",
          bucket: s3.bucket,
          path: spec.prefix,
          endpoint: s3.endpoint,
          region: "us-east-1",
          "force-path-style": true,
          "access-key-id": s3.accessKeyId,
          "secret-access-key": s3.secretAccessKey,
          "sync-interval": spec.syncInterval,
        },
      ],
    })),
  });
}

/** Returns how to run `litestream replicate -config FILE` (ready once its first replica is). */
export function litestreamLaunch(
  binary: string,
  configPath: string,
  spec: Pick<LitestreamAgentSpec, "name">,
  logPath: string,
): AgentLaunch {
  return {
    name: spec.name,
    argv: [binary, "replicate", "-config", configPath],
    env: baseEnv(),
    logPath,
    // Logged per replica, once its database is open and the replica configured.
    readyText: "replicating to",
  };
}

/** Returns `litestream restore -o OUTPUT -config FILE DB_PATH`. */
export function litestreamRestoreArgv(binary: string, configPath: string, dbPath: string, output: string): string[] {
  return [binary, "restore", "-o", output, "-config", configPath, dbPath];
}
