/**
 * Applies a restore plan: downloads each file, verifies its file checksum
 * and the chain's database checksums (pre-apply against the state built so
 * far, post-apply after), writes pages into `<output>.tmp`, then fsyncs,
 * runs `PRAGMA integrity_check`, and only then renames over `<output>`.
 * A failure at any point leaves `<output>` untouched.
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import { decodeLtxFile } from "../ltx/decoder.ts";
import { HEADER_FLAG_NO_CHECKSUM } from "../ltx/header.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import type { ReplicaClient, SignalOptions } from "../replica/client.ts";
import { describe, type RestorePlan } from "./planner.ts";
import { writeAll, writeStagedDatabase } from "./staged-database.ts";

/** Progress after each file. */
export interface RestoreProgress {
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** The outcome of a restore. */
export interface RestoreResult {
  readonly path: string;
  readonly txid: Txid;
  readonly pageSize: number;
  readonly pages: number;
  readonly files: number;
  readonly bytes: number;
  /** Database checksum of the result (LTX definition). */
  readonly checksum: bigint;
}

/**
 * Restores `plan` into `output`.
 * @throws {CorruptFileError} when a file is malformed or does not fit the chain
 * @throws {ChecksumMismatchError} when a file or database checksum does not verify
 * @throws {Error} when `output` exists or the result fails `integrity_check`
 */
export async function applyRestorePlan(
  client: ReplicaClient,
  plan: RestorePlan,
  options: SignalOptions & { output: string; onProgress?: (p: RestoreProgress) => void },
): Promise<RestoreResult> {
  const output = options.output;
  let sums = new PageChecksums(4096);
  const bytesTotal = plan.files.reduce((n, f) => n + f.size, 0);
  let bytesDone = 0;
  let pageSize = 0;
  let commit = 0;
  await writeStagedDatabase(output, async (fd) => {
    for (const [i, info] of plan.files.entries()) {
      const name = describe(client, info);
      const bytes = await client.readLtxFile(info, options.signal ? { signal: options.signal } : {});
      const file = decodeLtxFile(bytes, { path: name });
      const h = file.header;
      if (h.minTxid !== info.minTxid || h.maxTxid !== info.maxTxid) {
        throw new CorruptFileError(
          `Cannot apply '${name}': its header says TXIDs ${formatTxid(h.minTxid)}-${formatTxid(h.maxTxid)}`,
          { path: name },
        );
      }
      if (pageSize === 0) {
        pageSize = h.pageSize;
        sums = new PageChecksums(pageSize);
      }
      if (h.pageSize !== pageSize) {
        throw new CorruptFileError(`Cannot apply '${name}': page size ${h.pageSize} differs from ${pageSize}`, { path: name });
      }
      const checked = (h.flags & HEADER_FLAG_NO_CHECKSUM) === 0;
      if (checked && i > 0 && h.preApplyChecksum !== sums.databaseChecksum()) {
        throw new ChecksumMismatchError(
          `Cannot apply '${name}': pre-apply checksum ${hex(h.preApplyChecksum)} does not match the database built so far (${hex(sums.databaseChecksum())})`,
          { path: name, expected: h.preApplyChecksum, actual: sums.databaseChecksum() },
        );
      }
      for (const { pgno, data } of file.pages()) {
        writeAll(fd, data, (pgno - 1) * pageSize);
        sums.set(pgno, data);
      }
      commit = h.commit;
      ftruncateSync(fd, commit * pageSize);
      sums.truncate(commit);
      if (checked && file.trailer.postApplyChecksum !== sums.databaseChecksum()) {
        throw new ChecksumMismatchError(
          `Cannot apply '${name}': post-apply checksum ${hex(file.trailer.postApplyChecksum)} does not match the restored database (${hex(sums.databaseChecksum())})`,
          { path: name, expected: file.trailer.postApplyChecksum, actual: sums.databaseChecksum() },
        );
      }
      bytesDone += info.size;
      options.onProgress?.({ filesDone: i + 1, filesTotal: plan.files.length, bytesDone, bytesTotal });
    }
    requireAllPages(sums, { pageSize, commit, path: client.location });
  });
  return {
    path: output,
    txid: plan.txid,
    pageSize,
    pages: commit,
    files: plan.files.length,
    bytes: bytesDone,
    checksum: sums.databaseChecksum(),
  };
}

/**
 * Every page 1..commit (but the lock page) must have been written by some
 * file; a hole means the chain was incomplete, which would otherwise surface
 * as a zero page in the database.
 */
function requireAllPages(sums: PageChecksums, geo: { pageSize: number; commit: number; path: string }): void {
  const lock = lockPageNumber(geo.pageSize);
  for (let p = 1; p <= geo.commit; p++) {
    if (p !== lock && sums.get(p) === 0n) {
      throw new CorruptFileError(`Cannot restore: page ${p} is in no file of the chain`, { path: geo.path });
    }
  }
}

function hex(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}

