/**
 * The `footprint` benchmark: peak RSS and CPU of one litefleet process (the
 * release build of the single binary) replicating three databases, side by
 * side with one Litestream v0.3.13 process replicating three identical
 * databases, both against one local S3 server under the same telemetry
 * workload, applied to all six databases by one writer process. The
 * issue's target: litefleet's RSS no higher than Litestream's. Settings are
 * in `footprint-settings.ts`.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { resolveBinaries } from "./agent-binaries.ts";
import { logTail, type S3Target } from "./agent-process.ts";
import { runAgentsUnderWorkload } from "./agent-run.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { agentPrefix, prepareFootprintAgent, type PreparedFootprintAgent } from "./footprint-agents.ts";
import { renderFootprintReport, type DatabaseRestore, type FootprintAgentResult } from "./footprint-report.ts";
import { FOOTPRINT_SETTINGS, type FootprintSettings } from "./footprint-settings.ts";
import { validateLitefleetConfig } from "./litefleet-agent.ts";
import { machineInfo } from "./machine-info.ts";
import type { TrackChild } from "./process-guard.ts";
import { restoreAndCompare } from "./restore-check.ts";
import { emptyTally, tallyByAgent, UNATTRIBUTED, type AgentRoute } from "./s3-accounting.ts";
import { startS3RequestLog } from "./s3-request-log.ts";

/** Seconds of workload the issue asks for in a result of record. */
const RECORD_SECONDS = 300;

/**
 * Runs the benchmark and prints (and with `--out`, writes) its report.
 *
 * @returns the exit code: 0, or 1 when a restore did not match its database
 * @throws {Error} when litefleet cannot be built, a config is rejected, or an agent dies
 */
export async function runFootprint(options: BenchOptions, ctx: BenchContext, settings: FootprintSettings = FOOTPRINT_SETTINGS): Promise<number> {
  const { guard, say } = ctx;
  const track: TrackChild = (child) => guard.track(child);
  const startedAt = new Date();
  const work = guard.makeTempDir("footprint-");
  say(`work dir ${work}`);
  const binaries = await resolveBinaries(options.litefleetBin, { work, track, say, build: "release" });
  const notes = [...binaries.notes];
  if (!options.quick && options.durationSeconds < RECORD_SECONDS) {
    notes.push(`The workload ran ${options.durationSeconds} s, less than the ${RECORD_SECONDS} s the issue asks for: not a result of record.`);
  }

  await using s3log = await startS3RequestLog([settings.bucket]);
  const s3: S3Target = {
    endpoint: s3log.server.endpoint,
    bucket: settings.bucket,
    accessKeyId: s3log.server.accessKeyId,
    secretAccessKey: s3log.server.secretAccessKey,
  };
  say(`s3rver at ${s3.endpoint}`);

  const prepared: PreparedFootprintAgent[] = [];
  for (const agent of settings.agents) {
    if (agent.kind === "litestream" && binaries.litestream === undefined) continue;
    const p = prepareFootprintAgent(agent, { work, s3, settings, binaries });
    if (agent.kind === "litefleet") await validateLitefleetConfig(binaries.litefleet, p.configPath, { env: p.commandEnv, track });
    prepared.push(p);
  }
  notes.push(
    "s3rver runs with the harness's patches plus bench/s3rver-list-fix.ts (delimiter listings lost common prefixes whose directory holds only deeper keys).",
    `litefleet's config sets \`status.addr: ""\` and \`levels: [${settings.litefleetConfigKeys.levels.join(", ")}]\` (no status server, no compaction).`,
  );

  const m = await runAgentsUnderWorkload(
    prepared.map((p) => p.launch),
    { dbPaths: prepared.flatMap((p) => p.databases.map((d) => d.dbPath)), s3log, settings, durationSeconds: options.durationSeconds, track, say },
  );
  const routes: AgentRoute[] = settings.agents.map((a) => ({
    name: a.name,
    prefix: agentPrefix(a),
    userAgentToken: a.kind === "litestream" ? "aws-sdk-go" : `app/${a.name}`,
  }));
  const tallies = tallyByAgent(m.requests, routes);

  const results: FootprintAgentResult[] = [];
  for (const agent of settings.agents) {
    const p = prepared.find((x) => x.agent === agent);
    const requests = tallies.get(agent.name) ?? emptyTally();
    if (p === undefined) {
      results.push({
        agent,
        skipped: "Litestream binary not installed",
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
    if (exit && (exit.killed || exit.code !== 0)) {
      notes.push(`${agent.name} did not exit cleanly after SIGTERM (${exit.killed ? "killed after the timeout" : `exit ${exit.code ?? exit.signal}`}):\n${logTail(p.launch.logPath, 10)}`);
    }
    const restores: DatabaseRestore[] = [];
    for (const db of p.databases) {
      say(`restoring ${db.name}`);
      const rowsCommitted = m.written.rowsByDb[db.dbPath] ?? 0;
      const { sourceRows, check } = await restoreAndCompare(db, { work, rowsCommitted, timeoutMs: settings.restoreTimeoutMs, track });
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
    unattributed: tallies.get(UNATTRIBUTED) ?? emptyTally(),
    notes,
  });
  process.stdout.write(`\n${report}`);
  if (options.out !== undefined) {
    writeFileSync(options.out, report);
    say(`report written to ${options.out}`);
  }
  return results.every((r) => r.skipped !== undefined || r.restores.every((x) => x.check.ok)) ? 0 : 1;
}
