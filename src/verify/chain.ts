/**
 * The fast path of `litefleet verify`: walks a restore plan reading only
 * each LTX file's header (first 100 bytes), trailer (last 16 bytes) and page
 * index with ranged reads, checks each header against its page index, and
 * checks the chain of database checksums: every file's pre-apply checksum
 * equals the previous file's post-apply checksum. A file's checksums are
 * its header's and trailer's, or for a NoChecksum file the record stored
 * beside it (one HEAD on S3) when the record names the file's bytes
 * (`effectiveChecksums`). The result is the post-apply checksum the
 * replica claims for the plan's TXID.
 *
 * What this does not prove: that the page bodies match their checksums. A
 * file's own checksum covers its whole body, so checking it means
 * downloading it; that is `verify --full` (see `src/cli/verify.ts`).
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { lockPageNumber } from "../ltx/checksum.ts";
import {
  checkEndMarker,
  checkPageIndexSize,
  decodePageIndex,
  INDEX_SIZE_FROM_END,
  MIN_FILE_SIZE,
} from "../ltx/decoder.ts";
import {
  decodeHeader,
  decodeTrailer,
  HEADER_SIZE,
  hasNoChecksum,
  hex64,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
  validateTrailer,
  type LtxHeader,
} from "../ltx/header.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import { effectiveChecksums } from "../replica/checksum-record.ts";
import type { LtxFileInfo, ReplicaClient, SignalOptions } from "../replica/client.ts";
import { describe, type RestorePlan } from "../restore/planner.ts";

/** What the chain walk proved. */
export interface ChainProof {
  /** The TXID the plan reaches. */
  readonly txid: Txid;
  /**
   * The post-apply database checksum the chain records at `txid`; undefined
   * only with `allowNoChecksum` when the last file records none.
   */
  readonly checksum: bigint | undefined;
  readonly pageSize: number;
  /** Database size in pages at `txid`. */
  readonly pages: number;
  /** Files walked. */
  readonly files: number;
  /** Files without database checksums (only with `allowNoChecksum`): the chain is not checked across them. */
  readonly unchecked: number;
  /** Bytes downloaded (headers, trailers and page indexes). */
  readonly bytesFetched: number;
  /** Total size of the plan's files, for comparison. */
  readonly bytesInPlan: number;
  /** The post-apply checksum at each file's last TXID, in plan order. */
  readonly positions: ReadonlyArray<{ readonly txid: Txid; readonly checksum: bigint }>;
}

/**
 * Bytes read from the end of each file: the trailer (16), the page index
 * size (8), and the page index and end marker when they fit in the rest.
 */
export const TAIL_READ_SIZE = 256;

/**
 * Walks `plan` reading each file's header, trailer and page index only.
 *
 * Per file: its header (100 bytes) and its last `TAIL_READ_SIZE` bytes in
 * two ranged reads, and a third for the rest of the page index when it is
 * larger (about 4 to 10 bytes per page the file holds). The index is checked
 * against the header, which catches a header that cannot be right without
 * reading the page frames: page numbers above `Commit`, frames that do not
 * fill the file exactly, a snapshot without every page up to `Commit`, and a
 * file whose `Commit` grew without holding every page the database grew by
 * (pages `(previous Commit, Commit]`, which a restore would otherwise find
 * in no file). What stays unseen: a wrong byte inside a page frame, or a
 * `Commit` changed to a value its pages and the next file allow; the file
 * checksum covers those, which `verify --full` checks.
 *
 * `allowNoChecksum` (for `--full`, which restores and compares pages)
 * accepts files without database checksums (NoChecksum without a record
 * of their bytes): they break the checksum chain (no continuity check
 * across them), record no position, and are counted in `unchecked`.
 *
 * @throws {ChecksumMismatchError} naming the first file (TXID range) whose
 *   pre-apply checksum does not continue the chain
 * @throws {CorruptFileError} when a header, trailer or page index is
 *   malformed or does not fit the header, a file does not record checksums
 *   (unless allowed), or its header TXIDs differ from its name
 */
export async function verifyChain(
  client: ReplicaClient,
  plan: RestorePlan,
  options: SignalOptions & { onFile?: (info: LtxFileInfo) => void; allowNoChecksum?: boolean } = {},
): Promise<ChainProof> {
  const sig = options.signal ? { signal: options.signal } : {};
  let bytesFetched = 0;
  let previous: bigint | undefined;
  let prevCommit: number | undefined;
  let pageSize = 0;
  let pages = 0;
  let unchecked = 0;
  const positions: Array<{ txid: Txid; checksum: bigint }> = [];
  for (const info of plan.files) {
    options.onFile?.(info);
    const name = describe(client, info);
    if (info.size < MIN_FILE_SIZE) {
      throw new CorruptFileError(
        `Cannot verify '${name}': it has ${info.size} bytes, an LTX file has at least ${MIN_FILE_SIZE}`,
        {
          path: name,
        },
      );
    }
    const headBytes = await client.readLtxFile(info, { offset: 0, size: HEADER_SIZE, ...sig });
    const tailSize = Math.min(info.size - HEADER_SIZE, TAIL_READ_SIZE);
    const tailBytes = await client.readLtxFile(info, { offset: info.size - tailSize, size: tailSize, ...sig });
    bytesFetched += headBytes.length + tailBytes.length;
    const h = decodeHeader(headBytes, { path: name });
    if (h.minTxid !== info.minTxid || h.maxTxid !== info.maxTxid) {
      throw new CorruptFileError(
        `Cannot verify '${name}': its header says TXIDs ${formatTxid(h.minTxid)}-${formatTxid(h.maxTxid)}`,
        { path: name },
      );
    }
    if (pageSize !== 0 && h.pageSize !== pageSize) {
      throw new CorruptFileError(`Cannot verify '${name}': page size ${h.pageSize} differs from ${pageSize}`, {
        path: name,
      });
    }
    if (tailBytes.length !== tailSize) {
      throw new CorruptFileError(`Cannot verify '${name}': it has fewer bytes than its listed size ${info.size}`, {
        path: name,
      });
    }
    pageSize = h.pageSize;
    pages = h.commit;
    const trailer = decodeTrailer(tailBytes.subarray(tailSize - TRAILER_SIZE), { path: name });
    try {
      validateTrailer(h, trailer);
    } catch (err) {
      throw new CorruptFileError(`Cannot verify '${name}': ${(err as Error).message}`, { path: name, cause: err });
    }
    const withIndex = await withPageIndex(client, info, tailBytes, { path: name, sig });
    bytesFetched += withIndex.fetched;
    checkPageIndex(h, withIndex.bytes, { path: name, fileSize: info.size, prevCommit });
    prevCommit = h.commit;
    const record = hasNoChecksum(h) ? (await client.statLtxFile(info, sig)).checksums : undefined;
    const checksums = effectiveChecksums(h, trailer, record);
    if (checksums === undefined) {
      if (options.allowNoChecksum !== true) {
        throw new CorruptFileError(
          `Cannot verify '${name}': it records no database checksums (NoChecksum flag, ${record === undefined ? "and no checksum record beside it" : "and its checksum record names other bytes"}), which the fast path compares; ` +
            "run 'litefleet verify --full', which restores the replica and compares every page",
          { path: name },
        );
      }
      unchecked++;
      previous = undefined;
      continue;
    }
    if (previous !== undefined && checksums.preApply !== previous) {
      throw new ChecksumMismatchError(
        `Cannot verify TXID ${formatTxid(h.minTxid)}: '${name}' has pre-apply checksum ${hex64(checksums.preApply)}, ` +
          `but the chain before it ends at ${hex64(previous)}`,
        { path: name, expected: previous, actual: checksums.preApply },
      );
    }
    previous = checksums.postApply;
    positions.push({ txid: h.maxTxid, checksum: previous });
  }
  if (plan.files.length === 0) throw new RangeError("Cannot verify an empty restore plan");
  return {
    txid: plan.txid,
    checksum: previous,
    pageSize,
    pages,
    files: plan.files.length,
    unchecked,
    bytesFetched,
    bytesInPlan: plan.files.reduce((n, f) => n + f.size, 0),
    positions,
  };
}

/**
 * The last bytes of `info` from its end marker on (end marker, page index,
 * index size, trailer): cut from `tail` (the last bytes already read), or
 * `tail` extended at its front with one more ranged read, whose size is
 * `fetched`.
 */
async function withPageIndex(
  client: ReplicaClient,
  info: LtxFileInfo,
  tail: Uint8Array,
  ctx: { path: string; sig: SignalOptions },
): Promise<{ bytes: Uint8Array; fetched: number }> {
  const view = new DataView(tail.buffer, tail.byteOffset + tail.length - INDEX_SIZE_FROM_END, 8);
  const indexSize = checkPageIndexSize(view.getBigUint64(0), info.size, { path: ctx.path });
  const need = PAGE_HEADER_SIZE + indexSize + INDEX_SIZE_FROM_END;
  if (need <= tail.length) return { bytes: tail.subarray(tail.length - need), fetched: 0 };
  const missing = need - tail.length;
  const front = await client.readLtxFile(info, { offset: info.size - need, size: missing, ...ctx.sig });
  if (front.length !== missing) {
    throw new CorruptFileError(`Cannot verify '${ctx.path}': it has fewer bytes than its listed size ${info.size}`, {
      path: ctx.path,
    });
  }
  const out = new Uint8Array(need);
  out.set(front, 0);
  out.set(tail, missing);
  return { bytes: out, fetched: missing };
}

/**
 * Checks the page index at the front of `tail` (end marker, index, index
 * size, trailer) against header `h`: its layout (`decodePageIndex`), and
 * that a `Commit` above `prevCommit` comes with every page in between.
 *
 * @throws {CorruptFileError} naming the file, what does not fit, and `verify --full`
 */
function checkPageIndex(
  h: LtxHeader,
  tail: Uint8Array,
  ctx: { path: string; fileSize: number; prevCommit: number | undefined },
): void {
  const { path, fileSize, prevCommit } = ctx;
  const full = "; the header or page index is corrupt, run 'litefleet verify --full' to check the whole file";
  const indexEnd = tail.length - INDEX_SIZE_FROM_END;
  let entries;
  try {
    checkEndMarker(tail.subarray(0, PAGE_HEADER_SIZE), fileSize - tail.length, { path });
    entries = decodePageIndex(tail.subarray(PAGE_HEADER_SIZE, indexEnd), { path, header: h, fileSize });
  } catch (err) {
    if (!(err instanceof CorruptFileError)) throw err;
    throw new CorruptFileError(`Cannot verify '${path}': ${indexProblem(err.message, path)}${full}`, {
      path,
      cause: err,
    });
  }
  if (prevCommit === undefined || h.commit <= prevCommit) return;
  const lock = lockPageNumber(h.pageSize);
  const grown = h.commit - prevCommit - (lock > prevCommit && lock <= h.commit ? 1 : 0);
  const held = entries.countAbove(prevCommit);
  if (held < grown) {
    throw new CorruptFileError(
      `Cannot verify '${path}': its header says the database grows from ${prevCommit} to ${h.commit} pages, ` +
        `but its page index holds ${held} of the ${grown} new pages${full}`,
      { path },
    );
  }
}

/** The state part of a decoder message about `path` ("Cannot decode LTX file '…': <state>"). */
function indexProblem(message: string, path: string): string {
  const prefix = `Cannot decode LTX file '${path}': `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}
