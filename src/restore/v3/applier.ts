/**
 * Applies a v0.3 restore plan without SQLite (reference §4.3 steps 4–5):
 * decompresses the snapshot (an LZ4 frame of the whole database) into
 * `<output>.tmp`, then replays each WAL index's segments in offset order
 * (`wal-replay.ts`). Then the usual `fsync` → `integrity_check` → rename of
 * the v0.5 applier.
 *
 * Every LZ4 frame's content checksum (XXH32) is verified (`lz4DecompressFrame`
 * skips it; `lz4-checksum.ts` checks it), and WAL frames by their cumulative
 * checksums.
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError } from "../../errors.ts";
import { lz4DecompressFrame } from "../../ltx/lz4-frame.ts";
import { writeAll, writeStagedDatabase } from "../staged-database.ts";
import { lz4ContentChecksumMismatch } from "./lz4-checksum.ts";
import type { V3RestorePlan } from "./planner.ts";
import { segmentPath, snapshotPath, type V3Storage } from "./storage.ts";
import { WalReplayer } from "./wal-replay.ts";

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
  options: { output: string },
): Promise<V3RestoreResult> {
  const reader = new V3ObjectReader(storage);
  let pageSize = 0;
  let size = 0;
  let transactions = 0;
  await writeStagedDatabase(options.output, async (fd) => {
    const snap = await reader.read(snapshotPath(plan.snapshot));
    writeAll(fd, snap, 0);
    size = snap.length;
    pageSize = snapshotPageSize(snap);
    for (const { index, segments } of plan.indexes) {
      let replayer: WalReplayer | undefined;
      for (const seg of segments) {
        const bytes = await reader.read(segmentPath(seg));
        if (replayer) replayer.push(bytes);
        else replayer = new WalReplayer(fd, bytes, { size, pageSize, name: segmentPath({ generation: plan.generation, index, offset: 0 }) });
      }
      if (!replayer) continue;
      pageSize = replayer.pageSize;
      size = replayer.size;
      transactions += replayer.transactions;
    }
  });
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

/** The page size in a database image's header, or 0 for an image too short to have one. */
export function snapshotPageSize(image: Uint8Array): number {
  if (image.length < 100) return 0;
  const raw = (image[16]! << 8) | image[17]!;
  return raw === 1 ? 65536 : raw;
}

/**
 * Reads and decompresses v0.3 objects, verifying each LZ4 frame's content
 * checksum (`lz4DecompressFrame` skips it; `lz4-checksum.ts` checks it), and
 * counts what it read.
 */
export class V3ObjectReader {
  readonly #storage: V3Storage;
  /** Objects read. */
  files = 0;
  /** Compressed bytes read. */
  bytes = 0;

  constructor(storage: V3Storage) {
    this.#storage = storage;
  }

  /**
   * Returns the decompressed content of the object at `rel`.
   * @throws {CorruptFileError} when it does not decompress
   * @throws {ChecksumMismatchError} when its content checksum does not match
   */
  async read(rel: string): Promise<Uint8Array> {
    const raw = await this.#storage.read(rel);
    this.files++;
    this.bytes += raw.length;
    let frame;
    try {
      frame = lz4DecompressFrame(raw);
    } catch (err) {
      throw new CorruptFileError(`Cannot decompress '${rel}': ${(err as Error).message}`, { path: rel, cause: err });
    }
    const mismatch = await lz4ContentChecksumMismatch(raw, frame.bytesRead, frame.data);
    if (mismatch) {
      throw new ChecksumMismatchError(
        `Cannot decompress '${rel}': LZ4 content checksum ${hex32(mismatch.actual)} does not match the frame's ${hex32(mismatch.expected)}`,
        { path: rel, expected: BigInt(mismatch.expected), actual: BigInt(mismatch.actual) },
      );
    }
    return frame.data;
  }
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
