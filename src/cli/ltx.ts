/**
 * `litefleet ltx`: lists a replica's LTX files per level.
 *
 * @module
 */

import { formatTxid } from "../ltx/txid.ts";
import { listAllLtxFiles } from "../restore/planner.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { table } from "./text-table.ts";
import { loadConfig } from "./load-config.ts";
import { resolveReplicaSource } from "./replica-source.ts";

/** Options of `ltx`. */
export interface LtxOptions {
  readonly config?: string;
  readonly replica?: string;
  readonly json?: boolean;
}

/** Runs `ltx`; returns the exit code. */
export async function runLtx(io: CliIo, source: string, options: LtxOptions): Promise<number> {
  const config = loadConfig(io, options.config);
  const { client } = await resolveReplicaSource(io, source, { config, replica: options.replica });
  await client.init();
  const files = await listAllLtxFiles(client);
  if (options.json) {
    io.stdout(
      `${JSON.stringify(
        files.map((f) => ({
          level: f.level,
          min_txid: formatTxid(f.minTxid),
          max_txid: formatTxid(f.maxTxid),
          size: f.size,
          created_at: f.createdAt.toISOString(),
        })),
      )}\n`,
    );
    return ExitCode.ok;
  }
  const rows = [["level", "min_txid", "max_txid", "size", "created_at"]];
  for (const f of files) {
    rows.push([
      String(f.level),
      formatTxid(f.minTxid),
      formatTxid(f.maxTxid),
      String(f.size),
      f.createdAt.toISOString(),
    ]);
  }
  io.stdout(table(rows));
  return ExitCode.ok;
}
