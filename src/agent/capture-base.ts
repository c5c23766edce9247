/**
 * The state the next captured file applies on (the "base") and its page
 * checksums: kept in memory while capture runs (they give each file's
 * post-apply checksum) and recorded in `pages.crc`, so that after a restart
 * that cannot prove the WAL position a resync still knows which pages
 * changed (docs/ARCHITECTURE.md, "Resync").
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { PageChecksums } from "../ltx/checksum.ts";
import type { Txid } from "../ltx/txid.ts";
import type { Logger } from "../log.ts";
import type { LtxFileInfo } from "../replica/client.ts";
import type { CapturePosition, LocalStore } from "./local-store.ts";
import { readLocalLtxEnds } from "./local-ltx.ts";
import type { PageChecksumFile } from "./page-checksum-file.ts";

/** A state a file can apply on, with its database checksum; `commit` is unknown only for a replica's tip. */
export interface BaseState {
  readonly txid: Txid;
  readonly checksum: bigint;
  readonly commit: number | undefined;
}

/** See the module documentation. */
export class CaptureBase {
  #file: PageChecksumFile;
  #pageSize: number;
  #log: Logger;
  #state: BaseState | undefined;
  #sums: PageChecksums;
  /** True when `#sums` holds exactly the page checksums of `#state`. */
  #valid = false;
  /** TXID of the state pages.crc records, when known (it may then be updated in place). */
  #fileTxid: Txid | undefined;

  constructor(options: { file: PageChecksumFile; pageSize: number; log: Logger }) {
    this.#file = options.file;
    this.#pageSize = options.pageSize;
    this.#log = options.log;
    this.#sums = new PageChecksums(options.pageSize);
  }

  /** The base state, when its checksum is known. */
  get state(): BaseState | undefined {
    return this.#state;
  }

  /** The page checksums capture maintains (of the base once a file is written). */
  get checksums(): PageChecksums {
    return this.#sums;
  }

  /** Sets the base found at start (see {@linkcode findBase}); its page checksums are not known yet. */
  reset(state: BaseState | undefined): void {
    this.#state = state;
    this.#valid = false;
  }

  /**
   * The state at the saved position was proven at start: `sums`, computed
   * from the database, are its page checksums. Rewrites pages.crc from
   * them, so a damaged or stale file does not linger.
   */
  proven(state: BaseState & { commit: number }, sums: PageChecksums): void {
    this.#state = state;
    this.#sums = sums;
    this.#valid = true;
    this.#persist(state, undefined);
  }

  /**
   * Whether the page checksums of the base are known, loading them from
   * pages.crc when memory does not hold them (at start, or after a failed
   * sync). Logs why a file is not usable.
   */
  checksumsKnown(): boolean {
    const base = this.#state;
    if (!base) return false;
    if (this.#valid) return true;
    let res: ReturnType<PageChecksumFile["load"]>;
    try {
      res = this.#file.load({
        txid: base.txid,
        checksum: base.checksum,
        pageSize: this.#pageSize,
        ...(base.commit === undefined ? {} : { commit: base.commit }),
      });
    } catch (err) {
      res = { untrusted: `cannot read the page checksum file (${errorMessage(err)})` };
    }
    if ("untrusted" in res) {
      this.#log.info("page checksums of the last capture are not usable; the resync sends every page", {
        reason: res.untrusted,
      });
      return false;
    }
    this.#sums = res.checksums;
    this.#valid = true;
    this.#fileTxid = base.txid;
    this.#state = { ...base, commit: res.commit };
    return true;
  }

  /** Starts from empty checksums for a file that holds every page. */
  startOver(): PageChecksums {
    this.#sums = new PageChecksums(this.#pageSize);
    this.#valid = false;
    return this.#sums;
  }

  /** A sync failed while updating the checksums in memory: they are no longer the base's. */
  invalidate(): void {
    this.#valid = false;
  }

  /**
   * A file was written: `checksums` now hold `state`, which becomes the
   * base. Records it in pages.crc: only the `changed` entries when the file
   * holds `prevTxid`'s state, else every entry. A state without a checksum
   * (an empty database) is no base.
   */
  captured(
    state: BaseState & { commit: number },
    options: { prevTxid: Txid | undefined; changed: readonly number[] | undefined },
  ): void {
    this.#state = state.checksum === 0n ? undefined : state;
    this.#valid = true;
    const inPlace = options.prevTxid !== undefined && this.#fileTxid === options.prevTxid;
    this.#persist(state, inPlace ? options.changed : undefined);
  }

  /**
   * Best effort: the file only saves bytes at a resync, so a failure is
   * logged and the file dropped.
   */
  #persist(state: BaseState & { commit: number }, changed: readonly number[] | undefined): void {
    this.#fileTxid = undefined;
    if (state.checksum === 0n) return;
    try {
      this.#file.write(this.#sums, { ...state, pageSize: this.#pageSize }, changed);
      this.#fileTxid = state.txid;
    } catch (err) {
      this.#log.warn("cannot record page checksums; the next resync sends every page", { err: errorMessage(err) });
      try {
        this.#file.remove();
      } catch {
        // Left as it is, its entries no longer add up to the checksum its
        // header records, so it is not trusted.
      }
    }
  }
}

/**
 * The state the next file will apply on at start: TXID `tip` (the highest
 * known), with its database checksum from the first source that records
 * it — the replica's tip checksum, the saved position, or the trailer of
 * the newest local L0 file (the position lags it after a crash between the
 * two). Undefined when none does.
 */
export function findBase(options: {
  tip: Txid;
  floorChecksum: { txid: Txid; checksum: bigint } | undefined;
  pos: CapturePosition | undefined;
  lastLocal: LtxFileInfo | undefined;
  store: LocalStore;
  pageSize: number;
  log: Logger;
}): BaseState | undefined {
  const { tip, floorChecksum, pos, lastLocal, pageSize } = options;
  if (floorChecksum?.txid === tip) return { txid: tip, checksum: floorChecksum.checksum, commit: undefined };
  if (pos?.txid === tip && pos.pageSize === pageSize && pos.postApplyChecksum !== 0n) {
    return { txid: tip, checksum: pos.postApplyChecksum, commit: pos.commit };
  }
  if (lastLocal?.maxTxid !== tip) return undefined;
  try {
    const { header, postApplyChecksum } = readLocalLtxEnds(options.store.spool, lastLocal);
    if (header.pageSize !== pageSize || postApplyChecksum === 0n) return undefined;
    return { txid: tip, checksum: postApplyChecksum, commit: header.commit };
  } catch (err) {
    options.log.warn("cannot read the newest local L0 file; the next file holds every page", {
      err: errorMessage(err),
    });
    return undefined;
  }
}
