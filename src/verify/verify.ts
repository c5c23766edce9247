/**
 * Proves that a replica holds the live database (`litefleet verify` and the
 * fleet `verify` command).
 *
 * Fast path (default):
 * 1. Read the live database page by page in one read transaction (the
 *    database file and our own index of the WAL, `readLiveImage`) and
 *    compute its page checksums and LTX database checksum; memory is 8
 *    bytes per page, never the database.
 * 2. Let the caller make a running agent sync (`sync`), so the replica
 *    holds at least what was read.
 * 3. Plan a restore to the replica's latest TXID and walk it reading only
 *    headers, trailers and page indexes (`verifyChain`): each header
 *    against its index, chain continuity, and the post-apply checksum at
 *    each file's last TXID.
 * 4. Proof: the live checksum equals the post-apply checksum at the latest
 *    TXID (or, when writes landed after step 1, at an earlier position of
 *    the plan). Otherwise the report names the replica's TXID and both
 *    checksums.
 *
 * Full: restore the plan into a temporary file (every file checksum and
 * chain checksum verified by the applier) and compare it page by page with
 * the live read, by page checksum (CRC-64 of page number and bytes, taken
 * during that read, so writes since do not matter); the report names the
 * first differing page. Files with the
 * NoChecksum flag are accepted here (the page comparison needs no database
 * checksums); the fast path rejects them.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { hex64 } from "../ltx/header.ts";
import { formatTxid } from "../ltx/txid.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { listAllLtxFiles, planRestore, type RestorePlan } from "../restore/planner.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { verifyChain, type ChainProof } from "./chain.ts";
import { firstDifferingPageInFile, readLiveImage, type LiveImage } from "./live-image.ts";

/** Fast-path attempts while a running agent keeps writing (see `verifyReplica`). */
const FAST_ATTEMPTS = 3;

/** The JSON document `verify --json` prints. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly mode: "fast" | "full";
  readonly db: string;
  readonly replica: string;
  /** Whether a running agent synced before the comparison. */
  readonly agentSynced: boolean;
  /** The replica's latest TXID (hex). */
  readonly txid: string;
  /** The TXID whose state equals the live database, when proven. */
  readonly matchedTxid: string | null;
  readonly liveChecksum: string;
  /** Null when the chain failed before its end. */
  readonly replicaChecksum: string | null;
  readonly pages: number;
  readonly pageSize: number;
  readonly files: number;
  /**
   * Files of the plan without database checksums (stock Litestream's, or a
   * checksum record that names other bytes), checked by `--full` through
   * their pages only; the fast path fails on them. Null when a check failed
   * part way.
   */
  readonly uncheckedFiles: number | null;
  /** Null when a check failed part way. */
  readonly bytesFetched: number | null;
  readonly bytesInPlan: number;
  /** `--full` only: first page that differs. */
  readonly firstDifferingPage: number | null;
  /** The first TXID of the first replica file that failed a checksum or chain check (hex). */
  readonly firstBadTxid: string | null;
  /** That file, as `level N MIN-MAX.ltx`. */
  readonly badFile: string | null;
  readonly error: string | null;
}

/**
 * Verifies `dbPath` against `client` (see the module documentation).
 * `sync` asks a running agent to sync and says whether one did.
 * @throws {Error} for anything but a replica file failing a check (which the report names)
 */
export async function verifyReplica(
  dbPath: string,
  client: ReplicaClient,
  options: { full: boolean; sync: () => Promise<boolean> },
): Promise<VerifyReport> {
  await client.init();
  // With a running agent, writes can land between the live read and the
  // sync, leaving the live state inside a file's TXID range where no
  // checksum is recorded; a few fresh attempts settle that when writes pause.
  const attempts = options.full ? 1 : FAST_ATTEMPTS;
  let current: LtxFileInfo | undefined;
  for (let attempt = 1; ; attempt++) {
    const live = readLiveImage(dbPath);
    const agentSynced = await options.sync();
    const files = await listAllLtxFiles(client);
    const plan = await planRestore(client, {}, { files });
    let chain: ChainProof | undefined;
    try {
      // --full compares pages, so files without database checksums can still be proven.
      chain = await verifyChain(client, plan, { onFile: (f) => void (current = f), allowNoChecksum: options.full });
    } catch (err) {
      // --full downloads and checks every file anyway: its restore names
      // what is wrong (a file checksum covers the header too).
      if (!options.full || !(err instanceof ChecksumMismatchError || err instanceof CorruptFileError)) {
        return failed({ err, info: current, mode: "fast", dbPath, client, agentSynced, plan, live });
      }
    }
    const gathered = { dbPath, client, agentSynced, plan, live };
    if (options.full) return await concludeFull({ ...gathered, chain });
    const proof = chain as ChainProof;
    const settled = proof.positions.some((p) => p.checksum === live.checksum);
    if (settled || !agentSynced || attempt >= attempts) return concludeFast({ ...gathered, chain: proof });
  }
}

/** Everything one attempt gathered. */
interface Attempt {
  readonly dbPath: string;
  readonly client: ReplicaClient;
  readonly agentSynced: boolean;
  readonly plan: RestorePlan;
  readonly live: LiveImage;
}

/** Reports a replica file that failed a check; rethrows anything else. */
function failed(a: Attempt & { err: unknown; info: LtxFileInfo | undefined; mode: "fast" | "full" }): VerifyReport {
  const { err, info, plan, live } = a;
  if (!(err instanceof ChecksumMismatchError || err instanceof CorruptFileError) || !info) throw err;
  return {
    ok: false,
    mode: a.mode,
    db: a.dbPath,
    replica: a.client.location,
    agentSynced: a.agentSynced,
    txid: formatTxid(plan.txid),
    matchedTxid: null,
    liveChecksum: hex64(live.checksum),
    replicaChecksum: null,
    pages: live.pages,
    pageSize: live.pageSize,
    files: plan.files.length,
    uncheckedFiles: null,
    bytesFetched: null,
    bytesInPlan: plan.files.reduce((n, f) => n + f.size, 0),
    firstDifferingPage: null,
    firstBadTxid: formatTxid(info.minTxid),
    badFile: `level ${info.level} ${formatLtxFileName(info.minTxid, info.maxTxid)}`,
    error: `replica file at TXID ${formatTxid(info.minTxid)} is bad: ${err.message}`,
  };
}

/** Compares the live image with the walked chain. */
function concludeFast(a: Attempt & { chain: ChainProof }): VerifyReport {
  const { live, chain, plan } = a;
  // When the agent wrote after the live read, the live state may sit at an
  // earlier file boundary of the plan (the only TXIDs trailers record).
  const matched = [...chain.positions].reverse().find((p) => p.checksum === live.checksum)?.txid;
  const replicaChecksum = chain.checksum === undefined ? null : hex64(chain.checksum);
  const ok = matched !== undefined;
  return {
    ...reportBase(a),
    replicaChecksum,
    ok,
    mode: "fast",
    matchedTxid: matched === undefined ? null : formatTxid(matched),
    uncheckedFiles: chain.unchecked,
    bytesFetched: chain.bytesFetched,
    firstDifferingPage: null,
    firstBadTxid: null,
    badFile: null,
    error: ok
      ? null
      : `live database checksum ${hex64(live.checksum)} does not equal the replica's post-apply checksum ${replicaChecksum} at TXID ${formatTxid(plan.txid)}`,
  };
}

/** The report fields every outcome shares. */
function reportBase(
  a: Attempt,
): Pick<
  VerifyReport,
  "db" | "replica" | "agentSynced" | "txid" | "liveChecksum" | "pages" | "pageSize" | "files" | "bytesInPlan"
> {
  return {
    db: a.dbPath,
    replica: a.client.location,
    agentSynced: a.agentSynced,
    txid: formatTxid(a.plan.txid),
    liveChecksum: hex64(a.live.checksum),
    pages: a.live.pages,
    pageSize: a.live.pageSize,
    files: a.plan.files.length,
    bytesInPlan: a.plan.files.reduce((n, f) => n + f.size, 0),
  };
}

/**
 * Restores the plan into a temporary file and compares it page by page
 * with the live image. `chain` (absent when the header walk failed, which
 * the restore then reports in full) gives the file boundaries whose
 * checksum the live image may match.
 */
async function concludeFull(a: Attempt & { chain: ChainProof | undefined }): Promise<VerifyReport> {
  const { client, live, chain } = a;
  const matched = chain && [...chain.positions].reverse().find((p) => p.checksum === live.checksum)?.txid;
  // --full restores to the TXID the live image claims to be, when it claims one.
  const plan = matched !== undefined && matched !== a.plan.txid ? await planRestore(client, { txid: matched }) : a.plan;
  const base = reportBase({ ...a, plan });
  let current = plan.files[0];
  const dir = mkdtempSync(join(tmpdir(), "litefleet-verify-"));
  try {
    const output = join(dir, "restored.db");
    let result;
    try {
      result = await applyRestorePlan(client, plan, {
        output,
        onProgress: (p) => void (current = plan.files[p.filesDone]),
      });
    } catch (err) {
      return failed({ ...a, plan, err, info: current, mode: "full" });
    }
    const page = firstDifferingPageInFile(live, output, live.pageSize || result.pageSize);
    const ok = page === undefined;
    return {
      ...base,
      replicaChecksum: hex64(result.checksum),
      ok,
      mode: "full",
      matchedTxid: ok ? formatTxid(plan.txid) : null,
      uncheckedFiles: result.unchecked,
      bytesFetched: result.bytes,
      firstDifferingPage: page ?? null,
      firstBadTxid: null,
      badFile: null,
      error: ok
        ? null
        : `page ${page} of the live database differs from the replica restored at TXID ${formatTxid(plan.txid)}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
