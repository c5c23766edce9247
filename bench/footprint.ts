/**
 * The `footprint` benchmark: peak RSS and CPU of two litefleet processes
 * (the release build of the single binary; one at `sync-interval: 1s`, one
 * at litefleet's default upload policy) each replicating three databases,
 * side by side with one Litestream v0.3.13 process replicating three
 * identical databases, all against one local S3 server under the same
 * telemetry workload, applied to every database by one writer process.
 * The targets: litefleet's RSS no higher than Litestream's, its CPU
 * at most 1.0× Litestream's at 1 s and 0.5× at the default policy.
 * Settings are in `footprint-settings.ts`.
 *
 * @module
 */

import { runAgentsUnderWorkload } from "./agent-run.ts";
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
import { agentPrefix, prepareFootprintAgent } from "./footprint-agents.ts";
import { renderFootprintReport, type DatabaseRestore, type FootprintAgentResult } from "./footprint-report.ts";
import { FOOTPRINT_SETTINGS, type FootprintSettings } from "./footprint-settings.ts";
import { validateLitefleetConfig } from "./litefleet-agent.ts";
import { restoreAndCompare } from "./restore-check.ts";
import { emptyTally, tallyByAgent, UNATTRIBUTED } from "./s3-accounting.ts";

/** Seconds of workload the issue asks for in a result of record. */
const RECORD_SECONDS = 300;

/**
 * Runs the benchmark and prints (and with `--out`, writes) its report.
 *
 * @returns the exit code: 0, or 1 when a restore did not match its database
 * @throws {Error} when litefleet cannot be built, a config is rejected, or an agent dies
 */
export async function runFootprint(
  options: BenchOptions,
  ctx: BenchContext,
  settings: FootprintSettings = FOOTPRINT_SETTINGS,
): Promise<number> {
  const { say } = ctx;
  await using run = await startComparisonRun("footprint", options, ctx, { bucket: settings.bucket, build: "release" });
  const { work, track, binaries, notes, s3 } = run;
  if (!options.quick && options.durationSeconds < RECORD_SECONDS) {
    notes.push(
      `The workload ran ${options.durationSeconds} s, less than the ${RECORD_SECONDS} s the issue asks for: not a result of record.`,
    );
  }

  const prepared = await prepareAgents(
    settings.agents,
    binaries,
    (agent) => prepareFootprintAgent(agent, { work, s3, settings, binaries }),
    (p) => validateLitefleetConfig(binaries.litefleet, p.configPath, { env: p.commandEnv, track }),
  );
  notes.push(
    "s3rver runs with the harness's patches (test/harness/s3-server.ts; among them: delimiter listings lost common prefixes whose directory holds only deeper keys).",
    `litefleet's config sets \`status.addr: ""\` and \`levels: [${settings.litefleetConfigKeys.levels.join(", ")}]\` (no status server, no compaction).`,
  );

  const m = await runAgentsUnderWorkload(
    prepared.map((p) => p.launch),
    {
      dbPaths: prepared.flatMap((p) => p.databases.map((d) => d.dbPath)),
      s3log: run.s3log,
      settings,
      durationSeconds: options.durationSeconds,
      track,
      say,
    },
  );
  const tallies = tallyByAgent(m.requests, agentRoutes(settings.agents, agentPrefix));

  const results: FootprintAgentResult[] = [];
  for (const agent of settings.agents) {
    const p = prepared.find((x) => x.agent === agent);
    const requests = tallies.get(agent.name) ?? emptyTally();
    if (p === undefined) {
      results.push({
        agent,
        skipped: LITESTREAM_NOT_INSTALLED,
        databases: settings.databasesPerAgent,
        afterStart: undefined,
        beforeStop: undefined,
        maxSampledRssKiB: undefined,
        requests,
        exit: undefined,
        restores: [],
      });
      continue;
    }
    const exit = m.exits.get(agent.name);
    const unclean = uncleanExitNote(agent.name, exit, p.launch.logPath);
    if (unclean !== undefined) notes.push(unclean);
    const restores: DatabaseRestore[] = [];
    for (const db of p.databases) {
      say(`restoring ${db.name}`);
      const rowsCommitted = m.written.rowsByDb[db.dbPath] ?? 0;
      const { sourceRows, check } = await restoreAndCompare(db, {
        work,
        rowsCommitted,
        timeoutMs: settings.restoreTimeoutMs,
        track,
      });
      restores.push({ name: db.name, rowsCommitted, sourceRows, check });
    }
    results.push({
      agent,
      skipped: undefined,
      databases: p.databases.length,
      afterStart: m.afterStart.get(agent.name),
      beforeStop: m.beforeStop.get(agent.name),
      maxSampledRssKiB: m.sampler.maxRssKiB(agent.name),
      requests,
      exit,
      restores,
    });
  }

  const report = renderFootprintReport({
    ...runFacts(run, options, ctx, m),
    settings,
    agents: results,
    unattributed: tallies.get(UNATTRIBUTED) ?? emptyTally(),
  });
  publishReport(report, options, say);
  return results.every((r) => r.skipped !== undefined || r.restores.every((x) => x.check.ok)) ? 0 : 1;
}
