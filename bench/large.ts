/**
 * The `large` benchmark (issue #13): litefleet (the release build) and
 * Litestream v0.3.13 side by side on large databases. For each size, one
 * database is generated (`large-database.ts`); for each replica kind (S3 on
 * a local s3rver, then a directory) both agents start at once on identical
 * copies and replicate from scratch (`large-run.ts`); then each replica of
 * the sizes to restore is restored by its own tool, one at a time, next to
 * a `cp` of the file (`large-restore.ts`). The report
 * (`large-report.ts`) gives peak RSS, time and CPU to the first complete
 * sync, replica and uploaded bytes against the LZ4 size, restore wall time
 * and peak RSS, and the verdict on each of the issue's targets.
 *
 * An agent or restore above `--rss-limit` is SIGKILLed and reported as
 * such; the run goes on.
 *
 * @module
 */

import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { existsSync, mkdirSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./benchmark.ts";
import {
  LITESTREAM_NOT_INSTALLED,
  prepareAgents,
  publishReport,
  startComparisonRun,
  type ComparisonRun,
} from "./benchmark-run.ts";
import { LARGE_AGENTS, prepareLargeAgent, type LargeCase, type PreparedLargeAgent } from "./large-agents.ts";
import { checkpointDatabase, generateDatabase, lz4PageBytes, MB, sha256File } from "./large-database.ts";
import { largeUsage, parseLargeOptions, replicatedSizes, type LargeOptions } from "./large-options.ts";
import { renderLargeReport, type LargeCaseResult, type LargeDatabaseFacts, type RestoreRow } from "./large-report.ts";
import { GNU_TIME, timedRestore } from "./large-restore.ts";
import { runLargeCase, type AgentReplication } from "./large-run.ts";
import { LARGE_SETTINGS, REPLICA_KINDS, type LargeSettings } from "./large-settings.ts";
import { validateLitefleetConfig } from "./litefleet-agent.ts";
import { machineInfo } from "./machine-info.ts";

/** Tracks the least free space seen in the work dir's file system. */
class DiskWatch {
  readonly #dir: string;
  readonly freeAtStart: number;
  #leastFree: number;
  #nextAt = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.freeAtStart = freeBytes(dir);
    this.#leastFree = this.freeAtStart;
  }

  /** Reads the free space, at most once a second. */
  poll(): void {
    const now = performance.now();
    if (now < this.#nextAt) return;
    this.#nextAt = now + 1000;
    this.#leastFree = Math.min(this.#leastFree, freeBytes(this.#dir));
  }

  /** Most bytes the run took at once (other users of the disk count too). */
  get peakUsed(): number {
    return Math.max(0, this.freeAtStart - this.#leastFree);
  }
}

function freeBytes(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

/**
 * Runs `bun run bench large [options]`; see the module doc and
 * {@linkcode largeUsage}.
 *
 * @returns 0, 2 for bad options, or 1 when a restore of a completely synced replica differs from its database
 * @throws {Error} when litefleet cannot be built, a config is rejected, or the disk is too small
 */
export async function runLarge(
  args: readonly string[],
  ctx: BenchContext,
  settings: LargeSettings = LARGE_SETTINGS,
): Promise<number> {
  let options: LargeOptions | "help";
  try {
    options = parseLargeOptions(args, settings);
  } catch (err) {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n\n${largeUsage(settings)}\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${largeUsage(settings)}\n`);
    return 0;
  }
  const { say } = ctx;
  const started = performance.now();
  if (options.bench.keep) ctx.guard.keepTempDirs();
  await using run = await startComparisonRun("large", options.bench, ctx, {
    bucket: settings.bucket,
    build: "release",
  });
  const disk = new DiskWatch(run.work);
  const sizes = replicatedSizes(options);
  const largest = Math.max(...sizes);
  const need = settings.diskFactor * largest * MB;
  if (disk.freeAtStart < need) {
    throw new Error(
      `Cannot run the large benchmark in '${run.work}': ${gib(disk.freeAtStart)} GiB free, about ${gib(need)} GiB needed ` +
        `(${settings.diskFactor}× the ${largest} MB database); set TMPDIR to a directory on a larger file system`,
    );
  }
  say(
    `sizes ${sizes.join(", ")} MB (restores: ${options.restoreSizesMB.join(", ")} MB); ${gib(disk.freeAtStart)} GiB free; --rss-limit ${options.rssLimitMiB} MiB`,
  );
  const notes = [...run.notes];
  if (!existsSync(GNU_TIME))
    notes.push(
      `No ${GNU_TIME}: restore peak RSS is the last \`VmHWM\` polled every ${settings.pollIntervalMs} ms before the exit, so it may miss the last moments.`,
    );
  const cases: LargeCaseResult[] = [];
  let mismatch = false;
  for (const sizeMB of sizes) {
    const sizeDir = join(run.work, `${sizeMB}mb`);
    mkdirSync(sizeDir, { recursive: true });
    say(`generating the ${sizeMB} MB database`);
    const gen = generateDatabase(join(sizeDir, "source.db"), sizeMB, settings.database);
    const db: LargeDatabaseFacts = {
      sizeMB,
      bytes: gen.bytes,
      pages: gen.pages,
      rows: gen.rows,
      lz4Bytes: lz4PageBytes(gen.path, settings.database.pageSize),
      generateSeconds: gen.seconds,
    };
    say(
      `  ${gib(db.bytes)} GiB in ${db.generateSeconds.toFixed(1)} s; LZ4 ${(db.lz4Bytes / db.bytes).toFixed(2)} of it`,
    );
    for (const kind of REPLICA_KINDS) {
      const c: LargeCase = { id: `${sizeMB}mb-${kind}`, kind, dir: join(sizeDir, kind), sourcePath: gen.path };
      mkdirSync(c.dir, { recursive: true });
      const result = await runCase(c, db, { run, options, settings, disk, ctx });
      mismatch ||= result.mismatch;
      cases.push({
        db,
        kind,
        inSizes: options.sizesMB.includes(sizeMB),
        agents: result.agents,
        restores: result.restores,
      });
      if (!options.bench.keep) {
        rmSync(c.dir, { recursive: true, force: true });
        if (kind === "s3") await deletePrefix(run.s3log.server.sdkClient(), settings.bucket, `${c.id}/`);
      }
    }
    if (!options.bench.keep) rmSync(sizeDir, { recursive: true, force: true });
  }
  if (cases.some((c) => c.agents.some((a) => a.outcome.kind === "rss-limit"))) {
    notes.push(
      `An agent killed by \`--rss-limit\` shows its RSS when it was killed: its real peak would have been higher. Its replica is incomplete, so it is not restored.`,
    );
  }
  const report = renderLargeReport({
    command: ctx.command,
    startedAt: run.startedAt,
    machine: machineInfo(),
    versions: run.binaries.versions,
    quick: options.bench.quick,
    settings,
    rssLimitMiB: options.rssLimitMiB,
    cases,
    runSeconds: (performance.now() - started) / 1000,
    diskFreeBytes: disk.freeAtStart,
    diskPeakUsedBytes: disk.peakUsed,
    notes,
  });
  publishReport(report, options.bench, say);
  return mismatch ? 1 : 0;
}

/** Replicates one case side by side, then restores its replicas when its size is to be restored. */
async function runCase(
  c: LargeCase,
  db: LargeDatabaseFacts,
  env: { run: ComparisonRun; options: LargeOptions; settings: LargeSettings; disk: DiskWatch; ctx: BenchContext },
): Promise<{ agents: AgentReplication[]; restores: RestoreRow[]; mismatch: boolean }> {
  const { run, options, settings, disk, ctx } = env;
  const { binaries, track, s3 } = run;
  const prepared = await prepareAgents(
    LARGE_AGENTS,
    binaries,
    (agent) => prepareLargeAgent(agent, c, { s3, settings, binaries }),
    (p) => validateLitefleetConfig(binaries.litefleet, p.configPath, { env: p.restoreEnv, track }),
  );
  const measured = await runLargeCase(prepared, {
    kind: c.kind,
    s3log: run.s3log,
    settings,
    rssLimitKiB: options.rssLimitMiB * 1024,
    timeoutMs: settings.syncTimeoutBaseMs + settings.syncTimeoutPerMBMs * db.sizeMB,
    track,
    say: ctx.say,
    onPoll: () => disk.poll(),
  });
  const agents: AgentReplication[] = [];
  for (const agent of LARGE_AGENTS) {
    const m = measured.find((x) => x.agent === agent);
    if (m === undefined) {
      agents.push(skippedReplication(agent));
      continue;
    }
    const p = prepared.find((x) => x.agent === agent);
    const replicaBytes =
      c.kind === "s3" && p !== undefined
        ? await prefixBytes(run.s3log.server.sdkClient(), settings.bucket, `${p.replica}/`)
        : m.replicaBytes;
    agents.push({ ...m, replicaBytes });
  }
  if (!options.restoreSizesMB.includes(db.sizeMB)) return { agents, restores: [], mismatch: false };

  const restores: RestoreRow[] = [];
  let mismatch = false;
  const outDir = join(c.dir, "restored");
  mkdirSync(outDir, { recursive: true });
  const common = {
    rssLimitKiB: options.rssLimitMiB * 1024,
    timeoutMs: settings.restoreTimeoutMs,
    pollIntervalMs: settings.pollIntervalMs,
    track,
  };
  let cpSource: { path: string; sha: string } | undefined;
  for (const agent of LARGE_AGENTS) {
    const p: PreparedLargeAgent | undefined = prepared.find((x) => x.agent === agent);
    const m = agents.find((x) => x.agent === agent);
    if (p === undefined || m === undefined) {
      restores.push({ tool: agent.name, measure: undefined, skipped: LITESTREAM_NOT_INSTALLED });
      continue;
    }
    if (m.outcome.kind !== "synced") {
      restores.push({ tool: agent.name, measure: undefined, skipped: "its first sync did not complete" });
      continue;
    }
    checkpointDatabase(p.dbPath);
    const sha = sha256File(p.dbPath);
    cpSource ??= { path: p.dbPath, sha };
    ctx.say(`restoring ${c.id} with ${agent.name}`);
    const measure = await timedRestore(agent.name, p.restoreArgv(join(outDir, `${agent.name}.db`)), {
      ...common,
      output: join(outDir, `${agent.name}.db`),
      sourceSha256: sha,
      env: p.restoreEnv,
    });
    ctx.say(
      `  ${measure.wallSeconds.toFixed(2)} s, peak RSS ${Math.round((measure.peakRssKiB ?? 0) / 1024)} MiB, ${measure.identical ? "byte-identical" : `not identical (exit ${measure.code})`}`,
    );
    if (measure.code === 0 && measure.identical === false) mismatch = true;
    restores.push({ tool: agent.name, measure, skipped: undefined });
    disk.poll();
  }
  if (c.kind === "file" && cpSource !== undefined) {
    const out = join(outDir, "cp.db");
    const measure = await timedRestore("cp", ["cp", cpSource.path, out], {
      ...common,
      output: out,
      sourceSha256: cpSource.sha,
      env: {},
      skipIntegrity: true,
    });
    restores.push({ tool: "cp", measure, skipped: undefined });
  }
  return { agents, restores, mismatch };
}

function skippedReplication(agent: AgentReplication["agent"]): AgentReplication {
  return {
    agent,
    outcome: { kind: "skipped", reason: LITESTREAM_NOT_INSTALLED },
    syncSeconds: undefined,
    cpuSeconds: undefined,
    peakRssKiB: undefined,
    maxSampledRssKiB: undefined,
    replicaBytes: undefined,
    firstSync: undefined,
    total: undefined,
    exit: undefined,
  };
}

/** Sum of the sizes of the objects under `prefix`. */
async function prefixBytes(client: S3Client, bucket: string, prefix: string): Promise<number> {
  let total = 0;
  for await (const key of listKeys(client, bucket, prefix)) total += key.size;
  return total;
}

/** Deletes every object under `prefix` (frees the s3rver's disk between cases). */
async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const k of listKeys(client, bucket, prefix)) keys.push(k.key);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
      }),
    );
  }
}

async function* listKeys(
  client: S3Client,
  bucket: string,
  prefix: string,
): AsyncGenerator<{ key: string; size: number }> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0 };
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}
