/**
 * Where a replica keeps the database checksums of its LTX files, and the
 * one rule for which checksums a downloaded file has.
 *
 * Files on a replica have the NoChecksum flag (stock Litestream restores no
 * other kind, see `ltx/no-checksum.ts`); the checksums the uploader took
 * out travel as object metadata `litefleet-checksums` (S3: an
 * `x-amz-meta-` header written by the same PUT; a directory: the object's
 * sidecar), text `v1 pre=<16 hex> post=<16 hex> file=<16 hex>`. `file` is
 * the file checksum of the stored bytes: a record only counts for the
 * bytes it was written with, so an object another tool rewrote (and left
 * the old sidecar beside) is unchecked, never trusted.
 *
 * @module
 */

import { CorruptFileError } from "../errors.ts";
import { hasNoChecksum, hex64, type LtxHeader, type LtxTrailer } from "../ltx/header.ts";
import type { DatabaseChecksums } from "../ltx/no-checksum.ts";
import type { ObjectMetadata } from "./object-store.ts";

/** The metadata name of the record. */
export const CHECKSUMS_METADATA = "litefleet-checksums";

const RECORD = /^v1 pre=([0-9a-f]{16}) post=([0-9a-f]{16}) file=([0-9a-f]{16})$/;

/** The metadata text of `checksums`. */
export function formatChecksumRecord(checksums: DatabaseChecksums): string {
  return `v1 pre=${hex64(checksums.preApply)} post=${hex64(checksums.postApply)} file=${hex64(checksums.file)}`;
}

/**
 * The record in an object's metadata; undefined when it has none.
 * @param object names the object in errors
 * @throws {CorruptFileError} when the record does not parse (a damaged object)
 */
export function checksumRecordOf(metadata: ObjectMetadata | undefined, object: string): DatabaseChecksums | undefined {
  const text = metadata?.[CHECKSUMS_METADATA];
  if (text === undefined) return undefined;
  const m = RECORD.exec(text.trim());
  if (m === null) {
    throw new CorruptFileError(
      `Cannot read '${object}': its metadata '${CHECKSUMS_METADATA}' is '${text}', not 'v1 pre=<16 hex> post=<16 hex> file=<16 hex>'; ` +
        "the object or its metadata is damaged (restore from another replica, or delete the metadata to restore it unchecked)",
      { path: object },
    );
  }
  return { preApply: BigInt(`0x${m[1]}`), postApply: BigInt(`0x${m[2]}`), file: BigInt(`0x${m[3]}`) };
}

/** The database checksums a file is known to have: before and after it applies. */
export interface EffectiveChecksums {
  /** 0 for a snapshot. */
  readonly preApply: bigint;
  readonly postApply: bigint;
}

/**
 * The database checksums of a downloaded file: a file with flags 0 (written
 * by earlier litefleet versions, or a tool keeping them in the file) has its
 * header's and trailer's; a NoChecksum file has its record's when the
 * record's `file` is the trailer's file checksum; anything else has none
 * (a stock Litestream file, or a record of other bytes).
 */
export function effectiveChecksums(
  header: LtxHeader,
  trailer: Pick<LtxTrailer, "postApplyChecksum" | "fileChecksum">,
  record: DatabaseChecksums | undefined,
): EffectiveChecksums | undefined {
  if (!hasNoChecksum(header)) return { preApply: header.preApplyChecksum, postApply: trailer.postApplyChecksum };
  if (record !== undefined && record.file === trailer.fileChecksum) {
    return { preApply: record.preApply, postApply: record.postApply };
  }
  return undefined;
}

/**
 * The post-apply checksum of {@linkcode effectiveChecksums} when only the
 * trailer was read: a trailer with a post-apply checksum belongs to a file
 * with flags 0 (a NoChecksum trailer holds 0 there), so `record` (read
 * only for a zero) decides the rest.
 */
export function effectivePostApply(
  trailer: Pick<LtxTrailer, "postApplyChecksum" | "fileChecksum">,
  record: DatabaseChecksums | undefined,
): bigint | undefined {
  if (trailer.postApplyChecksum !== 0n) return trailer.postApplyChecksum;
  return record !== undefined && record.file === trailer.fileChecksum ? record.postApply : undefined;
}
