/**
 * litefleet as the benchmark runs it: the single compiled binary users run
 * (`bun build --compile`), its config, and how to start it and restore
 * from it.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { baseEnv, runCommand, type AgentLaunch, type S3Target } from "./agent-process.ts";
import type { TrackChild } from "./process-guard.ts";

/** Root of this repository. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** One database of a litefleet agent, with its one S3 replica. */
export interface LitefleetDbSpec {
  /** Database file. */
  readonly dbPath: string;
  /** Key prefix in the bucket, e.g. `lf-60s/app.db`. */
  readonly prefix: string;
  /** Replica `sync-interval`, e.g. `60s`; undefined = no upload key (litefleet's default upload policy). */
  readonly syncInterval: string | undefined;
  /** Database `monitor-interval`, e.g. `1s`. */
  readonly monitorInterval: string;
}

/** One litefleet agent in the benchmark that replicates one database. */
export interface LitefleetAgentSpec extends LitefleetDbSpec {
  /** Agent name, e.g. `lf-60s`. */
  readonly name: string;
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

/** Returns litefleet's config file text for `dbs`, each with one S3 replica. */
export function litefleetConfigYaml(dbs: readonly LitefleetDbSpec[], s3: S3Target, keys: LitefleetConfigKeys): string {
  const config: Record<string, unknown> = {};
  if (keys.emitStatusAndLevels) {
    // No status server: several agents may run side by side and would share its port.
    config["status"] = { addr: "" };
    config["levels"] = keys.levels.map((interval) => ({ interval }));
  }
  config["dbs"] = dbs.map((spec) => ({
    path: spec.dbPath,
    "monitor-interval": spec.monitorInterval,
    replica: {
      url: litefleetReplicaUrl(spec, s3),
      "access-key-id": s3.accessKeyId,
      "secret-access-key": s3.secretAccessKey,
      ...(spec.syncInterval === undefined ? {} : { "sync-interval": spec.syncInterval }),
    },
  }));
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

/** A litefleet binary to measure and how it was made. */
export interface LitefleetBuild {
  readonly path: string;
  /** How it was built, for the report. */
  readonly origin: string;
  /** Why the release build could not be used, when a plain `bun build --compile` stands in for it. */
  readonly fallback: string | undefined;
}

/** The release build script (owned by the packaging work, not by the benchmarks). */
export const RELEASE_BUILD_SCRIPT = join(REPO_ROOT, "cross-compile/build.ts");

/**
 * Builds litefleet for this host (`linux-<arch>`) the way releases are
 * built: through `buildBinary` of `cross-compile/build.ts`, so the binary
 * measured has exactly the release flags (e.g. `--compile-exec-argv=--smol`).
 * When that script or its `buildBinary` export does not exist, falls back
 * to {@linkcode buildLitefleet} and says so in `fallback`.
 *
 * The script is loaded at run time, not imported statically, so that the
 * other benchmarks keep working while it changes or moves. Its `bun build`
 * child is not tracked by the process guard (the script spawns it itself);
 * it ends on its own within seconds.
 *
 * @throws {Error} when the script fails to load or to build, or returns no path
 */
export async function buildReleaseLitefleet(outDir: string, track: TrackChild): Promise<LitefleetBuild> {
  const target = `linux-${process.arch}`;
  const mod: Record<string, unknown> = existsSync(RELEASE_BUILD_SCRIPT) ? await import(RELEASE_BUILD_SCRIPT) : {};
  const buildBinary = mod["buildBinary"];
  if (typeof buildBinary !== "function") {
    const path = join(outDir, "litefleet");
    await buildLitefleet(path, track);
    const why = existsSync(RELEASE_BUILD_SCRIPT)
      ? "cross-compile/build.ts exports no buildBinary()"
      : "cross-compile/build.ts does not exist";
    return {
      path,
      origin: "compiled from the working tree with plain bun build --compile (no release flags)",
      fallback: why,
    };
  }
  const flags = mod["COMPILE_FLAGS"];
  const flagText = Array.isArray(flags) ? flags.join(" ") || "no extra flags" : "flags not exported";
  const built: unknown = await buildBinary(target, { outDir });
  const path = typeof built === "object" && built !== null ? (built as { path?: unknown }).path : undefined;
  if (typeof path !== "string")
    throw new Error(`Cannot build litefleet: buildBinary('${target}') of cross-compile/build.ts returned no path`);
  return {
    path,
    origin: `release build from the working tree: cross-compile/build.ts buildBinary('${target}') (bun build --compile --target=bun-${target} ${flagText})`,
    fallback: undefined,
  };
}

/**
 * Has litefleet parse a config (`litefleet databases --config FILE`), so a
 * key the build does not accept fails here with litefleet's own message.
 *
 * @throws {Error} when litefleet rejects the config; the message includes its output
 */
export async function validateLitefleetConfig(
  binary: string,
  configPath: string,
  ctx: { env: Readonly<Record<string, string>>; track: TrackChild },
): Promise<void> {
  const check = await runCommand([binary, "databases", "--config", configPath], {
    env: ctx.env,
    timeoutMs: 30_000,
    track: ctx.track,
  });
  if (check.code !== 0) {
    throw new Error(
      `Cannot use the litefleet config ${configPath}: 'litefleet databases' exited with ${check.code}\n${check.output}`,
    );
  }
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

/** Returns how to run `litefleet replicate --config FILE` (ready once its first database is). */
export function litefleetLaunch(
  binary: string,
  configPath: string,
  spec: Pick<LitefleetAgentSpec, "name">,
  s3: S3Target,
  logPath: string,
): AgentLaunch {
  return {
    name: spec.name,
    argv: [binary, "replicate", "--config", configPath],
    env: litefleetEnv(s3, spec.name),
    logPath,
    // Logged per database, once it is open and each replica's position is known.
    readyText: "capture started",
  };
}

/** Returns `litefleet restore -o OUTPUT REPLICA_URL`. */
export function litefleetRestoreArgv(binary: string, url: string, output: string): string[] {
  return [binary, "restore", "-o", output, url];
}
