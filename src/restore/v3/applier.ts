/**
 * Applies a v0.3 restore plan without SQLite (reference §4.3 steps 4–5):
 * decompresses the snapshot (an LZ4 frame of the whole database) into
 * `<output>.tmp`, then for each WAL index concatenates its decompressed
 * segments, validates the WAL header checksum, walks frames while salts and
 * cumulative checksums match, buffers pages and writes the buffer at each
 * commit frame, truncating the file to `commit × pageSize`. Frames after the
 * last valid commit are ignored, as SQLite's checkpoint ignores them. Then
 * the usual `fsync` → `integrity_check` → rename of the v0.5 applier.
 *
 * Every LZ4 frame's content checksum (XXH32) is verified (`lz4DecompressFrame`
 * skips it; `lz4-checksum.ts` checks it), and WAL frames by their cumulative
 * checksums.
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { ChecksumMismatchError, CorruptFileError } from "../../errors.ts";
import { lz4DecompressFrame } from "../../platform/lz4.ts";
import { decodeWalHeader, WAL_FRAME_HEADER_SIZE, WAL_HEADER_SIZE, walChecksum } from "../../sqlite/wal-reader.ts";
import { writeAll, writeStagedDatabase } from "../staged-database.ts";
import { lz4ContentChecksumMismatch } from "./lz4-checksum.ts";
import type { V3RestorePlan } from "./planner.ts";
import { segmentPath, snapshotPath, type V3Storage } from "./storage.ts";

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
  const output = options.output;
  let files = 0;
  let bytes = 0;
  let pageSize = 0;
  let size = 0;
  let transactions = 0;
  const decompress = async (rel: string): Promise<Uint8Array> => {
    const raw = await storage.read(rel);
    files++;
    bytes += raw.length;
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
  };
  await writeStagedDatabase(output, async (fd) => {
    const snap = await decompress(snapshotPath(plan.snapshot));
    writeAll(fd, snap, 0);
    size = snap.length;
    if (snap.length >= 100) {
      const raw = (snap[16]! << 8) | snap[17]!;
      pageSize = raw === 1 ? 65536 : raw;
    }
    for (const { index, segments } of plan.indexes) {
      const parts: Uint8Array[] = [];
      for (const seg of segments) parts.push(await decompress(segmentPath(seg)));
      const wal = concat(parts);
      const name = segmentPath({ generation: plan.generation, index, offset: 0 });
      const header = decodeWalHeader(wal);
      if (!header) throw new CorruptFileError(`Cannot replay '${name}': invalid WAL header`, { path: name, offset: 0 });
      if (pageSize !== 0 && header.pageSize !== pageSize) {
        throw new CorruptFileError(`Cannot replay '${name}': WAL page size ${header.pageSize} differs from the database's ${pageSize}`, { path: name });
      }
      pageSize = header.pageSize;
      const replayed = replayWal(fd, wal, header, size);
      size = replayed.size;
      transactions += replayed.transactions;
    }
  });
  const last = plan.indexes.at(-1);
  return {
    path: output,
    generation: plan.generation,
    index: last ? last.index : plan.snapshot.index,
    pageSize,
    pages: pageSize === 0 ? 0 : Math.ceil(size / pageSize),
    files,
    bytes,
    transactions,
  };
}

/**
 * Replays one WAL image onto the database open at `fd` (current size
 * `size`); returns the new size and the number of commits applied.
 */
export function replayWal(
  fd: number,
  wal: Uint8Array,
  header: { bigEndian: boolean; pageSize: number; salt1: number; salt2: number; checksum: readonly [number, number] },
  size: number,
): { size: number; transactions: number } {
  const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  let sum = header.checksum;
  let pending = new Map<number, Uint8Array>();
  let transactions = 0;
  for (let off = WAL_HEADER_SIZE; off + frameSize <= wal.length; off += frameSize) {
    if (view.getUint32(off + 8) !== header.salt1 || view.getUint32(off + 12) !== header.salt2) break;
    let s = walChecksum(header.bigEndian, wal.subarray(off, off + 8), sum);
    s = walChecksum(header.bigEndian, wal.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize), s);
    if (s[0] !== view.getUint32(off + 16) || s[1] !== view.getUint32(off + 20)) break;
    sum = s;
    pending.set(view.getUint32(off), wal.subarray(off + WAL_FRAME_HEADER_SIZE, off + frameSize));
    const commit = view.getUint32(off + 4);
    if (commit !== 0) {
      for (const [pgno, data] of pending) writeAll(fd, data, (pgno - 1) * header.pageSize);
      pending = new Map();
      size = commit * header.pageSize;
      ftruncateSync(fd, size);
      transactions++;
    }
  }
  return { size, transactions };
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

