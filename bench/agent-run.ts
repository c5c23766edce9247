/**
 * One measured run of several agents side by side: start them, let each
 * settle, apply the workload to their databases from one writer process,
 * sample CPU and memory, and stop them with SIGTERM, waiting for each to
 * exit (final upload included). Every benchmark that compares agents under
 * the workload runs through {@linkcode runAgentsUnderWorkload}.
 *
 * @module
 */

import {
  logTail,
  startAgent,
  stopAgent,
  type AgentExit,
  type AgentLaunch,
  type AgentProcess,
} from "./agent-process.ts";
import type { TrackChild } from "./process-guard.ts";
import { RssSampler, sampleProcess, type ProcessSample } from "./process-stats.ts";
import type { LoggedS3Request, S3RequestLog } from "./s3-request-log.ts";
import { spawnWriter, type WorkloadSettings, type WriterResult } from "./workload.ts";

/** Timing of a run. */
export interface AgentRunSettings {
  /** The workload every database receives. */
  readonly workload: WorkloadSettings;
  /**
   * Seconds from each agent being ready to its "after start" sample (initial
   * snapshots settle); the workload starts once every agent has been sampled.
   */
  readonly settleSeconds: number;
  /** How long an agent may take to log that it is ready, in ms. */
  readonly readyTimeoutMs: number;
  /** How long an agent may take to exit after SIGTERM before it is SIGKILLed, in ms. */
  readonly stopTimeoutMs: number;
  /** How often `VmRSS` of every agent is sampled, in ms. */
  readonly rssSampleIntervalMs: number;
}

/** What one run of the agents measured. Maps are keyed by agent name. */
export interface AgentRunMeasurements {
  readonly written: WriterResult;
  /** Seconds from the first transaction to SIGTERM. */
  readonly steadySeconds: number;
  /** CPU and memory of each agent `settleSeconds` after it was ready, before the workload. */
  readonly afterStart: ReadonlyMap<string, ProcessSample>;
  /** CPU and memory of each agent just before SIGTERM. */
  readonly beforeStop: ReadonlyMap<string, ProcessSample>;
  readonly exits: ReadonlyMap<string, AgentExit>;
  readonly sampler: RssSampler;
  /** Every request up to the last agent's exit, and where the phases start. */
  readonly requests: readonly LoggedS3Request[];
  readonly steadyFrom: number;
  readonly shutdownFrom: number;
}

/**
 * Runs `launches` side by side while one writer process applies
 * `durationSeconds` of the workload to every database in `dbPaths`.
 *
 * @throws {Error} when an agent does not start, or exits before it is stopped
 */
export async function runAgentsUnderWorkload(
  launches: readonly AgentLaunch[],
  ctx: {
    dbPaths: readonly string[];
    s3log: S3RequestLog;
    settings: AgentRunSettings;
    durationSeconds: number;
    track: TrackChild;
    say: (m: string) => void;
  },
): Promise<AgentRunMeasurements> {
  const { s3log, settings, track, say } = ctx;
  say(`starting ${launches.map((l) => l.name).join(", ")}`);
  const readyAt = new Map<string, number>();
  const running: AgentProcess[] = await Promise.all(
    launches.map(async (l) => {
      const agent = await startAgent(l, { timeoutMs: settings.readyTimeoutMs, track });
      readyAt.set(l.name, performance.now());
      return agent;
    }),
  );
  const sampler = new RssSampler(new Map(running.map((r) => [r.name, r.process.pid])));
  sampler.start(settings.rssSampleIntervalMs);
  try {
    const afterStart = new Map<string, ProcessSample>();
    await Promise.all(
      running.map(async (r) => {
        const due = (readyAt.get(r.name) ?? 0) + settings.settleSeconds * 1000;
        await Bun.sleep(Math.max(0, due - performance.now()));
        ensureAlive([r]);
        afterStart.set(r.name, sampleProcess(r.process.pid));
      }),
    );
    ensureAlive(running);

    const transactions = Math.round((ctx.durationSeconds * 1000) / settings.workload.intervalMs);
    say(
      `workload: ${transactions} transactions of ${settings.workload.rowsPerTransaction} rows on ${ctx.dbPaths.length} databases (${ctx.durationSeconds} s)`,
    );
    const writer = spawnWriter({ settings: settings.workload, transactions, dbPaths: ctx.dbPaths }, track);
    await writer.started;
    const steadyFrom = s3log.count();
    const steadyStart = performance.now();
    const progress = setInterval(() => {
      say(`  ${Math.round((performance.now() - steadyStart) / 1000)} s, ${s3log.count()} S3 requests so far`);
    }, 30_000);
    let written: WriterResult;
    try {
      written = await Promise.race([writer.finished, whenAnyExits(running)]);
    } finally {
      clearInterval(progress);
    }
    ensureAlive(running);

    // CPU and peak RSS just before stopping; the shutdown upload comes after.
    const beforeStop = new Map(running.map((r) => [r.name, sampleProcess(r.process.pid)]));
    sampler.sampleNow();
    const shutdownFrom = s3log.count();
    const steadySeconds = (performance.now() - steadyStart) / 1000;
    say("stopping the agents (SIGTERM, final upload)");
    const exits = new Map(
      await Promise.all(running.map(async (r) => [r.name, await stopAgent(r, settings.stopTimeoutMs)] as const)),
    );
    // Every agent has exited: nothing after this point is theirs.
    const requests = s3log.requests();
    return { written, steadySeconds, afterStart, beforeStop, exits, sampler, requests, steadyFrom, shutdownFrom };
  } finally {
    sampler.stop();
  }
}

/** Rejects as soon as any agent exits (they must run until SIGTERM). */
async function whenAnyExits(running: readonly AgentProcess[]): Promise<never> {
  await Promise.race(running.map((r) => r.process.exited));
  ensureAlive(running);
  throw new Error("Cannot continue the benchmark: an agent exited");
}

function ensureAlive(running: readonly AgentProcess[]): void {
  for (const r of running) {
    if (r.process.exitCode !== null || r.process.signalCode !== null) {
      throw new Error(
        `Cannot continue the benchmark: ${r.name} exited with ${r.process.exitCode ?? r.process.signalCode}\n${logTail(r.logPath)}`,
      );
    }
  }
}
