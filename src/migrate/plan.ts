/**
 * What `litefleet migrate` converts from a Litestream v0.3 replica: the
 * generations to walk, the snapshot each starts from, the WAL segments to
 * replay, and after which segments a restore point is made.
 *
 * A v0.3 restore by timestamp applies the latest snapshot at or before the
 * time, then every segment created at or before it (reference §4.3), so
 * the states a v0.3 replica can restore are: a generation's first snapshot
 * with the segments created up to it, then each later segment in turn.
 * With `history`, each of these becomes one restore point; without, only
 * the latest state (what `restore` would pick) is converted.
 *
 * Generations are laid end to end in time. One that overlaps a newer
 * generation kept in the history cannot be placed on one timeline and is
 * skipped with a reason (it stays restorable from the v0.3 replica with
 * `--generation`).
 *
 * @module
 */

import { planV3Restore, generationBounds, walIndexesFrom } from "../litestream-v3/planner.ts";
import type { V3Listing, V3Snapshot, V3WalSegment } from "../litestream-v3/layout.ts";

/** One generation to walk. */
export interface MigrationGeneration {
  readonly generation: string;
  readonly snapshot: V3Snapshot;
  /** The segments to replay on the snapshot, in (index, offset) order. */
  readonly segments: readonly V3WalSegment[];
  /**
   * Restore points: after the first `after` segments (0 = the snapshot
   * alone), stamped `timestamp` (ms). Ascending; the last one covers every
   * segment.
   */
  readonly points: readonly { readonly after: number; readonly timestamp: number }[];
}

/** The whole conversion. */
export interface MigrationPlan {
  /** Oldest first. */
  readonly generations: readonly MigrationGeneration[];
  /** Generations left out, with why. */
  readonly skipped: readonly { readonly generation: string; readonly reason: string }[];
}

/**
 * Plans a migration of `listing`.
 * @throws {NoRestorePointError} when the replica holds no restorable generation
 * @throws {CorruptFileError} when a kept generation's segments have gaps
 */
export function planMigration(listing: V3Listing, options: { history: boolean; location: string }): MigrationPlan {
  const latest = planV3Restore(listing, {}, options.location);
  if (!options.history) {
    const segments = latest.indexes.flatMap((i) => i.segments);
    return {
      generations: [
        {
          generation: latest.generation,
          snapshot: latest.snapshot,
          segments,
          points: [{ after: segments.length, timestamp: latest.updatedAt.getTime() }],
        },
      ],
      skipped: [],
    };
  }

  const bounds = generationBounds(listing);
  const kept: MigrationGeneration[] = [];
  const skipped: { generation: string; reason: string }[] = [];
  let start = Infinity;
  // Newest first; on a tie, the generation `restore` picks as the latest.
  const newestFirst = [...bounds].sort(
    ([g1, a], [g2, b]) =>
      b.updatedAt.getTime() - a.updatedAt.getTime() ||
      Number(g2 === latest.generation) - Number(g1 === latest.generation),
  );
  for (const [generation, b] of newestFirst) {
    if (generation !== latest.generation && b.updatedAt.getTime() >= start) {
      skipped.push({ generation, reason: "its time range overlaps a newer generation" });
      continue;
    }
    const snapshot = earliestSnapshot(listing, generation);
    if (!snapshot) {
      skipped.push({ generation, reason: "it has no snapshot" });
      continue;
    }
    kept.unshift(walkGeneration(listing, snapshot, options.location));
    start = Math.min(b.createdAt.getTime(), snapshot.createdAt.getTime());
  }
  return { generations: kept, skipped };
}

function earliestSnapshot(listing: V3Listing, generation: string): V3Snapshot | undefined {
  let first: V3Snapshot | undefined;
  for (const s of listing.snapshots) {
    if (s.generation !== generation) continue;
    if (
      !first ||
      s.createdAt < first.createdAt ||
      (s.createdAt.getTime() === first.createdAt.getTime() && s.index < first.index)
    )
      first = s;
  }
  return first;
}

/**
 * The points of one generation: the snapshot with the segments created up
 * to it, then one per later segment. Timestamps never go backwards, even if
 * the storage's clock did.
 */
function walkGeneration(listing: V3Listing, snapshot: V3Snapshot, location: string): MigrationGeneration {
  const segments = walIndexesFrom(listing, snapshot, {}, location).flatMap((i) => i.segments);
  let base = 0;
  while (base < segments.length && segments[base]!.createdAt <= snapshot.createdAt) base++;
  let time = snapshot.createdAt.getTime();
  const points = [{ after: base, timestamp: time }];
  for (let i = base; i < segments.length; i++) {
    time = Math.max(time, segments[i]!.createdAt.getTime());
    points.push({ after: i + 1, timestamp: time });
  }
  return { generation: snapshot.generation, snapshot, segments, points };
}
