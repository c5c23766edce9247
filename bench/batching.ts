/**
 * The `batching` benchmark: Litestream v0.3.13 and litefleet at several
 * batch intervals, side by side against one local S3 server, each
 * replicating its own copy of the same telemetry workload. It measures S3
 * requests and bytes per agent, agent CPU and memory, and checks that every
 * replica restores to its database. Settings are in `batching-settings.ts`.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { resolveBinaries } from "./agent-binaries.ts";
import { logTail, type S3Target } from "./agent-process.ts";
import { runAgentsUnderWorkload } from "./agent-run.ts";
import { checkLitefleetConfig, prefixOf, prepareAgent, restoreAgent, type PreparedAgent } from "./batching-agents.ts";
import { renderBatchingReport, type AgentResult, type PhaseTallies } from "./batching-report.ts";
import { BATCHING_SETTINGS, type BatchingSettings } from "./batching-settings.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { machineInfo } from "./machine-info.ts";
import type { TrackChild } from "./process-guard.ts";
import { tallyByAgent, UNATTRIBUTED, type AgentRoute, type RequestTally } from "./s3-accounting.ts";
import { startS3RequestLog, type LoggedS3Request } from "./s3-request-log.ts";

/**
 * Runs the benchmark and prints (and with `--out`, writes) its report.
 *
 * @returns the exit code: 0, or 1 when a restore did not match its database
 * @throws {Error} when litefleet cannot be built, a config is rejected, or an agent dies
 */
export async function runBatching(options: BenchOptions, ctx: BenchContext, settings: BatchingSettings = BATCHING_SETTINGS): Promise<number> {
  const { guard, say } = ctx;
  const track: TrackChild = (child) => guard.track(child);
  const startedAt = new Date();
  const work = guard.makeTempDir("batching-");
  say(`work dir ${work}`);
  const binaries = await resolveBinaries(options.litefleetBin, { work, track, say });
  const notes = [...binaries.notes];

  await using s3log = await startS3RequestLog([settings.bucket]);
  const s3: S3Target = {
    endpoint: s3log.server.endpoint,
    bucket: settings.bucket,
    accessKeyId: s3log.server.accessKeyId,
    secretAccessKey: s3log.server.secretAccessKey,
  };
  say(`s3rver at ${s3.endpoint}`);

  const prepared: PreparedAgent[] = [];
  for (const agent of settings.agents) {
    if (agent.kind === "litestream" && binaries.litestream === undefined) continue;
    const p = prepareAgent(agent, { work, s3, settings, binaries });
    if (agent.kind === "litefleet") await checkLitefleetConfig(p, binaries.litefleet, track);
    prepared.push(p);
  }
  notes.push(
    "s3rver runs with the harness's patches plus bench/s3rver-list-fix.ts (delimiter listings lost common prefixes whose directory holds only deeper keys; " +
      'without the fix `litestream restore` fails with "no matching backups found").',
    settings.litefleetConfigKeys.emitStatusAndLevels
      ? `litefleet configs set \`status.addr: ""\` and \`levels: [${settings.litefleetConfigKeys.levels.join(", ")}]\`.`
      : "litefleet configs leave out `status` and `levels` (`emitStatusAndLevels` is off in bench/batching-settings.ts): compaction and the status server are the build's defaults.",
  );

  const m = await runAgentsUnderWorkload(
    prepared.map((p) => p.launch),
    { dbPaths: prepared.map((p) => p.dbPath), s3log, settings, durationSeconds: options.durationSeconds, track, say },
  );
  const routes: AgentRoute[] = settings.agents.map((a) => ({
    name: a.name,
    prefix: prefixOf(a),
    userAgentToken: a.kind === "litestream" ? "aws-sdk-go" : `app/${a.name}`,
  }));
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
      results.push({ agent, skipped: "Litestream binary not installed", requests, cpuSeconds: undefined, hwmKiB: undefined, maxSampledRssKiB: undefined, exit: undefined, rowsCommitted: 0, sourceRows: undefined, restore: undefined });
      continue;
    }
    const exit = m.exits.get(agent.name);
    if (exit && (exit.killed || exit.code !== 0)) {
      notes.push(`${agent.name} did not exit cleanly after SIGTERM (${exit.killed ? "killed after the timeout" : `exit ${exit.code ?? exit.signal}`}):\n${logTail(p.launch.logPath, 10)}`);
    }
    say(`restoring ${agent.name}`);
    const rowsCommitted = m.written.rowsByDb[p.dbPath] ?? 0;
    const { sourceRows, check } = await restoreAgent(p, { work, rowsCommitted, timeoutMs: settings.restoreTimeoutMs, track });
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
    command: ctx.command,
    startedAt,
    machine: machineInfo(),
    settings,
    versions: binaries.versions,
    quick: options.quick,
    transactions: m.written.transactions,
    lateTicks: m.written.lateTicks,
    steadySeconds: m.steadySeconds,
    agents: results,
    unattributed: pick(phases, UNATTRIBUTED).total,
    notes,
  });
  process.stdout.write(`\n${report}`);
  if (options.out !== undefined) {
    writeFileSync(options.out, report);
    say(`report written to ${options.out}`);
  }
  return results.every((r) => r.skipped !== undefined || r.restore?.ok === true) ? 0 : 1;
}

function pick(phases: Record<keyof PhaseTallies, Map<string, RequestTally>>, name: string): PhaseTallies {
  const get = (m: Map<string, RequestTally>): RequestTally => {
    const t = m.get(name);
    if (t === undefined) throw new Error(`Cannot find the request tally of '${name}'`);
    return t;
  };
  return { startup: get(phases.startup), steady: get(phases.steady), shutdown: get(phases.shutdown), total: get(phases.total) };
}

function countKinds(requests: readonly LoggedS3Request[]): string {
  const kinds = new Map<string, number>();
  for (const r of requests) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
  return [...kinds].map(([k, n]) => `${k} ${n}`).join(", ");
}
