/**
 * `litefleet restore`: rebuilds a database from a replica, at the latest
 * TXID, a given `--txid`, or the last state at or before `--timestamp`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { formatTxid, parseTxid, type Txid } from "../ltx/txid.ts";
import { applyRestorePlan, type RestoreProgress } from "../restore/applier.ts";
import { listAllLtxFiles, planRestore } from "../restore/planner.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { resolveReplicaSource } from "./replica-source.ts";

/** Options of `restore`. */
export interface RestoreOptions {
  readonly config?: string;
  readonly output?: string;
  readonly txid?: string;
  readonly timestamp?: string;
  readonly replica?: string;
  readonly ifDbNotExists?: boolean;
  readonly ifReplicaExists?: boolean;
  readonly json?: boolean;
}

/** Runs `restore`; returns the exit code. */
export async function runRestore(io: CliIo, source: string, options: RestoreOptions): Promise<number> {
  const target = parseTarget(options);
  const config = loadConfig(io, options.config);
  const { client, db } = resolveReplicaSource(io, source, { config, replica: options.replica });
  const outputArg = options.output ?? db?.path;
  if (outputArg === undefined) {
    throw new UsageError("Cannot restore from a replica URL without an output path", "add -o PATH");
  }
  const output = resolve(io.cwd, outputArg);
  const say = (msg: string) => {
    if (!options.json) io.stderr(`${msg}\n`);
  };
  if (existsSync(output)) {
    if (options.ifDbNotExists) {
      say(`Database '${output}' already exists; nothing restored`);
      if (options.json) io.stdout(`${JSON.stringify({ restored: false, reason: "db-exists", path: output })}\n`);
      return ExitCode.ok;
    }
    throw new UsageError(`Cannot restore to '${output}': the file exists`, "choose another path with -o, or add --if-db-not-exists");
  }
  await client.init();
  const files = await listAllLtxFiles(client);
  if (files.length === 0 && options.ifReplicaExists) {
    say(`Replica '${client.location}' holds no backup; nothing restored`);
    if (options.json) io.stdout(`${JSON.stringify({ restored: false, reason: "no-replica", path: output })}\n`);
    return ExitCode.ok;
  }
  const plan = await planRestore(client, target, { files });
  say(`Restoring ${client.location} to TXID ${formatTxid(plan.txid)} (${plan.files.length} files, ${formatBytes(plan.files.reduce((n, f) => n + f.size, 0))}) into ${output}`);
  const started = Date.now();
  const progress = io.isTty && !options.json ? progressPrinter(io, started) : undefined;
  const result = await applyRestorePlan(client, plan, { output, ...(progress ? { onProgress: progress } : {}) });
  if (progress) io.stderr("\n");
  if (options.json) {
    io.stdout(
      `${JSON.stringify({
        restored: true,
        path: result.path,
        txid: formatTxid(result.txid),
        pageSize: result.pageSize,
        pages: result.pages,
        files: result.files,
        bytes: result.bytes,
        checksum: result.checksum.toString(16).padStart(16, "0"),
        seconds: (Date.now() - started) / 1000,
      })}\n`,
    );
  } else {
    say(`Restored TXID ${formatTxid(result.txid)}: ${result.pages} pages, integrity ok, in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }
  return ExitCode.ok;
}

function parseTarget(options: RestoreOptions): { txid?: Txid; timestamp?: Date } {
  if (options.txid !== undefined && options.timestamp !== undefined) {
    throw new UsageError("Cannot combine --txid and --timestamp", "give one restore target");
  }
  if (options.txid !== undefined) {
    try {
      return { txid: parseTxid(options.txid) };
    } catch {
      throw new UsageError(`Cannot parse --txid '${options.txid}': expected up to 16 hex digits`, "e.g. --txid 00000000000000a3");
    }
  }
  if (options.timestamp !== undefined) {
    const t = new Date(options.timestamp);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(options.timestamp) || Number.isNaN(t.getTime())) {
      throw new UsageError(`Cannot parse --timestamp '${options.timestamp}': expected RFC 3339`, "e.g. --timestamp 2026-11-22T10:00:00Z");
    }
    return { timestamp: t };
  }
  return {};
}

function progressPrinter(io: CliIo, started: number): (p: RestoreProgress) => void {
  return (p) => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? p.bytesDone / elapsed : 0;
    const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : 0;
    io.stderr(
      `\r${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}, ETA ${eta.toFixed(0)}s   `,
    );
  };
}

/** Formats a byte count for people: 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
