/**
 * litefleet as the benchmark runs it: the single compiled binary users run
 * (`bun build --compile`), its config, and how to start it and restore
 * from it.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { baseEnv, runCommand, type AgentLaunch, type S3Target } from "./agent-process.ts";
import type { TrackChild } from "./process-guard.ts";

/** Root of this repository. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** One litefleet agent in the benchmark. */
export interface LitefleetAgentSpec {
  /** Agent name, e.g. `lf-60s`. */
  readonly name: string;
  /** Database file. */
  readonly dbPath: string;
  /** Key prefix in the bucket, e.g. `lf-60s/app.db`. */
  readonly prefix: string;
  /** Replica `sync-interval`, e.g. `60s`. */
  readonly syncInterval: string;
  /** Database `monitor-interval`, e.g. `1s`. */
  readonly monitorInterval: string;
}

/** Config keys that depend on the parser's current state. */
export interface LitefleetConfigKeys {
  /**
   * Write `status: {addr: ""}` and `levels:`. Needed since the status
   * server exists (several agents would compete for its default port);
   * switch it off only for a build whose parser rejects these keys.
   */
  readonly emitStatusAndLevels: boolean;
  /** Compaction level intervals for `levels:` (e.g. `["15m", "3h"]`); empty = compaction off. */
  readonly levels: readonly string[];
}

/** Returns the replica URL of `spec`: `s3://<bucket>/<prefix>?endpoint=<endpoint>`. */
export function litefleetReplicaUrl(spec: Pick<LitefleetAgentSpec, "prefix">, s3: S3Target): string {
  return `s3://${s3.bucket}/${spec.prefix}?endpoint=${s3.endpoint}`;
}

/** Returns litefleet's config file text for one database and one S3 replica. */
export function litefleetConfigYaml(spec: LitefleetAgentSpec, s3: S3Target, keys: LitefleetConfigKeys): string {
  const config: Record<string, unknown> = {};
  if (keys.emitStatusAndLevels) {
    // No status server: three agents run side by side and would share its port.
    config["status"] = { addr: "" };
    config["levels"] = keys.levels.map((interval) => ({ interval }));
  }
  config["dbs"] = [
    {
      path: spec.dbPath,
      "monitor-interval": spec.monitorInterval,
      replica: {
        url: litefleetReplicaUrl(spec, s3),
        "access-key-id": s3.accessKeyId,
        "secret-access-key": s3.secretAccessKey,
        "sync-interval": spec.syncInterval,
      },
    },
  ];
  return stringify(config);
}

/**
 * Compiles `src/cli/main.ts` into a single binary at `outFile` with
 * `bun build --compile`, as `npm run build` does.
 *
 * @throws {Error} when the build fails; the message includes bun's output
 */
export async function buildLitefleet(outFile: string, track: TrackChild): Promise<void> {
  const argv = [process.execPath, "build", "--compile", join(REPO_ROOT, "src/cli/main.ts"), "--outfile", outFile];
  const { code, output } = await runCommand(argv, { env: { ...baseEnv() }, timeoutMs: 300_000, track });
  if (code !== 0) throw new Error(`Cannot build litefleet: '${argv.join(" ")}' exited with ${code}\n${output}`);
}

/** Environment of a litefleet child: credentials for restores and a user-agent token for attribution. */
export function litefleetEnv(s3: S3Target, userAgentToken: string | undefined): Record<string, string> {
  return {
    ...baseEnv(),
    LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId,
    LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: "us-east-1",
    // The AWS SDK appends `app/<id>` to its user agent, which attributes
    // requests without a key or list prefix (HeadBucket, DeleteObjects).
    ...(userAgentToken === undefined ? {} : { AWS_SDK_UA_APP_ID: userAgentToken }),
  };
}

/** Returns how to run `litefleet replicate --config FILE`. */
export function litefleetLaunch(binary: string, configPath: string, spec: LitefleetAgentSpec, s3: S3Target, logPath: string): AgentLaunch {
  return {
    name: spec.name,
    argv: [binary, "replicate", "--config", configPath],
    env: litefleetEnv(s3, spec.name),
    logPath,
    // Logged once the database is open and each replica's position is known.
    readyText: "capture started",
  };
}

/** Returns `litefleet restore -o OUTPUT REPLICA_URL`. */
export function litefleetRestoreArgv(binary: string, url: string, output: string): string[] {
  return [binary, "restore", "-o", output, url];
}
