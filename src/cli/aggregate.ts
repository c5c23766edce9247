/**
 * `litefleet aggregate --fleet URL --db NAME --out central.db`: merges every
 * device's database into one central SQLite database (docs/AGGREGATE.md),
 * incrementally, optionally exporting hive-partitioned Parquet and taking
 * only one shard of the fleet.
 *
 * Exit 0 when every device merged; 4 when some failed (each named on
 * stderr; the others are merged); 1 when every device failed; 2 for bad
 * arguments and when no devices are found (docs/CLI.md, docs/AGGREGATE.md).
 * Schema drift goes to stderr one line each, with `--json` too.
 *
 * @module
 */

import { resolve } from "node:path";
import { aggregateFleet, NoDevicesError, type DeviceReport } from "../aggregate/aggregate.ts";
import { parseShard } from "../aggregate/discover.ts";
import { createParquetSink } from "../aggregate/parquet-sink.ts";
import { UsageError } from "../errors.ts";
import { formatTxid } from "../ltx/txid.ts";
import { parseReplicaUrl } from "../replica/url.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { formatBytes } from "./restore.ts";

/** Options of `aggregate`. */
export interface AggregateCliOptions {
  readonly fleet?: string;
  readonly db?: string;
  readonly out?: string;
  readonly tables?: string;
  readonly cache?: string;
  readonly parquet?: string;
  readonly shard?: string;
  readonly concurrency?: string;
  readonly json?: boolean;
}

/** Runs `aggregate`; returns the exit code. */
export async function runAggregate(io: CliIo, options: AggregateCliOptions): Promise<number> {
  if (options.fleet === undefined || options.out === undefined) {
    throw new UsageError(
      "Cannot aggregate: --fleet and --out are required",
      "litefleet aggregate --fleet s3://bucket/prefix --db app.db --out central.db",
    );
  }
  let fleet;
  try {
    fleet = parseReplicaUrl(options.fleet, { cwd: io.cwd });
  } catch (err) {
    throw new UsageError(
      `Cannot use --fleet: ${(err as Error).message}`,
      "s3://bucket/prefix?endpoint=… or a directory",
    );
  }
  const db = options.db ?? "app.db";
  if (db.includes("/") || db === "")
    throw new UsageError(
      `Cannot use --db '${db}': it is the database's name under each device prefix`,
      "e.g. --db app.db",
    );
  let shard;
  if (options.shard !== undefined) {
    try {
      shard = parseShard(options.shard);
    } catch (err) {
      throw new UsageError((err as Error).message, "--shard 0/4 … --shard 3/4 split the fleet across four workers");
    }
  }
  const concurrency = options.concurrency === undefined ? 8 : Number(options.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new UsageError(`Cannot use --concurrency '${options.concurrency}'`, "1 to 256");
  const out = resolve(io.cwd, options.out);
  const tables = options.tables
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const parquet =
    options.parquet === undefined ? undefined : createParquetSink(options.parquet, { cwd: io.cwd, env: io.env });
  const progress = io.isTty && !options.json;
  let done = 0;
  // Devices without the database are named at the end: when none has it, one error says so instead.
  const noReplica: DeviceReport[] = [];
  const deviceError = (r: DeviceReport) => `Error: device '${r.device}': ${r.error}\n`;
  let report;
  try {
    report = await aggregateFleet({
      fleet,
      db,
      out,
      cacheDir: resolve(io.cwd, options.cache ?? `${out}.cache`),
      ...(tables && tables.length > 0 ? { tables } : {}),
      ...(shard ? { shard } : {}),
      ...(parquet ? { parquet } : {}),
      concurrency,
      env: io.env,
      onDevice: (r) => {
        done++;
        if (r.noReplica) noReplica.push(r);
        else if (r.error !== undefined) io.stderr(`${progress ? "\n" : ""}${deviceError(r)}`);
        if (progress) io.stderr(`\r${done} devices`);
      },
    });
  } catch (err) {
    if (progress && done > 0) io.stderr("\n");
    if (err instanceof NoDevicesError) throw new UsageError(err.message, err.hint);
    throw err;
  }
  if (progress) io.stderr("\n");
  for (const r of noReplica) io.stderr(deviceError(r));
  const failed = report.devices.filter((r) => r.error !== undefined);
  const merged = report.devices.length - failed.length;
  if (options.json) {
    const devices = report.devices.map(({ cache, ...rest }) => ({
      ...rest,
      ...(cache
        ? {
            cache: {
              mode: cache.mode,
              from: cache.from === undefined ? null : formatTxid(cache.from),
              txid: formatTxid(cache.txid),
              files: cache.files,
              bytes: cache.bytes,
            },
          }
        : {}),
    }));
    io.stdout(`${JSON.stringify({ ...report, devices })}\n`);
  } else {
    const count = (mode: string) => report.devices.filter((r) => r.cache?.mode === mode).length;
    const rows = (r: DeviceReport, k: "upserted" | "deleted") => (r.merge?.tables ?? []).reduce((n, t) => n + t[k], 0);
    const devices = `${report.devices.length} device${report.devices.length === 1 ? "" : "s"}`;
    const of = shard ? `${devices} in shard ${shard.index}/${shard.count} (${report.discovered} found)` : devices;
    const failures =
      failed.length === 0
        ? ""
        : `; ${failed.length} failed: ${failed
            .slice(0, 10)
            .map((r) => r.device)
            .join(", ")}${failed.length > 10 ? ` and ${failed.length - 10} more` : ""}`;
    io.stderr(
      `Aggregated ${merged} of ${of} into ${out} in ${report.seconds.toFixed(1)}s${failures}; ` +
        `${count("full")} full, ${count("incremental")} incremental, ${count("unchanged")} unchanged; ` +
        `${report.files} LTX files (${formatBytes(report.bytes)}) fetched; ` +
        `${report.devices.reduce((n, r) => n + rows(r, "upserted"), 0)} rows written, ${report.devices.reduce((n, r) => n + rows(r, "deleted"), 0)} deleted\n`,
    );
  }
  // With --json too: stdout carries the report, stderr what an operator must see.
  for (const line of driftLines(report.devices, db)) io.stderr(`${line}\n`);
  if (failed.length === 0) return ExitCode.ok;
  return merged === 0 ? ExitCode.failure : ExitCode.partial;
}

/**
 * One line per schema drift of this run, naming the device, the database,
 * the table and the columns (docs/AGGREGATE.md "Schema drift"): tables not
 * merged for a device, and columns a device added to a central table.
 */
export function driftLines(devices: readonly DeviceReport[], db: string): string[] {
  return devices.flatMap((r) => [
    ...(r.merge?.skipped ?? []).map((s) => `Not merged (schema): ${r.device}: ${db}: ${s.table}: ${s.reason}`),
    ...(r.merge?.added ?? []).map(
      (a) =>
        `Schema drift: ${r.device}: ${db}: ${a.table}: column${a.columns.length === 1 ? "" : "s"} ${a.columns.join(", ")} added to the central table (other devices' rows hold NULL there)`,
    ),
  ]);
}
