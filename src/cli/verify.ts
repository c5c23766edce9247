/**
 * `litefleet verify DB_PATH [REPLICA_URL]`: proves that a replica holds the
 * live database (`src/verify/verify.ts`); when the config names a status
 * server and an agent answers there, it is asked to sync first
 * (`POST /sync`). Exit 0 only on proof; 3 naming the first TXID or page
 * that differs.
 *
 * @module
 */

import { resolve } from "node:path";
import { findConfiguredDb } from "../config/dir-entry.ts";
import { UsageError } from "../errors.ts";
import { verifyReplica, type VerifyReport } from "../verify/verify.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { resolveReplicaSource } from "./replica-source.ts";

/** Options of `verify`. */
export interface VerifyOptions {
  readonly config?: string;
  readonly replica?: string;
  readonly json?: boolean;
  readonly full?: boolean;
}

/** Runs `verify`; returns the exit code. */
export async function runVerify(
  io: CliIo,
  dbArg: string,
  replicaUrl: string | undefined,
  options: VerifyOptions,
): Promise<number> {
  const config = loadConfig(io, options.config);
  const dbPath = resolve(io.cwd, dbArg);
  const { client } = await resolveReplicaSource(io, replicaUrl ?? dbArg, { config, replica: options.replica });
  if (replicaUrl === undefined && !(config && findConfiguredDb(config, dbPath))) {
    throw new UsageError(
      `Cannot verify '${dbPath}': it is not a database in the config`,
      "pass --config, or a REPLICA_URL after DB_PATH",
    );
  }
  const report = await verifyReplica(dbPath, client, {
    full: options.full === true,
    sync: () => syncAgent(config?.status.addr),
  });
  return finish(io, options, report);
}

/** POST /sync to the agent, when one answers at `addr`; false when none does. */
async function syncAgent(addr: string | undefined): Promise<boolean> {
  if (!addr) return false;
  let res: Response;
  try {
    res = await fetch(`http://${addr}/sync`, { method: "POST", signal: AbortSignal.timeout(300_000) });
  } catch {
    return false;
  }
  const body = (await res.json().catch(() => ({ ok: false }))) as { ok?: boolean };
  return body.ok === true;
}

function finish(io: CliIo, options: VerifyOptions, report: VerifyReport): number {
  if (options.json) {
    io.stdout(`${JSON.stringify(report)}\n`);
  } else if (report.ok) {
    io.stdout(
      `ok: ${report.db} equals ${report.replica} at TXID ${report.matchedTxid} ` +
        `(checksum ${report.liveChecksum}, ${report.pages} pages; ${report.mode} path fetched ${report.bytesFetched} of ${report.bytesInPlan} bytes)\n`,
    );
    if ((report.uncheckedFiles ?? 0) > 0) {
      io.stdout(
        `note: ${report.uncheckedFiles} of ${report.files} files recorded no database checksums (written by another tool, or their checksum record names other bytes); the pages were compared instead\n`,
      );
    }
  }
  if (!report.ok) {
    io.stderr(`Error: Cannot verify '${report.db}': ${report.error}\n`);
    if (report.mode === "fast" && report.firstBadTxid === null && !report.agentSynced) {
      io.stderr("Try: if the agent has pending writes, run 'litefleet sync' and verify again, or use --full\n");
    }
    return ExitCode.integrity;
  }
  return ExitCode.ok;
}
