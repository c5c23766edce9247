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
 * and the others go on. Finding nothing to aggregate (no device folders, or
 * no folder holding the database: a mistyped `--fleet` or `--db`) is an
 * error, `NoDevicesError`, not an empty success.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { errorMessage } from "../errors.ts";
import { formatTxid } from "../ltx/txid.ts";
import { openSqlConnection } from "../platform/sqlite.ts";
import { createReplicaClient } from "../replica/registry.ts";
import type { ReplicaSpec } from "../replica/spec.ts";
import { NoReplicaError, updateDeviceCache, type CacheUpdate } from "./device-cache.ts";
import { deviceReplica, discoverDevices, inShard, OTHERS_KEPT, type FleetListing } from "./discover.ts";
import {
  centralTables,
  exportedTxid,
  initCentral,
  mergeDevice,
  mergedTxid,
  recordExport,
  type MergeResult,
} from "./merge.ts";
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
  /** Set with `error` when the device's folder holds no replica of the database. */
  readonly noReplica?: true;
}

/**
 * Nothing to aggregate at the fleet prefix: no device folders under it, or
 * none of them holds a replica of the database. The message names the
 * prefix and what is there instead; `hint` what to check.
 */
export class NoDevicesError extends Error {
  override name = "NoDevicesError";
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.hint = hint;
  }
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

/**
 * Runs one aggregation; see the module documentation.
 * @throws {NoDevicesError} when the prefix holds no device folders (before anything is written), or, when every device was tried, none holds the database
 * @throws {ReplicaError} when the fleet prefix cannot be listed
 */
export async function aggregateFleet(o: AggregateOptions): Promise<AggregateReport> {
  const started = performance.now();
  const listing = await discoverDevices(o.fleet, { env: o.env });
  if (listing.devices.length === 0) throw noDeviceFolders(o, listing);
  const all = listing.devices;
  mkdirSync(o.cacheDir, { recursive: true, mode: 0o700 });
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
          const client = await createReplicaClient(deviceReplica(o.fleet, device, o.db), { env: o.env });
          cache = await updateDeviceCache(client, o.cacheDir, device);
        } catch (err) {
          report({
            device,
            error: errorMessage(err),
            ...(err instanceof NoReplicaError ? { noReplica: true as const } : {}),
          });
          continue;
        }
        // Merges run one at a time, in completion order.
        const merged = merging.then(() => mergeAndExport(o, central, device, cache));
        merging = merged.then(
          () => undefined,
          () => undefined,
        );
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
  // Judged over the whole fleet only: one shard's devices may all lack it by chance.
  if (reports.length === all.length && reports.every((r) => r.noReplica)) throw noDatabaseInFolders(o, all);
  return {
    devices: reports,
    discovered: all.length,
    files: reports.reduce((n, r) => n + (r.cache?.files ?? 0), 0),
    bytes: reports.reduce((n, r) => n + (r.cache?.bytes ?? 0), 0),
    seconds: (performance.now() - started) / 1000,
  };
}

/** `<fleet>` as messages show it. */
function fleetLocation(fleet: ReplicaSpec): string {
  return fleet.type === "file" ? fleet.path : `s3://${fleet.bucket}/${fleet.path}`;
}

/** Where a device's LTX files are, below the fleet (`<folder>/app.db/ltx/…`, on S3 `<folder>/app.db/0000/…`). */
function replicaLayout(o: AggregateOptions, folder: string): string {
  return `'${folder}/${o.db}/${o.fleet.type === "file" ? "ltx" : "0000"}/…'`;
}

/** A folder of `folders` that only a replica holds (`ltx`, or S3's level folders `0000` … `0009`), if any. */
function levelFolder(fleet: ReplicaSpec, folders: readonly string[]): string | undefined {
  return folders.find((f) => (fleet.type === "file" ? f === "ltx" : /^[0-9a-f]{4}$/.test(f)));
}

function noDeviceFolders(o: AggregateOptions, listing: FleetListing): NoDevicesError {
  const where = fleetLocation(o.fleet);
  const it = o.fleet.type === "file" ? "the directory" : "the prefix";
  const found = listing.missing
    ? `${it} does not exist`
    : listing.otherCount === 0
      ? `${it} is empty`
      : `${it} holds no folders, only ${listing.otherCount} ${listing.otherCount === 1 ? "file" : "files"} (${names(listing.others, listing.otherCount)})`;
  return new NoDevicesError(
    `Cannot aggregate '${where}': no devices found (looked for ${replicaLayout(o, "<device>")} under it): ${found}`,
    `check --fleet: it is the prefix holding one folder per device (for replicas at s3://bucket/plant-7/<device>/${o.db}, --fleet s3://bucket/plant-7)`,
  );
}

function noDatabaseInFolders(o: AggregateOptions, folders: readonly string[]): NoDevicesError {
  const where = fleetLocation(o.fleet);
  // The usual slips: --fleet names one device's replica, or one device's folder.
  const level = levelFolder(o.fleet, folders);
  const hint =
    level !== undefined
      ? `'${where}' looks like one device's replica (it holds ${level}/): give --fleet the prefix two levels up`
      : folders.includes(o.db)
        ? `'${where}' looks like one device's folder (it holds ${o.db}/): give --fleet its parent`
        : "check --db (the database's name inside each device's folder) and --fleet (the prefix holding one folder per device)";
  const count = folders.length === 1 ? "its one folder holds no" : `none of its ${folders.length} folders holds a`;
  return new NoDevicesError(
    `Cannot aggregate '${where}': no devices found: ${count} replica of '${o.db}' (${replicaLayout(o, "<folder>")}): ${names(folders, folders.length)}`,
    hint,
  );
}

/** `'a', 'b', 'c'`, or the first `OTHERS_KEPT` and `and 7 more` when `total` is larger. */
function names(list: readonly string[], total: number): string {
  const shown = list.slice(0, OTHERS_KEPT);
  const more = total - shown.length;
  return `${shown.map((n) => `'${n}'`).join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

async function mergeAndExport(
  o: AggregateOptions,
  central: ReturnType<typeof openSqlConnection>,
  device: string,
  cache: CacheUpdate,
): Promise<DeviceReport> {
  const txid = formatTxid(cache.txid);
  try {
    const merge =
      mergedTxid(central, device) === txid
        ? undefined
        : mergeDevice(central, cache.path, device, { txid, ...(o.tables ? { tables: o.tables } : {}) });
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
