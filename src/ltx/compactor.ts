/**
 * Merges a contiguous run of LTX files into one, newest page wins, as the
 * Go library's `Compactor` does.
 *
 * @module
 */

import type { LtxFile } from "./decoder.ts";
import { LtxEncoder } from "./encoder.ts";
import type { LtxEncoderOptions, LtxSink } from "./encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, hasNoChecksum, VERSION } from "./header.ts";
import type { LtxHeader, LtxTrailer } from "./header.ts";

/** Options for {@linkcode compactLtxFiles}. */
export interface CompactLtxOptions {
  /**
   * Timestamp (Unix ms) of the output file.
   * @default {the last input's timestamp}
   */
  timestamp?: number;
  /**
   * Node ID of the output file (its writer).
   * @default 0
   */
  nodeId?: bigint;
  /** See {@linkcode LtxEncoderOptions.reuseFrames}: the sink consumes each chunk before it returns. */
  reuseFrames?: boolean;
  /**
   * Take the last input's WAL fields (a merged level-0 file: stock
   * Litestream resumes from the WAL position of the newest L0 file).
   * @default false (zero, as for compactions into levels 1..8 and snapshots)
   */
  keepWal?: boolean;
}

/** What {@linkcode compactLtxFiles} wrote. */
export interface CompactLtxResult {
  /** The output header. */
  header: LtxHeader;
  /** The output trailer. */
  trailer: LtxTrailer;
  /** Total bytes written to the sink. */
  size: number;
}

/**
 * Compacts `inputs` (oldest first) into one LTX file written to `sink`.
 *
 * The output spans the first input's minimum TXID to the last input's
 * maximum, takes the last input's commit and post-apply checksum and the
 * first input's pre-apply checksum, and holds, for every page number up to
 * the final commit, the page from the newest input that contains it. It has
 * the NoChecksum flag (and zero checksums) if any input has it. WAL fields
 * are zero, or the last input's with `options.keepWal` (the newest input
 * holds the page of its last WAL frame, and newest wins, so the output
 * does too); the node ID is `options.nodeId` (default zero).
 *
 * Every input is read through {@linkcode LtxFile.pages} to the end, so a
 * corrupt input fails the compaction instead of being copied. On any error
 * the sink has received a partial file, which the caller must discard.
 *
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * compactLtxFiles([snapshot, incremental], (chunk) => chunks.push(chunk));
 * ```
 * @throws {RangeError} when there are no inputs, page sizes differ or TXIDs are not contiguous
 * @throws {CorruptFileError} when an input is malformed
 * @throws {ChecksumMismatchError} when an input's checksum does not match
 */
export function compactLtxFiles(
  inputs: readonly LtxFile[],
  sink: LtxSink,
  options: CompactLtxOptions = {},
): CompactLtxResult {
  const first = inputs[0];
  const last = inputs[inputs.length - 1];
  if (first === undefined || last === undefined) {
    throw new RangeError("Cannot compact LTX files: no inputs given");
  }
  for (let i = 1; i < inputs.length; i++) {
    const prev = inputs[i - 1]?.header;
    const cur = inputs[i]?.header;
    if (prev === undefined || cur === undefined) continue;
    if (cur.pageSize !== prev.pageSize) {
      throw new RangeError(
        `Cannot compact LTX files: input ${i} has page size ${cur.pageSize}, input ${i - 1} has ${prev.pageSize}`,
      );
    }
    if (cur.minTxid !== prev.maxTxid + 1n) {
      throw new RangeError(
        `Cannot compact LTX files: input ${i} starts at TXID ${cur.minTxid} but input ${i - 1} ends at ${prev.maxTxid}`,
      );
    }
  }

  const noChecksum = inputs.some((f) => hasNoChecksum(f.header));
  const keepWal = options.keepWal === true;
  const header: LtxHeader = {
    version: VERSION,
    flags: noChecksum ? HEADER_FLAG_NO_CHECKSUM : 0,
    pageSize: first.header.pageSize,
    commit: last.header.commit,
    minTxid: first.header.minTxid,
    maxTxid: last.header.maxTxid,
    timestamp: options.timestamp ?? last.header.timestamp,
    preApplyChecksum: noChecksum ? 0n : first.header.preApplyChecksum,
    walOffset: keepWal ? last.header.walOffset : 0n,
    walSize: keepWal ? last.header.walSize : 0n,
    walSalt1: keepWal ? last.header.walSalt1 : 0,
    walSalt2: keepWal ? last.header.walSalt2 : 0,
    nodeId: options.nodeId ?? 0n,
  };
  const encoder = new LtxEncoder(header, sink, { reuseFrames: options.reuseFrames ?? false });

  // A k-way merge over the inputs' page streams, each ascending by page
  // number. Reading every stream to its end verifies every input checksum.
  const streams = inputs.map((file) => {
    const iter = file.pages();
    return { iter, head: iter.next() };
  });
  for (;;) {
    let pgno = Infinity;
    for (const s of streams) {
      if (!s.head.done && s.head.value.pgno < pgno) pgno = s.head.value.pgno;
    }
    if (pgno === Infinity) break;
    let newest: Uint8Array | undefined;
    for (const s of streams) {
      if (!s.head.done && s.head.value.pgno === pgno) {
        newest = s.head.value.data; // later inputs overwrite earlier ones
        s.head = s.iter.next();
      }
    }
    // Pages past the final commit were truncated away by a later input.
    if (newest !== undefined && pgno <= header.commit) encoder.encodePage(pgno, newest);
  }

  const postApplyChecksum = noChecksum ? 0n : last.trailer.postApplyChecksum;
  const { fileChecksum, size } = encoder.finish(postApplyChecksum);
  return { header, trailer: { postApplyChecksum, fileChecksum }, size };
}
