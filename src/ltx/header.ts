/**
 * The LTX v3 header (100 bytes) and trailer (16 bytes): constants, types,
 * encoding, decoding and validation. All integers are big-endian.
 *
 * @module
 */

import { CorruptFileError } from "../errors.ts";
import { CHECKSUM_FLAG } from "./checksum.ts";
import type { Txid } from "./txid.ts";

/** The 4 bytes that start every LTX file. */
export const MAGIC = "LTX1";
/** The LTX format version this library reads and writes (implied by {@linkcode MAGIC}). */
export const VERSION = 3;
/** Size of the file header in bytes. */
export const HEADER_SIZE = 100;
/** Size of a page header (u32 pgno, u16 flags) in bytes. */
export const PAGE_HEADER_SIZE = 6;
/** Size of the trailer (post-apply checksum, file checksum) in bytes. */
export const TRAILER_SIZE = 16;
/** Header flag: the file tracks no database checksums (pre/post-apply are 0). */
export const HEADER_FLAG_NO_CHECKSUM = 0x2;
/** Every header flag this library understands. */
export const HEADER_FLAG_MASK = HEADER_FLAG_NO_CHECKSUM;
/** Page flag: a u32 BE compressed size and one LZ4 block follow the page header. */
export const PAGE_FLAG_SIZE = 0x1;

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
const INT64_MAX = 0x7fff_ffff_ffff_ffffn;

/** The fields of an LTX file header. */
export interface LtxHeader {
  /** Format version; always {@linkcode VERSION}. */
  version: number;
  /** Header flags: 0 or {@linkcode HEADER_FLAG_NO_CHECKSUM}. */
  flags: number;
  /** Database page size in bytes: a power of two from 512 to 65536. */
  pageSize: number;
  /** Database size in pages after the file is applied (0 for a deletion). */
  commit: number;
  /** First transaction the file covers; 1 makes it a snapshot. */
  minTxid: Txid;
  /** Last transaction the file covers. */
  maxTxid: Txid;
  /** Creation time, Unix milliseconds. */
  timestamp: number;
  /** Database checksum before applying; 0 for snapshots and NoChecksum files. */
  preApplyChecksum: bigint;
  /** Offset of the source WAL segment; 0 for journals and compactions. */
  walOffset: bigint;
  /** Size of the source WAL segment; 0 for journals and compactions. */
  walSize: bigint;
  /** Salt-1 of the source WAL header; 0 for journals and compactions. */
  walSalt1: number;
  /** Salt-2 of the source WAL header; 0 for journals and compactions. */
  walSalt2: number;
  /** Node that wrote the file; 0 when unset. */
  nodeId: bigint;
}

/** The fields of an LTX file trailer. */
export interface LtxTrailer {
  /** Database checksum after applying; 0 for NoChecksum files. */
  postApplyChecksum: bigint;
  /** CRC-64 of the whole file except this field, with bit 63 set. */
  fileChecksum: bigint;
}

/** The fields every new header must be given; the rest default to zero. */
export type NewLtxHeaderFields = Pick<LtxHeader, "pageSize" | "commit" | "minTxid" | "maxTxid" | "timestamp"> &
  Partial<LtxHeader>;

/**
 * Builds a version-3 header: flags 0 (checksums present), zero pre-apply
 * checksum, WAL fields and node ID unless given.
 */
export function newLtxHeader(fields: NewLtxHeaderFields): LtxHeader {
  return {
    version: VERSION,
    flags: 0,
    preApplyChecksum: 0n,
    walOffset: 0n,
    walSize: 0n,
    walSalt1: 0,
    walSalt2: 0,
    nodeId: 0n,
    ...fields,
  };
}

/** Returns true when `h` describes a snapshot (a file starting at TXID 1). */
export function isSnapshot(h: LtxHeader): boolean {
  return h.minTxid === 1n;
}

/** Returns true when `h` has the NoChecksum flag. */
export function hasNoChecksum(h: LtxHeader): boolean {
  return (h.flags & HEADER_FLAG_NO_CHECKSUM) !== 0;
}

/** Returns true when `size` is a power of two from 512 to 65536. */
export function isValidPageSize(size: number): boolean {
  for (let s = 512; s <= 65536; s *= 2) {
    if (size === s) return true;
  }
  return false;
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

/**
 * Checks `h` against the rules of the Go library's `Header.Validate`, plus
 * range checks on every field so that it encodes losslessly.
 *
 * @throws {RangeError} naming the first rule `h` breaks
 */
export function validateHeader(h: LtxHeader): void {
  const problem = headerProblem(h);
  if (problem !== undefined) throw new RangeError(`Cannot validate LTX header: ${problem}`);
}

/** Returns a description of the first rule `h` breaks, if any. */
function headerProblem(h: LtxHeader): string | undefined {
  if (h.version !== VERSION) return `version ${h.version} is not ${VERSION}`;
  if (!isUint(h.flags, 0xffff_ffff) || (h.flags & ~HEADER_FLAG_MASK) !== 0) {
    return `flags 0x${h.flags.toString(16).padStart(8, "0")} are not supported`;
  }
  if (!isValidPageSize(h.pageSize)) {
    return `page size ${h.pageSize} is not a power of two from 512 to 65536`;
  }
  if (!isUint(h.commit, 0xffff_ffff)) {
    return `commit ${h.commit} is not an integer from 0 to 4294967295`;
  }
  if (h.minTxid === 0n) return "minimum TXID is required";
  if (h.maxTxid === 0n) return "maximum TXID is required";
  if (h.minTxid < 0n || h.minTxid > UINT64_MAX || h.maxTxid < 0n || h.maxTxid > UINT64_MAX) {
    return `TXIDs (${h.minTxid},${h.maxTxid}) are outside uint64`;
  }
  if (h.minTxid > h.maxTxid) return `TXIDs are out of order: (${h.minTxid},${h.maxTxid})`;
  if (!Number.isSafeInteger(h.timestamp)) {
    return `timestamp ${h.timestamp} is not a safe integer`;
  }
  if (h.walOffset < 0n) return `WAL offset ${h.walOffset} is negative`;
  if (h.walSize < 0n) return `WAL size ${h.walSize} is negative`;
  if (h.walOffset > INT64_MAX || h.walSize > INT64_MAX) {
    return `WAL offset ${h.walOffset} or size ${h.walSize} exceeds int64`;
  }
  if (!isUint(h.walSalt1, 0xffff_ffff) || !isUint(h.walSalt2, 0xffff_ffff)) {
    return `WAL salts (${h.walSalt1},${h.walSalt2}) are not uint32`;
  }
  if ((h.walSalt1 !== 0 || h.walSalt2 !== 0) && h.walOffset === 0n) {
    return "WAL offset is required when a WAL salt is set";
  }
  if (h.walOffset === 0n && h.walSize !== 0n) {
    return "WAL offset is required when the WAL size is set";
  }
  if (h.nodeId < 0n || h.nodeId > UINT64_MAX) return `node ID ${h.nodeId} is outside uint64`;
  if (h.preApplyChecksum < 0n || h.preApplyChecksum > UINT64_MAX) {
    return `pre-apply checksum ${h.preApplyChecksum} is outside uint64`;
  }
  if (isSnapshot(h)) {
    if (h.preApplyChecksum !== 0n) return "pre-apply checksum must be zero on snapshots";
  } else if (hasNoChecksum(h)) {
    if (h.preApplyChecksum !== 0n) return "pre-apply checksum is not allowed with NoChecksum";
  } else {
    if (h.preApplyChecksum === 0n) return "pre-apply checksum is required on non-snapshot files";
    if ((h.preApplyChecksum & CHECKSUM_FLAG) === 0n) {
      return `pre-apply checksum ${hex64(h.preApplyChecksum)} lacks bit 63`;
    }
  }
  return undefined;
}

/**
 * Checks `t` against the rules of the Go library's `Trailer.Validate`.
 *
 * @throws {RangeError} naming the first rule `t` breaks
 */
export function validateTrailer(h: LtxHeader, t: LtxTrailer): void {
  const fail = (state: string): RangeError => new RangeError(`Cannot validate LTX trailer: ${state}`);
  if (hasNoChecksum(h)) {
    if (t.postApplyChecksum !== 0n) throw fail("post-apply checksum is not allowed with NoChecksum");
  } else if (t.postApplyChecksum === 0n) {
    throw fail("post-apply checksum is required");
  } else if (t.postApplyChecksum < 0n || t.postApplyChecksum > UINT64_MAX) {
    throw fail(`post-apply checksum ${t.postApplyChecksum} is outside uint64`);
  } else if ((t.postApplyChecksum & CHECKSUM_FLAG) === 0n) {
    throw fail(`post-apply checksum ${hex64(t.postApplyChecksum)} lacks bit 63`);
  }
  if (t.fileChecksum === 0n) throw fail("file checksum is required");
  if (t.fileChecksum < 0n || t.fileChecksum > UINT64_MAX) {
    throw fail(`file checksum ${t.fileChecksum} is outside uint64`);
  }
  if ((t.fileChecksum & CHECKSUM_FLAG) === 0n) throw fail(`file checksum ${hex64(t.fileChecksum)} lacks bit 63`);
}

/** Formats a checksum as 16 lower-case hex digits, as LTX tools print it. */
export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}

/**
 * Encodes `h` into a new 100-byte array.
 *
 * @throws {RangeError} when `h` is invalid (see {@linkcode validateHeader})
 */
export function encodeHeader(h: LtxHeader): Uint8Array {
  validateHeader(h);
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, 0);
  view.setUint32(4, h.flags);
  view.setUint32(8, h.pageSize);
  view.setUint32(12, h.commit);
  view.setBigUint64(16, h.minTxid);
  view.setBigUint64(24, h.maxTxid);
  view.setBigInt64(32, BigInt(h.timestamp));
  view.setBigUint64(40, h.preApplyChecksum);
  view.setBigInt64(48, h.walOffset);
  view.setBigInt64(56, h.walSize);
  view.setUint32(64, h.walSalt1);
  view.setUint32(68, h.walSalt2);
  view.setBigUint64(72, h.nodeId);
  return bytes;
}

/**
 * Decodes and validates the header at the start of `bytes`.
 *
 * @param bytes at least the first 100 bytes of an LTX file
 * @param options.path names the file in errors
 * @param options.autoRecoverable sets the same field on errors (default false)
 * @throws {CorruptFileError} on short input, a bad magic or an invalid field
 */
export function decodeHeader(bytes: Uint8Array, options: { path: string; autoRecoverable?: boolean }): LtxHeader {
  const { path } = options;
  const autoRecoverable = options.autoRecoverable ?? false;
  if (bytes.length < HEADER_SIZE) {
    throw new CorruptFileError(
      `Cannot decode LTX header in '${path}': file has ${bytes.length} bytes, need ${HEADER_SIZE}`,
      { path, offset: bytes.length, autoRecoverable },
    );
  }
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) {
      throw new CorruptFileError(`Cannot decode LTX header in '${path}': file does not start with '${MAGIC}'`, {
        path,
        offset: 0,
        autoRecoverable,
      });
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const header: LtxHeader = {
    version: VERSION,
    flags: view.getUint32(4),
    pageSize: view.getUint32(8),
    commit: view.getUint32(12),
    minTxid: view.getBigUint64(16) as Txid,
    maxTxid: view.getBigUint64(24) as Txid,
    timestamp: Number(view.getBigInt64(32)),
    preApplyChecksum: view.getBigUint64(40),
    walOffset: view.getBigInt64(48),
    walSize: view.getBigInt64(56),
    walSalt1: view.getUint32(64),
    walSalt2: view.getUint32(68),
    nodeId: view.getBigUint64(72),
  };
  const problem = headerProblem(header);
  if (problem !== undefined) {
    throw new CorruptFileError(`Cannot decode LTX header in '${path}': ${problem}`, {
      path,
      offset: 0,
      autoRecoverable,
    });
  }
  return header;
}

/**
 * Decodes a trailer (the last {@linkcode TRAILER_SIZE} bytes of a file)
 * without validating it against a header.
 *
 * @throws {CorruptFileError} when `bytes` is not exactly a trailer long
 */
export function decodeTrailer(bytes: Uint8Array, options: { path: string }): LtxTrailer {
  if (bytes.length !== TRAILER_SIZE) {
    throw new CorruptFileError(
      `Cannot decode LTX trailer in '${options.path}': got ${bytes.length} bytes, need ${TRAILER_SIZE}`,
      {
        path: options.path,
      },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, TRAILER_SIZE);
  return { postApplyChecksum: view.getBigUint64(0), fileChecksum: view.getBigUint64(8) };
}
