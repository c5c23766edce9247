/**
 * Applies a v0.3 restore plan without SQLite (reference §4.3 steps 4–5):
 * streams the snapshot (an LZ4 frame of the whole database) block by block
 * into `<output>.tmp`, then replays each WAL index's segments in offset
 * order, frame by frame as they are decoded (`litestream-v3/wal-replay.ts`).
 * Then the usual `fsync` → `integrity_check` → rename of the v0.5 applier.
 *
 * Memory is bounded by an LZ4 block (4 MiB as v0.3 writes them) and the
 * transaction being replayed, never by an object or the database. Every LZ4
 * frame's content checksum (XXH32) is verified as it streams, and WAL
 * frames by their cumulative checksums; a mismatch found at an object's
 * end fails the restore, which leaves `output` untouched.
 *
 * @module
 */

import { V3ObjectReader } from "../litestream-v3/object-reader.ts";
import type { V3RestorePlan } from "../litestream-v3/planner.ts";
import { segmentPath, snapshotPath, type V3Storage } from "../litestream-v3/layout.ts";
import { WalReplayer } from "../litestream-v3/wal-replay.ts";
import { type IntegrityCheck, writeStagedDatabase } from "../sqlite/staged-database.ts";

/** The outcome of a v0.3 restore. */
export interface V3RestoreResult {
  readonly path: string;
  readonly generation: string;
  /** Last WAL index applied, or the snapshot index when there was no WAL. */
  readonly index: number;
  readonly pageSize: number;
  readonly pages: number;
  /** Objects read (snapshot + segments) and their compressed bytes. */
  readonly files: number;
  readonly bytes: number;
  /** Transactions replayed from the WAL. */
  readonly transactions: number;
}

/**
 * Restores `plan` into `output`; `output` is untouched on failure.
 * @throws {CorruptFileError} when an object does not decompress or a WAL header is invalid
 * @throws {ChecksumMismatchError} when an LZ4 frame's content checksum does not match
 * @throws {Error} when `output` exists or the result fails `integrity_check`
 */
export async function applyV3RestorePlan(
  storage: V3Storage,
  plan: V3RestorePlan,
  options: { output: string; integrity?: IntegrityCheck },
): Promise<V3RestoreResult> {
  const reader = new V3ObjectReader(storage);
  let pageSize = 0;
  let size = 0;
  let transactions = 0;
  await writeStagedDatabase(
    options.output,
    async (fd) => {
      ({ size, pageSize } = await reader.writeSnapshot(fd, snapshotPath(plan.snapshot)));
      for (const { index, segments } of plan.indexes) {
        if (segments.length === 0) continue;
        const replayer = new WalReplayer(fd, {
          size,
          pageSize,
          name: segmentPath({ generation: plan.generation, index, offset: 0 }),
        });
        for (const seg of segments) {
          for await (const content of reader.open(segmentPath(seg))) replayer.push(content);
          replayer.endSegment();
        }
        pageSize = replayer.pageSize;
        size = replayer.size;
        transactions += replayer.transactions;
      }
    },
    options.integrity ? { integrity: options.integrity } : {},
  );
  const last = plan.indexes.at(-1);
  return {
    path: options.output,
    generation: plan.generation,
    index: last ? last.index : plan.snapshot.index,
    pageSize,
    pages: pageSize === 0 ? 0 : Math.ceil(size / pageSize),
    files: reader.files,
    bytes: reader.bytes,
    transactions,
  };
}
