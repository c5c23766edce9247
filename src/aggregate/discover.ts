/**
 * Finds the devices under a fleet prefix: the replica of device `<id>`'s
 * database `<db>` lives at `<fleet>/<id>/<db>` (the `${DEVICE_ID}` template
 * of the device configs, e.g. `s3://fleet-backups/${DEVICE_ID}/app.db`).
 * One delimiter listing of the fleet's object store (paginated on S3, one
 * directory read for a file fleet); a device without that database shows up
 * later as "no replica" (`NoReplicaError`).
 *
 * `--shard i/N` keeps the devices whose stable hash (FNV-1a of the id)
 * modulo N is i, so N workers split a fleet with no coordination beyond the
 * bucket, and a device always lands on the same worker.
 *
 * @module
 */

import { join } from "node:path";
import { ReplicaError, systemErrorText } from "../errors.ts";
import { FileObjectStore } from "../replica/file/object-store.ts";
import { isCommonPrefix, type ObjectStore } from "../replica/object-store.ts";
import { S3ObjectStore } from "../replica/s3/object-store.ts";
import type { ReplicaSpec } from "../replica/spec.ts";

/** How many entries other than device folders a listing keeps by name (for messages). */
export const OTHERS_KEPT = 5;

/** What is directly under a fleet prefix. */
export interface FleetListing {
  /** The folders (S3: common prefixes), sorted: each is a device id. */
  readonly devices: string[];
  /** The first `OTHERS_KEPT` other entries (files, objects), sorted, for messages. */
  readonly others: string[];
  /** How many other entries there are. */
  readonly otherCount: number;
  /** True when the fleet is a directory that does not exist. */
  readonly missing: boolean;
}

/**
 * Lists what is directly under `fleet`: the device ids, and what else is
 * there (so that an empty or mistyped prefix can be described).
 * @throws {ReplicaError} when the fleet location cannot be listed
 */
export async function discoverDevices(
  fleet: ReplicaSpec,
  options: { env: Record<string, string | undefined> },
): Promise<FleetListing> {
  const store: ObjectStore =
    fleet.type === "file" ? new FileObjectStore(fleet.path) : new S3ObjectStore(fleet, options);
  const devices: string[] = [];
  const others: string[] = [];
  let otherCount = 0;
  try {
    for await (const entry of store.list("", { delimiter: "/", action: `list the fleet at '${store.location}'` })) {
      if (isCommonPrefix(entry)) {
        const id = entry.prefix.replace(/\/$/, "");
        if (id !== "") devices.push(id);
        continue;
      }
      otherCount++;
      if (others.length < OTHERS_KEPT) others.push(entry.key);
    }
  } catch (err) {
    if (err instanceof ReplicaError || (err instanceof Error && err.name === "AbortError")) throw err;
    throw new ReplicaError(`Cannot list the fleet at '${store.location}': ${systemErrorText(err)}`, {
      replica: store.location,
      hint: fleet.type === "file" ? "check the --fleet path" : "check the bucket, endpoint and credentials",
      cause: err,
    });
  }
  const missing = devices.length === 0 && otherCount === 0 && (await store.rootExists?.()) === false;
  // Listings come in key order, so the names kept are the first ones.
  return { devices: devices.sort(), others, otherCount, missing };
}

/** The replica of `device`'s database `db` under `fleet`. */
export function deviceReplica(fleet: ReplicaSpec, device: string, db: string): ReplicaSpec {
  return fleet.type === "file"
    ? { ...fleet, path: join(fleet.path, device, db) }
    : { ...fleet, path: [fleet.path.replace(/\/+$/, ""), device, db].filter(Boolean).join("/") };
}

/** Parses `i/N` (0 ≤ i < N). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index >= count)
    throw new RangeError(`Cannot use shard '${text}': expected i/N with 0 <= i < N, e.g. 0/4`);
  return { index, count };
}

/** Whether `device` belongs to shard `index` of `count` (FNV-1a 32-bit of the id). */
export function inShard(device: string, shard: { index: number; count: number }): boolean {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(device, "utf8")) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h % shard.count === shard.index;
}
