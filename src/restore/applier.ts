/**
 * Applies a restore plan: streams each file (`openLtxFile`) through the
 * stream decoder and writes its pages into `<output>.tmp` as they arrive,
 * keeping the database checksum (one checksum per page) as it goes; checks
 * each file's checksum at its end and the chain's database checksums
 * (pre-apply against the state built so far, post-apply after; which
 * checksums a file has is `effectiveChecksums`' rule: its own header and
 * trailer, or the record stored beside a NoChecksum file when it names
 * the file's bytes; files with none are counted, not skipped silently), then
 * fsyncs, runs `PRAGMA integrity_check`, and only then renames over
 * `<output>`. Memory is a page and a chunk plus 8 bytes per page, whatever
 * the files' sizes. A failure at any point (a checksum at the end of a
 * file included: the staged output is discarded) leaves `<output>`
 * untouched.
 *
 * @module
 */

import { ftruncateSync } from "node:fs";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { lockPageNumber, PageChecksums } from "../ltx/checksum.ts";
import { decodeLtxStream, type LtxStream } from "../ltx/stream-decoder.ts";
import { hasNoChecksum } from "../ltx/header.ts";
import { effectiveChecksums } from "../replica/checksum-record.ts";
import { GarbagePacer } from "../platform/gc.ts";
import { openFileReader, type RandomAccessReader } from "../platform/random-access.ts";
import { formatTxid, type Txid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient, SignalOptions } from "../replica/client.ts";
import type { DatabaseChecksums } from "../ltx/no-checksum.ts";
import { PageWriter } from "./page-writer.ts";
import { PlanPrefetcher } from "./prefetch.ts";
import { describe, type RestorePlan } from "./planner.ts";
import { type IntegrityCheck, writeStagedDatabase } from "../sqlite/staged-database.ts";

/** Where `ChainedDatabase.apply` reads a file: a replica, or what stands in for one (prefetched bytes, a local copy). */
export type LtxSource = Pick<ReplicaClient, "location" | "openLtxFile">;

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
  /**
   * Files of the plan that had no database checksums (stock Litestream's,
   * or a record that names other bytes): their pages were checked by the
   * file checksum only, the chain not across them.
   */
  readonly unchecked: number;
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
  options: SignalOptions & {
    output: string;
    onProgress?: (p: RestoreProgress) => void;
    /** The check before the output appears (default `full`: `PRAGMA integrity_check`). */
    integrity?: IntegrityCheck;
    /** Files downloaded at once, still applied in order (default 1; see `prefetch.ts`). */
    parallelism?: number;
  },
): Promise<RestoreResult> {
  const db = new ChainedDatabase();
  const bytesTotal = plan.files.reduce((n, f) => n + f.size, 0);
  let bytesDone = 0;
  const prefetch = new PlanPrefetcher(client, plan.files, {
    parallelism: options.parallelism ?? 1,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    await writeStagedDatabase(
      options.output,
      async (fd) => {
        for (const [i, info] of plan.files.entries()) {
          const source = { location: client.location, openLtxFile: () => prefetch.open(i) };
          await db.apply(source, info, fd, { ...options, first: i === 0 });
          bytesDone += info.size;
          options.onProgress?.({ filesDone: i + 1, filesTotal: plan.files.length, bytesDone, bytesTotal });
        }
        db.requireAllPages(client.location);
      },
      options.integrity ? { integrity: options.integrity } : {},
    );
  } finally {
    prefetch.close();
  }
  return {
    path: options.output,
    txid: plan.txid,
    pageSize: db.pageSize,
    pages: db.commit,
    files: plan.files.length,
    bytes: bytesDone,
    checksum: db.checksum,
    unchecked: db.unchecked,
  };
}

/**
 * A database file being built from LTX files, with its page checksums: each
 * file is checked against its name, its pre-apply checksum against the
 * database so far, its pages written, the file truncated to its commit, and
 * its post-apply checksum against the result. Also used to bring an
 * existing copy forward (`ChainedDatabase.fromFile`).
 */
export class ChainedDatabase {
  #sums = new PageChecksums(4096);
  #pacer = new GarbagePacer();
  #writer: PageWriter | undefined;
  pageSize = 0;
  commit = 0;
  /** Files applied that had no database checksums (see `RestoreResult.unchecked`). */
  unchecked = 0;

  /**
   * Starts from the database file at `path`, read one page at a time (its
   * checksums computed), to apply later files to it.
   */
  static fromFile(path: string, pageSize: number): ChainedDatabase {
    const reader = openFileReader(path);
    try {
      return ChainedDatabase.fromReader(reader, pageSize);
    } finally {
      reader.close();
    }
  }

  /** Starts from a database read through `reader` one page at a time (its checksums computed). */
  static fromReader(reader: RandomAccessReader, pageSize: number): ChainedDatabase {
    const db = new ChainedDatabase();
    db.pageSize = pageSize;
    db.commit = Math.floor(reader.size / pageSize);
    db.#sums = new PageChecksums(pageSize);
    for (let p = 1; p <= db.commit; p++) db.#sums.set(p, reader.read((p - 1) * pageSize, pageSize));
    return db;
  }

  /**
   * A copy with the same page checksums (8 bytes a page), to verify a file
   * against without touching this one: `fork().apply(…, undefined, …)`.
   */
  fork(): ChainedDatabase {
    const db = new ChainedDatabase();
    db.pageSize = this.pageSize;
    db.commit = this.commit;
    if (this.pageSize === 0) return db;
    db.#sums = new PageChecksums(this.pageSize);
    for (let p = 1; p <= this.#sums.pageCount; p++) {
      if (this.#sums.has(p)) db.#sums.setChecksum(p, this.#sums.get(p));
    }
    return db;
  }

  /** The LTX database checksum of what was built. */
  get checksum(): bigint {
    return this.#sums.databaseChecksum();
  }

  /**
   * Downloads `info` and applies it to the database open at `fd`; with
   * `fd` undefined, only checks it (every page decoded and checksummed,
   * nothing written: see `fork`).
   * `first` skips the pre-apply check (a snapshot starts the chain).
   * @throws {CorruptFileError} when the file is malformed or does not fit
   * @throws {ChecksumMismatchError} when a file or database checksum does not verify
   */
  async apply(
    client: LtxSource,
    info: LtxFileInfo,
    fd: number | undefined,
    options: SignalOptions & { first: boolean },
  ): Promise<void> {
    const name = describe(client, info);
    const chunks = await client.openLtxFile(info, options.signal ? { signal: options.signal } : {});
    const file = await decodeLtxStream(chunks, { path: name });
    try {
      await this.#applyStream(file, { info, name, fd, first: options.first, record: chunks.checksums });
    } catch (err) {
      await file.cancel().catch(() => {});
      throw err;
    }
  }

  /** Applies the pages of `file`, checked as `apply` describes. */
  async #applyStream(
    file: LtxStream,
    at: {
      info: LtxFileInfo;
      name: string;
      fd: number | undefined;
      first: boolean;
      record: DatabaseChecksums | undefined;
    },
  ): Promise<void> {
    const { info, name, fd, first, record } = at;
    const h = file.header;
    if (h.minTxid !== info.minTxid || h.maxTxid !== info.maxTxid) {
      throw new CorruptFileError(
        `Cannot apply '${name}': its header says TXIDs ${formatTxid(h.minTxid)}-${formatTxid(h.maxTxid)}`,
        { path: name },
      );
    }
    if (this.pageSize === 0) {
      this.pageSize = h.pageSize;
      this.#sums = new PageChecksums(h.pageSize);
    }
    if (h.pageSize !== this.pageSize) {
      throw new CorruptFileError(`Cannot apply '${name}': page size ${h.pageSize} differs from ${this.pageSize}`, {
        path: name,
      });
    }
    const sums = this.#sums;
    // A file's own pre-apply checksum is checked before its pages; a
    // record's only once the trailer shows it names these bytes.
    const before = first || (hasNoChecksum(h) && record === undefined) ? undefined : sums.databaseChecksum();
    if (!hasNoChecksum(h) && before !== undefined) checkPreApply(name, h.preApplyChecksum, before);
    // Pages land in the output before the file's checksum is known (it is
    // checked when the pages end): a bad file fails the whole restore, and
    // the caller discards the staged output. They are decoded straight into
    // the writer's buffer, which goes out a MiB at a time, and each page's
    // checksum comes from the decoder's one CRC pass over it.
    const writer = fd === undefined ? undefined : this.#writerFor(fd);
    const scratch = writer ? undefined : new Uint8Array(this.pageSize);
    const into = (pgno: number) => (writer ? writer.slot(pgno) : (scratch as Uint8Array));
    for await (const { pgno, digest } of file.pages({ into })) {
      sums.setDigest(pgno, digest);
      this.#pacer.add(this.pageSize);
    }
    writer?.flush();
    this.commit = h.commit;
    if (fd !== undefined) ftruncateSync(fd, this.commit * this.pageSize);
    sums.truncate(this.commit);
    const checksums = effectiveChecksums(h, file.trailer, record);
    if (checksums === undefined) {
      this.unchecked++;
      return;
    }
    if (hasNoChecksum(h) && before !== undefined) checkPreApply(name, checksums.preApply, before);
    if (checksums.postApply !== sums.databaseChecksum()) {
      throw new ChecksumMismatchError(
        `Cannot apply '${name}': post-apply checksum ${hex(checksums.postApply)} does not match the restored database (${hex(sums.databaseChecksum())})`,
        { path: name, expected: checksums.postApply, actual: sums.databaseChecksum() },
      );
    }
  }

  /** The page writer of `fd`, kept across files (its buffer is a MiB). */
  #writerFor(fd: number): PageWriter {
    if (this.#writer === undefined || this.#writer.fd !== fd || this.#writer.pageSize !== this.pageSize) {
      this.#writer = new PageWriter(fd, this.pageSize);
    }
    return this.#writer;
  }

  /**
   * Every page 1..commit (but the lock page) must have been written by some
   * file; a hole means the chain was incomplete, which would otherwise surface
   * as a zero page in the database.
   * @throws {CorruptFileError} naming the first missing page
   */
  requireAllPages(path: string): void {
    const lock = lockPageNumber(this.pageSize);
    for (let p = 1; p <= this.commit; p++) {
      if (p !== lock && !this.#sums.has(p)) {
        throw new CorruptFileError(`Cannot restore: page ${p} is in no file of the chain`, { path });
      }
    }
  }
}

/** @throws {ChecksumMismatchError} when `preApply` is not the checksum of the database built so far */
function checkPreApply(name: string, preApply: bigint, before: bigint): void {
  if (preApply === before) return;
  throw new ChecksumMismatchError(
    `Cannot apply '${name}': pre-apply checksum ${hex(preApply)} does not match the database built so far (${hex(before)})`,
    { path: name, expected: preApply, actual: before },
  );
}

function hex(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}
