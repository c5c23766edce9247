/**
 * The fast path of `litefleet verify`: walks a restore plan reading only
 * each LTX file's header (first 100 bytes) and trailer (last 16 bytes) with
 * ranged reads, and checks the chain of database checksums: every file's
 * pre-apply checksum equals the previous file's post-apply checksum. The
 * result is the post-apply checksum the replica claims for the plan's TXID.
 *
 * What this does not prove: that the page bodies match their checksums. A
 * file's own checksum covers its whole body, so checking it means
 * downloading it; that is `verify --full` (see `src/cli/verify.ts`).
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { decodeHeader, decodeTrailer, HEADER_SIZE, hasNoChecksum, hex64, TRAILER_SIZE, validateTrailer } from "../ltx/header.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient, SignalOptions } from "../replica/client.ts";
import { describe, type RestorePlan } from "../restore/planner.ts";

/** What the chain walk proved. */
export interface ChainProof {
  /** The TXID the plan reaches. */
  readonly txid: Txid;
  /** The post-apply database checksum the chain records at `txid`. */
  readonly checksum: bigint;
  readonly pageSize: number;
  /** Database size in pages at `txid`. */
  readonly pages: number;
  /** Files walked. */
  readonly files: number;
  /** Bytes downloaded (headers and trailers only). */
  readonly bytesFetched: number;
  /** Total size of the plan's files, for comparison. */
  readonly bytesInPlan: number;
  /** The post-apply checksum at each file's last TXID, in plan order. */
  readonly positions: ReadonlyArray<{ readonly txid: Txid; readonly checksum: bigint }>;
}

/**
 * Walks `plan` reading headers and trailers only.
 *
 * @throws {ChecksumMismatchError} naming the first file (TXID range) whose
 *   pre-apply checksum does not continue the chain
 * @throws {CorruptFileError} when a header or trailer is malformed, a file
 *   does not record checksums, or its header TXIDs differ from its name
 */
export async function verifyChain(
  client: ReplicaClient,
  plan: RestorePlan,
  options: SignalOptions & { onFile?: (info: LtxFileInfo) => void } = {},
): Promise<ChainProof> {
  const sig = options.signal ? { signal: options.signal } : {};
  let bytesFetched = 0;
  let previous: bigint | undefined;
  let pageSize = 0;
  let pages = 0;
  const positions: Array<{ txid: Txid; checksum: bigint }> = [];
  for (const info of plan.files) {
    options.onFile?.(info);
    const name = describe(client, info);
    if (info.size < HEADER_SIZE + TRAILER_SIZE) {
      throw new CorruptFileError(`Cannot verify '${name}': it has ${info.size} bytes, less than a header and trailer`, { path: name });
    }
    const headBytes = await client.readLtxFile(info, { offset: 0, size: HEADER_SIZE, ...sig });
    const tailBytes = await client.readLtxFile(info, { offset: info.size - TRAILER_SIZE, size: TRAILER_SIZE, ...sig });
    bytesFetched += headBytes.length + tailBytes.length;
    const h = decodeHeader(headBytes, { path: name });
    if (h.minTxid !== info.minTxid || h.maxTxid !== info.maxTxid) {
      throw new CorruptFileError(
        `Cannot verify '${name}': its header says TXIDs ${formatTxid(h.minTxid)}-${formatTxid(h.maxTxid)}`,
        { path: name },
      );
    }
    if (hasNoChecksum(h)) {
      throw new CorruptFileError(
        `Cannot verify '${name}': it records no database checksums (NoChecksum flag); use --full`,
        { path: name },
      );
    }
    if (pageSize !== 0 && h.pageSize !== pageSize) {
      throw new CorruptFileError(`Cannot verify '${name}': page size ${h.pageSize} differs from ${pageSize}`, { path: name });
    }
    pageSize = h.pageSize;
    pages = h.commit;
    const trailer = decodeTrailer(tailBytes, { path: name });
    try {
      validateTrailer(h, trailer);
    } catch (err) {
      throw new CorruptFileError(`Cannot verify '${name}': ${(err as Error).message}`, { path: name, cause: err });
    }
    if (previous !== undefined && h.preApplyChecksum !== previous) {
      throw new ChecksumMismatchError(
        `Cannot verify TXID ${formatTxid(h.minTxid)}: '${name}' has pre-apply checksum ${hex64(h.preApplyChecksum)}, ` +
          `but the chain before it ends at ${hex64(previous)}`,
        { path: name, expected: previous, actual: h.preApplyChecksum },
      );
    }
    previous = trailer.postApplyChecksum;
    positions.push({ txid: h.maxTxid, checksum: previous });
  }
  if (previous === undefined) throw new RangeError("Cannot verify an empty restore plan");
  return {
    txid: plan.txid,
    checksum: previous,
    pageSize,
    pages,
    files: plan.files.length,
    bytesFetched,
    bytesInPlan: plan.files.reduce((n, f) => n + f.size, 0),
    positions,
  };
}
