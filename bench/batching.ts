/**
 * The `batching` benchmark: Litestream v0.3.13 and litefleet at several
 * batch intervals, side by side against one local S3 server, each
 * replicating its own copy of the same telemetry workload. It measures S3
 * requests and bytes per agent, agent CPU and memory, and checks that every
 * replica restores to its database. Settings are in `batching-settings.ts`.
 *
 * @module
 */

import { runAgentsUnderWorkload } from "./agent-run.ts";
import { checkLitefleetConfig, prefixOf, prepareAgent, restoreAgent } from "./batching-agents.ts";
import { renderBatchingReport, type AgentResult, type PhaseTallies } from "./batching-report.ts";
import { BATCHING_SETTINGS, type BatchingSettings } from "./batching-settings.ts";
import type { BenchContext } from "./benchmark.ts";
import {
  agentRoutes,
  LITESTREAM_NOT_INSTALLED,
  prepareAgents,
  publishReport,
  runFacts,
  startComparisonRun,
  uncleanExitNote,
} from "./benchmark-run.ts";
import type { BenchOptions } from "./cli-options.ts";
import { tallyByAgent, UNATTRIBUTED, type RequestTally } from "./s3-accounting.ts";
import type { LoggedS3Request } from "./s3-request-log.ts";

/**
 * Runs the benchmark and prints (and with `--out`, writes) its report.
 *
 * @returns the exit code: 0, or 1 when a restore did not match its database
 * @throws {Error} when litefleet cannot be built, a config is rejected, or an agent dies
 */
export async function runBatching(
  options: BenchOptions,
  ctx: BenchContext,
  settings: BatchingSettings = BATCHING_SETTINGS,
): Promise<number> {
  const { say } = ctx;
  await using run = await startComparisonRun("batching", options, ctx, { bucket: settings.bucket, build: "plain" });
  const { work, track, binaries, notes, s3 } = run;

  const prepared = await prepareAgents(
    settings.agents,
    binaries,
    (agent) => prepareAgent(agent, { work, s3, settings, binaries }),
    (p) => checkLitefleetConfig(p, binaries.litefleet, track),
  );
  notes.push(
    "s3rver runs with the harness's patches (test/harness/s3-server.ts; among them: delimiter listings lost common prefixes whose directory holds only deeper keys; " +
      'without the fix `litestream restore` fails with "no matching backups found").',
    settings.litefleetConfigKeys.emitStatusAndLevels
      ? `litefleet configs set \`status.addr: ""\` and \`levels: [${settings.litefleetConfigKeys.levels.join(", ")}]\`.`
      : "litefleet configs leave out `status` and `levels` (`emitStatusAndLevels` is off in bench/batching-settings.ts): compaction and the status server are the build's defaults.",
  );

  const m = await runAgentsUnderWorkload(
    prepared.map((p) => p.launch),
    {
      dbPaths: prepared.map((p) => p.dbPath),
      s3log: run.s3log,
      settings,
      durationSeconds: options.durationSeconds,
      track,
      say,
    },
  );
  const routes = agentRoutes(settings.agents, prefixOf);
  const phases = {
    startup: tallyByAgent(m.requests.slice(0, m.steadyFrom), routes),
    steady: tallyByAgent(m.requests.slice(m.steadyFrom, m.shutdownFrom), routes),
    shutdown: tallyByAgent(m.requests.slice(m.shutdownFrom), routes),
    total: tallyByAgent(m.requests, routes),
  };
  notes.push(`Request kinds over the run: ${countKinds(m.requests)}.`);

  const results: AgentResult[] = [];
  for (const agent of settings.agents) {
    const requests = pick(phases, agent.name);
    const p = prepared.find((x) => x.agent === agent);
    if (p === undefined) {
      results.push({
        agent,
        skipped: LITESTREAM_NOT_INSTALLED,
        requests,
        cpuSeconds: undefined,
        hwmKiB: undefined,
        maxSampledRssKiB: undefined,
        exit: undefined,
        rowsCommitted: 0,
        sourceRows: undefined,
        restore: undefined,
      });
      continue;
    }
    const exit = m.exits.get(agent.name);
    const unclean = uncleanExitNote(agent.name, exit, p.launch.logPath);
    if (unclean !== undefined) notes.push(unclean);
    say(`restoring ${agent.name}`);
    const rowsCommitted = m.written.rowsByDb[p.dbPath] ?? 0;
    const { sourceRows, check } = await restoreAgent(p, {
      work,
      rowsCommitted,
      timeoutMs: settings.restoreTimeoutMs,
      track,
    });
    const sample = m.beforeStop.get(agent.name);
    results.push({
      agent,
      skipped: undefined,
      requests,
      cpuSeconds: sample?.cpuSeconds,
      hwmKiB: sample?.hwmKiB,
      maxSampledRssKiB: m.sampler.maxRssKiB(agent.name),
      exit,
      rowsCommitted,
      sourceRows,
      restore: check,
    });
  }

  const report = renderBatchingReport({
    ...runFacts(run, options, ctx, m),
    settings,
    agents: results,
    unattributed: pick(phases, UNATTRIBUTED).total,
  });
  publishReport(report, options, say);
  return results.every((r) => r.skipped !== undefined || r.restore?.ok === true) ? 0 : 1;
}

function pick(phases: Record<keyof PhaseTallies, Map<string, RequestTally>>, name: string): PhaseTallies {
  const get = (m: Map<string, RequestTally>): RequestTally => {
    const t = m.get(name);
    if (t === undefined) throw new Error(`Cannot find the request tally of '${name}'`);
    return t;
  };
  return {
    startup: get(phases.startup),
    steady: get(phases.steady),
    shutdown: get(phases.shutdown),
    total: get(phases.total),
  };
}

function countKinds(requests: readonly LoggedS3Request[]): string {
  const kinds = new Map<string, number>();
  for (const r of requests) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  return [...kinds].map(([k, n]) => `${k} ${n}`).join(", ");
}
