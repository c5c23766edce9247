/**
 * `bun run bench aggregate [--devices N]`: how fast `litefleet aggregate`
 * takes in a fleet. N simulated devices (default 200; real SQLite databases
 * replicated by the real capture and uploader) upload to s3rver; then:
 *
 * 1. a first run (every device restored into the cache and merged);
 * 2. an idle run (nothing changed: listings only);
 * 3. an incremental run after 20 % of the devices wrote 50 more rows;
 * 4. the same incremental change again, with `--parquet` to a directory.
 *
 * Each run reports devices per minute, MB/s of LTX downloaded (and of
 * device data merged), GETs and LISTs at the server, and rows written.
 * Runs in-process (`aggregateFleet`), like the CLI, against s3rver on
 * loopback: the numbers measure litefleet's work, not a network.
 *
 * @module
 */

import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aggregateFleet, type AggregateReport } from "../src/aggregate/aggregate.ts";
import { createParquetSink } from "../src/aggregate/parquet-sink.ts";
import { startS3Server } from "../test/harness/s3-server.ts";
import { createSimulatedFleet } from "../test/harness/simulated-fleet.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { machineInfo } from "./machine-info.ts";
import { quickRunMark } from "./report-common.ts";

const ROWS_PER_DEVICE = 2_000;

interface RunRow {
  readonly name: string;
  readonly report: AggregateReport;
  readonly gets: number;
  readonly lists: number;
  /** Bytes of the device databases merged in this run. */
  readonly mergedBytes: number;
  readonly rows: number;
}

/** Runs the benchmark; see the module documentation. */
export async function runAggregateBench(options: BenchOptions, ctx: BenchContext): Promise<number> {
  const started = new Date();
  const dir = ctx.guard.makeTempDir("aggregate-");
  await using s3 = await startS3Server({ buckets: ["fleet"] });
  const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const fleet = { type: "s3" as const, bucket: "fleet", path: "plant", endpoint: s3.endpoint, region: "us-east-1" };
  ctx.say(`creating ${options.devices} devices × ${ROWS_PER_DEVICE} rows and replicating them to s3rver`);
  const t0 = performance.now();
  const devices = await createSimulatedFleet(join(dir, "devices"), {
    fleet,
    count: options.devices,
    rows: ROWS_PER_DEVICE,
    seed: 42,
    env,
  });
  ctx.say(`fleet ready in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  const out = join(dir, "central.db");
  const rows: RunRow[] = [];
  const run = async (name: string, parquet?: string): Promise<void> => {
    const before = s3.requests.length;
    const report = await aggregateFleet({
      fleet,
      db: "app.db",
      out,
      cacheDir: join(dir, "cache"),
      concurrency: 8,
      env,
      ...(parquet ? { parquet: createParquetSink(parquet, { cwd: dir, env }) } : {}),
    });
    const failed = report.devices.filter((d) => d.error !== undefined);
    if (failed.length > 0)
      throw new Error(
        `Cannot finish run '${name}': ${failed.length} devices failed, e.g. ${failed[0]!.device}: ${failed[0]!.error}`,
      );
    const requests = s3.requests.slice(before);
    const merged = report.devices.filter((d) => d.merge !== undefined);
    rows.push({
      name,
      report,
      gets: requests.filter((r) => r.kind === "GetObject").length,
      lists: requests.filter((r) => r.kind.startsWith("ListObjects")).length,
      mergedBytes: merged.reduce((n, d) => n + (d.cache ? statSync(d.cache.path).size : 0), 0),
      rows: merged.reduce((n, d) => n + (d.merge?.tables ?? []).reduce((m, t) => m + t.upserted + t.deleted, 0), 0),
    });
    ctx.say(`${name}: ${report.seconds.toFixed(1)}s`);
  };
  await run("first run");
  await run("idle run (no change)");
  const changed = devices.filter((_, i) => i % 5 === 0);
  const change = async () => {
    for (const d of changed) {
      await d.change((db) => {
        const insert = db.prepare("INSERT INTO readings (sensor, value, at) VALUES ('bench', 1.0, 0)");
        db.transaction(() => {
          for (let r = 0; r < 50; r++) insert.run();
        })();
      });
    }
  };
  await change();
  await run(`incremental (${changed.length} devices changed)`);
  await change();
  await run(`incremental + Parquet (${changed.length} devices)`, join(dir, "parquet"));

  const report = renderReport(options, ctx, started, rows);
  process.stdout.write(report);
  if (options.out) writeFileSync(options.out, report);
  return 0;
}

function renderReport(options: BenchOptions, ctx: BenchContext, started: Date, rows: readonly RunRow[]): string {
  const m = machineInfo();
  const lines = [
    `## aggregate: ${options.devices} devices${quickRunMark(options.quick)}`,
    "",
    `- Command: \`${ctx.command}\``,
    `- Date: ${started.toISOString()}`,
    `- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}`,
    `- Fleet: ${options.devices} simulated devices, ${ROWS_PER_DEVICE} rows each (readings + notes), replicated by the real capture/uploader to s3rver on loopback; central database SQLite (WAL); 8 devices downloaded at once.`,
    "",
    "| run | seconds | devices/min | LTX files | LTX MB | LTX MB/s | merged DB MB | merged MB/s | rows written | GETs | LISTs |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const s = r.report.seconds;
      const n = r.report.devices.length;
      return `| ${r.name} | ${s.toFixed(1)} | ${Math.round((n / s) * 60)} | ${r.report.files} | ${(r.report.bytes / 1e6).toFixed(1)} | ${(r.report.bytes / 1e6 / s).toFixed(1)} | ${(r.mergedBytes / 1e6).toFixed(1)} | ${(r.mergedBytes / 1e6 / s).toFixed(1)} | ${r.rows} | ${r.gets} | ${r.lists} |`;
    }),
    "",
    "devices/min counts every device the run looked at (listed, and downloaded/merged when it changed). LISTs: one delimiter listing of the fleet, then one flat listing of each device's replica (every LTX level at once).",
    "",
  ];
  return lines.join("\n");
}
