/**
 * Chooses what a Litestream v0.3 restore applies, exactly as v0.3.13
 * `Replica.Restore` does (reference §4.3 steps 1–3):
 *
 * 1. Generation: the requested one, else among generations whose
 *    [first, last] `createdAt` (snapshots and segments) contains the
 *    timestamp (any, without one), the one updated last; ties keep the
 *    lowest id.
 * 2. Snapshot: with `index`, the highest snapshot index ≤ `index`; else the
 *    latest by `createdAt` at or before the timestamp.
 * 3. Segments in (index, offset) order, skipping indexes below the
 *    snapshot's, stopping at the first created after the timestamp or past
 *    `index`. Each index must start at offset 0 with increasing offsets, and
 *    every index from the snapshot's to the last must be present.
 *
 * @module
 */

import { CorruptFileError, NoRestorePointError } from "../errors.ts";
import type { V3Listing, V3Snapshot, V3WalSegment } from "./layout.ts";

/** What to restore. */
export interface V3RestoreTarget {
  /** 16 hex digits; default: chosen as in step 1. */
  readonly generation?: string;
  /** Last WAL index to apply (needs `generation`); default: all. */
  readonly index?: number;
  /** Restore the state at or before this time. */
  readonly timestamp?: Date;
}

/** One WAL index to replay: its segments in offset order. */
export interface V3WalIndexPlan {
  readonly index: number;
  readonly segments: readonly V3WalSegment[];
}

/** The chosen generation, snapshot and WAL indexes. */
export interface V3RestorePlan {
  readonly generation: string;
  readonly snapshot: V3Snapshot;
  readonly indexes: readonly V3WalIndexPlan[];
  /** When the generation was last updated (its newest object). */
  readonly updatedAt: Date;
}

/** The first and last `createdAt` of each generation's objects. */
export function generationBounds(listing: V3Listing): Map<string, { createdAt: Date; updatedAt: Date }> {
  const bounds = new Map<string, { createdAt: Date; updatedAt: Date }>();
  for (const o of [...listing.snapshots, ...listing.segments]) {
    const b = bounds.get(o.generation);
    if (!b) bounds.set(o.generation, { createdAt: o.createdAt, updatedAt: o.createdAt });
    else {
      if (o.createdAt < b.createdAt) b.createdAt = o.createdAt;
      if (o.createdAt > b.updatedAt) b.updatedAt = o.createdAt;
    }
  }
  return bounds;
}

/** The newest `createdAt` of any object, or undefined for an empty listing. */
export function newestV3Object(listing: V3Listing): Date | undefined {
  let newest: Date | undefined;
  for (const o of [...listing.snapshots, ...listing.segments])
    if (!newest || o.createdAt > newest) newest = o.createdAt;
  return newest;
}

/**
 * Plans a v0.3 restore.
 * @throws {NoRestorePointError} when no generation or snapshot fits the target
 * @throws {CorruptFileError} when WAL segments are missing or out of order
 * @throws {RangeError} when `index` is given without `generation`
 */
export function planV3Restore(listing: V3Listing, target: V3RestoreTarget, location: string): V3RestorePlan {
  if (target.index !== undefined && target.generation === undefined) {
    throw new RangeError("Cannot plan v0.3 restore: an index needs a generation");
  }
  const ts = target.timestamp;
  let generation: string | undefined;
  let updatedAt = new Date(0);
  const bounds = generationBounds(listing);
  for (const [gen, b] of [...bounds].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))) {
    if (target.generation !== undefined && gen !== target.generation) continue;
    if (ts !== undefined && (ts < b.createdAt || ts > b.updatedAt)) continue;
    if (!(b.updatedAt > updatedAt)) continue;
    generation = gen;
    updatedAt = b.updatedAt;
  }
  if (generation === undefined) {
    throw new NoRestorePointError(
      `Cannot restore from '${location}': no v0.3 generation matches ${describeTarget(target)}`,
    );
  }
  const gen = generation;
  let snapshot: V3Snapshot | undefined;
  for (const s of listing.snapshots) {
    if (s.generation !== gen) continue;
    if (target.index !== undefined) {
      if (s.index > target.index) continue;
      if (!snapshot || s.index > snapshot.index) snapshot = s;
    } else {
      if (ts !== undefined && s.createdAt > ts) continue;
      if (!snapshot || s.createdAt > snapshot.createdAt) snapshot = s;
    }
  }
  if (!snapshot) {
    throw new NoRestorePointError(
      `Cannot restore from '${location}': generation ${gen} has no snapshot for ${describeTarget(target)}`,
    );
  }

  const indexes = walIndexesFrom(
    listing,
    snapshot,
    { ...(ts ? { timestamp: ts } : {}), ...(target.index !== undefined ? { index: target.index } : {}) },
    location,
  );
  return { generation: gen, snapshot, indexes, updatedAt };
}

/**
 * The WAL indexes to replay on top of `snapshot`: its generation's segments
 * from the snapshot's index on, in (index, offset) order, stopping at the
 * first created after `limit.timestamp` or past `limit.index`.
 * @throws {CorruptFileError} when an index does not start at offset 0, offsets repeat, or an index is missing
 */
export function walIndexesFrom(
  listing: V3Listing,
  snapshot: V3Snapshot,
  limit: { timestamp?: Date; index?: number },
  location: string,
): V3WalIndexPlan[] {
  const gen = snapshot.generation;
  const byIndex = new Map<number, V3WalSegment[]>();
  for (const seg of listing.segments) {
    if (seg.generation !== gen) continue;
    if (limit.timestamp !== undefined && seg.createdAt > limit.timestamp) break;
    if (limit.index !== undefined && seg.index > limit.index) break;
    if (seg.index < snapshot.index) continue;
    const list = byIndex.get(seg.index) ?? [];
    const last = list.at(-1);
    if (!last && seg.offset !== 0) {
      throw new CorruptFileError(
        `Cannot restore: missing initial wal segment: generation=${gen} index=${hex8(seg.index)} offset=${seg.offset}`,
        { path: location },
      );
    }
    if (last && last.offset >= seg.offset) {
      throw new CorruptFileError(
        `Cannot restore: wal segments out of order: generation=${gen} index=${hex8(seg.index)} offsets=(${last.offset},${seg.offset})`,
        { path: location },
      );
    }
    list.push(seg);
    byIndex.set(seg.index, list);
  }
  const indexes: V3WalIndexPlan[] = [];
  const max = Math.max(-1, ...byIndex.keys());
  for (let i = snapshot.index; i <= max; i++) {
    const segments = byIndex.get(i);
    if (!segments)
      throw new CorruptFileError(`Cannot restore: missing WAL index ${gen}/${hex8(i)}`, { path: location });
    indexes.push({ index: i, segments });
  }
  return indexes;
}

function describeTarget(t: V3RestoreTarget): string {
  const parts: string[] = [];
  if (t.generation !== undefined) parts.push(`generation ${t.generation}`);
  if (t.index !== undefined) parts.push(`index ${t.index}`);
  if (t.timestamp !== undefined) parts.push(`timestamp ${t.timestamp.toISOString()}`);
  return parts.length === 0 ? "the latest state" : parts.join(", ");
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}
