/**
 * The steps every agent comparison (`batching`, `footprint`) takes around
 * its own measurements: a work dir, the agent binaries and a local s3rver
 * ({@linkcode startComparisonRun}); its agents prepared, skipping Litestream
 * when it is not installed ({@linkcode prepareAgents}); their requests told
 * apart ({@linkcode agentRoutes}); unclean exits noted
 * ({@linkcode uncleanExitNote}); the run's facts for the report
 * ({@linkcode runFacts}); and the report printed and written
 * ({@linkcode publishReport}).
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { resolveBinaries, type AgentBinaries, type LitefleetBuildKind } from "./agent-binaries.ts";
import { logTail, type AgentExit, type S3Target } from "./agent-process.ts";
import type { AgentRunMeasurements } from "./agent-run.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { machineInfo } from "./machine-info.ts";
import type { TrackChild } from "./process-guard.ts";
import type { RunFacts } from "./report-common.ts";
import type { AgentRoute } from "./s3-accounting.ts";
import { startS3RequestLog, type S3RequestLog } from "./s3-request-log.ts";

/** What every compared agent has: its family and its unique name. */
export interface ComparedAgent {
  readonly kind: "litestream" | "litefleet";
  /** Row label, file names and user-agent token. */
  readonly name: string;
}

/** Why an agent has no measurements when Litestream is not installed (the `skipped` of its result). */
export const LITESTREAM_NOT_INSTALLED = "Litestream binary not installed";

/**
 * A comparison under way: its work dir, binaries and s3rver. Disposing it
 * stops the s3rver; the guard of the {@linkcode BenchContext} removes the
 * work dir and kills leftover children.
 */
export interface ComparisonRun extends AsyncDisposable {
  readonly startedAt: Date;
  /** Temp dir for databases, configs, logs and restores. */
  readonly work: string;
  /** Registers a child with the guard. */
  readonly track: TrackChild;
  readonly binaries: AgentBinaries;
  /** Remarks for the report, starting with those of the binaries; the benchmark adds its own. */
  readonly notes: string[];
  /** The s3rver, logging every request. */
  readonly s3log: S3RequestLog;
  /** Where the agents replicate to: the s3rver's bucket. */
  readonly s3: S3Target;
}

/**
 * Makes a work dir `<name>-…`, builds (or takes) litefleet as `build` says
 * and finds Litestream, then starts an s3rver with `bucket`. Use it with
 * `await using`.
 *
 * @throws {Error} when litefleet cannot be built or does not run, or the s3rver does not start
 */
export async function startComparisonRun(
  name: string,
  options: BenchOptions,
  ctx: BenchContext,
  opts: { bucket: string; build: LitefleetBuildKind },
): Promise<ComparisonRun> {
  const { guard, say } = ctx;
  const track: TrackChild = (child) => guard.track(child);
  const startedAt = new Date();
  const work = guard.makeTempDir(`${name}-`);
  say(`work dir ${work}`);
  const binaries = await resolveBinaries(options.litefleetBin, { work, track, say, build: opts.build });
  const notes = [...binaries.notes];

  const s3log = await startS3RequestLog([opts.bucket]);
  const s3: S3Target = {
    endpoint: s3log.server.endpoint,
    bucket: opts.bucket,
    accessKeyId: s3log.server.accessKeyId,
    secretAccessKey: s3log.server.secretAccessKey,
  };
  say(`s3rver at ${s3.endpoint}`);
  return {
    startedAt,
    work,
    track,
    binaries,
    notes,
    s3log,
    s3,
    [Symbol.asyncDispose]: () => s3log[Symbol.asyncDispose](),
  };
}

/**
 * Prepares each of `agents` in order with `prepare`, leaving out the
 * Litestream ones when Litestream is not installed, and has litefleet check
 * each litefleet agent's config with `checkLitefleetConfig`.
 *
 * @returns the prepared agents, in the order of `agents`
 * @throws {Error} whatever `prepare` or `checkLitefleetConfig` throws
 */
export async function prepareAgents<A extends ComparedAgent, P>(
  agents: readonly A[],
  binaries: AgentBinaries,
  prepare: (agent: A) => P,
  checkLitefleetConfig: (prepared: P) => Promise<void>,
): Promise<P[]> {
  const prepared: P[] = [];
  for (const agent of agents) {
    if (agent.kind === "litestream" && binaries.litestream === undefined) continue;
    const p = prepare(agent);
    if (agent.kind === "litefleet") await checkLitefleetConfig(p);
    prepared.push(p);
  }
  return prepared;
}

/**
 * Returns how to tell the requests of `agents` apart: by `prefixOf(agent)`,
 * else by user agent (Litestream's AWS SDK for Go; litefleet's `app/<name>`,
 * from `AWS_SDK_UA_APP_ID`).
 */
export function agentRoutes<A extends ComparedAgent>(
  agents: readonly A[],
  prefixOf: (agent: A) => string,
): AgentRoute[] {
  return agents.map((a) => ({
    name: a.name,
    prefix: prefixOf(a),
    userAgentToken: a.kind === "litestream" ? "aws-sdk-go" : `app/${a.name}`,
  }));
}

/**
 * Returns a note for the report when agent `name` did not exit cleanly
 * after SIGTERM (killed after the timeout, or a non-zero exit), with the
 * tail of its log at `logPath`; else `undefined`.
 */
export function uncleanExitNote(name: string, exit: AgentExit | undefined, logPath: string): string | undefined {
  if (!exit || (!exit.killed && exit.code === 0)) return undefined;
  return `${name} did not exit cleanly after SIGTERM (${exit.killed ? "killed after the timeout" : `exit ${exit.code ?? exit.signal}`}):\n${logTail(logPath, 10)}`;
}

/** Returns what the report says about `run` besides its settings and agents: command, machine, versions, workload counts, notes. */
export function runFacts(
  run: ComparisonRun,
  options: BenchOptions,
  ctx: BenchContext,
  m: AgentRunMeasurements,
): RunFacts {
  return {
    command: ctx.command,
    startedAt: run.startedAt,
    machine: machineInfo(),
    versions: run.binaries.versions,
    quick: options.quick,
    transactions: m.written.transactions,
    lateTicks: m.written.lateTicks,
    steadySeconds: m.steadySeconds,
    notes: run.notes,
  };
}

/** Prints `report` to stdout and, with `--out`, writes it to that file. */
export function publishReport(report: string, options: BenchOptions, say: (message: string) => void): void {
  process.stdout.write(`\n${report}`);
  if (options.out !== undefined) {
    writeFileSync(options.out, report);
    say(`report written to ${options.out}`);
  }
}
