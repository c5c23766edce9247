/**
 * `litefleet aggregate`: every device of a fleet (or of one shard of it)
 * brought up to date in the local cache (`device-cache.ts`, only the LTX
 * files past each device's high-water mark are fetched), then merged into
 * the central SQLite database (`merge.ts`), then, with a Parquet sink,
 * exported per device (`parquet-export.ts`).
 *
 * Downloads run `concurrency` devices at a time; merges run one at a time
 * (one writer for the central database), each in its own transaction. A
 * device is merged when its cached TXID differs from the one the central
 * database recorded for it, and exported when its recorded export differs,
 * so a run that stopped in between (or ran without `--parquet`) catches up
 * next time. A device that fails (no replica, a damaged file) is reported
 * and the others go on.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { errorMessage } from "../errors.ts";
import { formatTxid } from "../ltx/txid.ts";
import { openSqlConnection } from "../platform/sqlite.ts";
import { createReplicaClient } from "../replica/registry.ts";
import type { ReplicaSpec } from "../replica/spec.ts";
import { updateDeviceCache, type CacheUpdate } from "./device-cache.ts";
import { deviceReplica, discoverDevices, inShard } from "./discover.ts";
import { centralTables, exportedTxid, initCentral, mergeDevice, mergedTxid, recordExport, type MergeResult } from "./merge.ts";
import type { ParquetSink } from "./parquet-sink.ts";

/** Options of {@linkcode aggregateFleet}. */
export interface AggregateOptions {
  readonly fleet: ReplicaSpec;
  /** The database name under each device prefix, e.g. `app.db`. */
  readonly db: string;
  /** The central SQLite database (created when missing). */
  readonly out: string;
  readonly cacheDir: string;
  readonly tables?: readonly string[];
  readonly shard?: { readonly index: number; readonly count: number };
  readonly parquet?: ParquetSink;
  readonly concurrency: number;
  readonly env: Record<string, string | undefined>;
  readonly onDevice?: (report: DeviceReport) => void;
}

/** One device's outcome. */
export interface DeviceReport {
  readonly device: string;
  readonly cache?: CacheUpdate;
  readonly merge?: MergeResult;
  readonly parquetFiles?: number;
  readonly error?: string;
}

/** The whole run. */
export interface AggregateReport {
  readonly devices: readonly DeviceReport[];
  /** Devices listed before sharding. */
  readonly discovered: number;
  /** LTX files and bytes downloaded. */
  readonly files: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** Runs one aggregation; see the module documentation. */
export async function aggregateFleet(o: AggregateOptions): Promise<AggregateReport> {
  const started = performance.now();
  mkdirSync(o.cacheDir, { recursive: true, mode: 0o700 });
  const all = await discoverDevices(o.fleet, { env: o.env });
  const devices = o.shard ? all.filter((d) => inShard(d, o.shard!)) : all;
  const central = openSqlConnection(o.out, { create: true, busyTimeoutMs: 30_000 });
  const reports: DeviceReport[] = [];
  try {
    central.exec("PRAGMA journal_mode = WAL");
    initCentral(central);
    let merging = Promise.resolve();
    let next = 0;
    const worker = async () => {
      while (next < devices.length) {
        const device = devices[next++]!;
        let cache: CacheUpdate;
        try {
          const client = createReplicaClient(deviceReplica(o.fleet, device, o.db), { env: o.env });
          cache = await updateDeviceCache(client, o.cacheDir, device);
        } catch (err) {
          report({ device, error: errorMessage(err) });
          continue;
        }
        // Merges run one at a time, in completion order.
        const merged = merging.then(() => mergeAndExport(o, central, device, cache));
        merging = merged.then(() => undefined, () => undefined);
        report(await merged);
      }
    };
    const report = (r: DeviceReport) => {
      reports.push(r);
      o.onDevice?.(r);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, devices.length)) }, worker));
    await merging;
  } finally {
    central.close();
  }
  reports.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  return {
    devices: reports,
    discovered: all.length,
    files: reports.reduce((n, r) => n + (r.cache?.files ?? 0), 0),
    bytes: reports.reduce((n, r) => n + (r.cache?.bytes ?? 0), 0),
    seconds: (performance.now() - started) / 1000,
  };
}

async function mergeAndExport(
  o: AggregateOptions,
  central: ReturnType<typeof openSqlConnection>,
  device: string,
  cache: CacheUpdate,
): Promise<DeviceReport> {
  const txid = formatTxid(cache.txid);
  try {
    const merge = mergedTxid(central, device) === txid ? undefined : mergeDevice(central, cache.path, device, { txid, ...(o.tables ? { tables: o.tables } : {}) });
    // A device merged before without --parquet (or whose export failed) is exported now.
    if (!o.parquet || exportedTxid(central, device) === txid) return { device, cache, ...(merge ? { merge } : {}) };
    // Loaded only when exporting: the Parquet writer is not needed otherwise.
    const { exportDevice } = await import("./parquet-export.ts");
    const exported = await exportDevice(o.out, device, centralTables(central), o.parquet);
    recordExport(central, device, txid);
    return { device, cache, ...(merge ? { merge } : {}), parquetFiles: exported.files };
  } catch (err) {
    return { device, cache, error: errorMessage(err) };
  }
}
