/**
 * `litefleet restore`: rebuilds a database from a replica, at the latest
 * TXID, a given `--txid`, or the last state at or before `--timestamp`;
 * `--dry-run` prints the plan only (`restore-dry-run.ts`), `--follow`
 * keeps the copy up to date afterwards (`restore-follow.ts`).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalStore } from "../agent/local-store.ts";
import type { DbConfig } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import { formatTxid, parseTxid, type Txid } from "../ltx/txid.ts";
import { applyRestorePlan, type RestoreProgress } from "../restore/applier.ts";
import { listAllLtxFiles, planRestore } from "../restore/planner.ts";
import { checkOutputDirectory, INTEGRITY_CHECKS, type IntegrityCheck } from "../sqlite/staged-database.ts";
import type { ReplicaSpec } from "../replica/spec.ts";
import { parseReplicaUrl } from "../replica/url.ts";
import { durationOption } from "./duration-option.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { resolveReplicaSource } from "./replica-source.ts";

/** Options of `restore`. */
export interface RestoreOptions {
  readonly config?: string;
  readonly output?: string;
  readonly txid?: string;
  readonly timestamp?: string;
  /** Litestream v0.3 generation (16 hex digits). */
  readonly generation?: string;
  /** Litestream v0.3 WAL index to stop at (needs `generation`). */
  readonly index?: string;
  readonly replica?: string;
  readonly ifDbNotExists?: boolean;
  readonly ifReplicaExists?: boolean;
  readonly json?: boolean;
  /** `none`, `quick` or `full` (default). */
  readonly integrityCheck?: string;
  /** Files downloaded at once (default 8). */
  readonly parallelism?: string;
  readonly dryRun?: boolean;
  /** Keep applying new files after the restore (`-f`). */
  readonly follow?: boolean;
  /** How often follow mode polls the replica (default 1s). */
  readonly followInterval?: string;
}

/** Default `--parallelism`, as stock Litestream. */
export const DEFAULT_PARALLELISM = 8;

/** Runs `restore`; returns the exit code. */
export async function runRestore(io: CliIo, source: string, options: RestoreOptions): Promise<number> {
  const target = parseTarget(options);
  const v3Target = parseV3Target(options);
  const integrity = parseIntegrityCheck(options.integrityCheck);
  const parallelism = parseParallelism(options.parallelism);
  checkFollowOptions(options);
  const config = loadConfig(io, options.config);
  const v3Dir = resolve(io.cwd, source);
  if (!source.includes("://") && !existsSync(join(v3Dir, "ltx")) && existsSync(join(v3Dir, "generations"))) {
    // A bare Litestream v0.3 file replica directory (no LTX files at all).
    const db = config?.dbs.find((d) => d.path === v3Dir);
    if (!db && target.txid !== undefined)
      throw new UsageError(
        "Cannot use --txid with a Litestream v0.3 replica",
        "use --generation/--index or --timestamp",
      );
    if (!db) {
      if (options.follow) throw followV3Error();
      return runV3Restore(
        io,
        { type: "file", path: v3Dir },
        {
          output: options.output,
          target: v3Target,
          json: options.json,
          ifDbNotExists: options.ifDbNotExists,
          integrity,
          dryRun: options.dryRun,
        },
      );
    }
  }
  const { client, db } = await resolveReplicaSource(io, source, { config, replica: options.replica });
  const outputArg = options.output ?? db?.path;
  if (outputArg === undefined) {
    throw new UsageError("Cannot restore from a replica URL without an output path", "add -o PATH");
  }
  const output = resolve(io.cwd, outputArg);
  const say = (msg: string) => {
    if (!options.json) io.stderr(`${msg}\n`);
  };
  // A dry run reports an existing output; follow mode resumes it.
  if (existsSync(output) && !options.dryRun && !options.follow) {
    if (options.ifDbNotExists) {
      say(`Database '${output}' already exists; nothing restored`);
      if (options.json) io.stdout(`${JSON.stringify({ restored: false, reason: "db-exists", path: output })}\n`);
      return ExitCode.ok;
    }
    throw new UsageError(
      `Cannot restore to '${output}': the file exists`,
      "choose another path with -o, or add --if-db-not-exists",
    );
  }
  if (!options.dryRun) checkOutputDirectory(output);
  await client.init();
  const files = await listAllLtxFiles(client);
  const spec = replicaSpecOf(io, source, db, options.replica);
  // The v0.3 reader loads only where a v0.3 backup may be: a file replica
  // with a generations/ directory, or any S3 replica (listed to find out).
  if (spec && (spec.type === "s3" || existsSync(join(spec.path, "generations")))) {
    const [{ createV3Storage }, { newestV3Object }] = await Promise.all([
      import("../litestream-v3/layout.ts"),
      import("../litestream-v3/planner.ts"),
    ]);
    const storage = createV3Storage(spec, { env: io.env });
    const listing = await storage.list();
    const v3Newest = newestV3Object(listing);
    const v5Newest = files.reduce<Date | undefined>((m, f) => (!m || f.createdAt > m ? f.createdAt : m), undefined);
    // As Litestream v0.5 does: with both layouts present, the one written
    // last wins, unless --generation/--index ask for v0.3 explicitly.
    const wantV3 = options.generation !== undefined || options.index !== undefined;
    if (v3Newest && (wantV3 || !v5Newest || v3Newest > v5Newest)) {
      if (target.txid !== undefined)
        throw new UsageError(
          "Cannot use --txid with a Litestream v0.3 replica",
          "use --generation/--index or --timestamp",
        );
      if (options.follow) throw followV3Error();
      return runV3Restore(io, spec, {
        output,
        target: v3Target,
        json: options.json,
        ifDbNotExists: options.ifDbNotExists,
        integrity,
        dryRun: options.dryRun,
      });
    }
  }
  if (options.generation !== undefined || options.index !== undefined) {
    throw new UsageError(
      `Cannot use --generation or --index: '${client.location}' holds no Litestream v0.3 backup`,
      "use --txid or --timestamp for LTX replicas",
    );
  }
  if (files.length === 0 && options.ifReplicaExists) {
    say(`Replica '${client.location}' holds no backup; nothing restored`);
    if (options.json) io.stdout(`${JSON.stringify({ restored: false, reason: "no-replica", path: output })}\n`);
    return ExitCode.ok;
  }
  if (options.follow) {
    const { runFollow } = await import("./restore-follow.ts");
    return runFollow(io, client, {
      output,
      files,
      integrity,
      parallelism,
      intervalMs: durationOption(options.followInterval, "--follow-interval", 1000),
      json: options.json,
      ...(db && output === db.path ? { metaPath: db.metaPath } : {}),
    });
  }
  const plan = await planRestore(client, target, { files });
  if (options.dryRun) {
    const { printLtxDryRun } = await import("./restore-dry-run.ts");
    await printLtxDryRun(io, client, plan, { files, output, json: options.json });
    return ExitCode.ok;
  }
  say(
    `Restoring ${client.location} to TXID ${formatTxid(plan.txid)} (${plan.files.length} files, ${formatBytes(plan.files.reduce((n, f) => n + f.size, 0))}) into ${output}`,
  );
  const started = Date.now();
  const progress = io.isTty && !options.json ? progressPrinter(io, started) : undefined;
  const result = await applyRestorePlan(client, plan, {
    output,
    integrity,
    parallelism,
    ...(progress ? { onProgress: progress } : {}),
  });
  if (db && output === db.path) LocalStore.resetAfterRestore(db.metaPath);
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
        uncheckedFiles: result.unchecked,
        bytes: result.bytes,
        checksum: result.checksum.toString(16).padStart(16, "0"),
        integrityCheck: integrity,
        seconds: (Date.now() - started) / 1000,
      })}\n`,
    );
  } else {
    say(
      `Restored TXID ${formatTxid(result.txid)}: ${result.pages} pages, ${integrityWords(integrity)}, in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    if (result.unchecked > 0) say(uncheckedLine(result.unchecked, result.files));
  }
  return ExitCode.ok;
}

/** What the result line says about the integrity check. */
export function integrityWords(mode: IntegrityCheck): string {
  return mode === "none" ? "integrity check skipped" : mode === "quick" ? "quick_check ok" : "integrity ok";
}

function parseIntegrityCheck(text: string | undefined): IntegrityCheck {
  if (text === undefined) return "full";
  const mode = INTEGRITY_CHECKS.find((m) => m === text);
  if (mode === undefined) {
    throw new UsageError(
      `Cannot parse --integrity-check '${text}': expected none, quick or full`,
      "e.g. --integrity-check quick",
    );
  }
  return mode;
}

function parseParallelism(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PARALLELISM;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 64) {
    throw new UsageError(
      `Cannot parse --parallelism '${text}': expected a whole number from 1 to 64`,
      "e.g. --parallelism 8",
    );
  }
  return n;
}

function checkFollowOptions(options: RestoreOptions): void {
  if (!options.follow) {
    if (options.followInterval !== undefined)
      throw new UsageError("Cannot use --follow-interval without --follow", "add -f (--follow)");
    return;
  }
  if (options.txid !== undefined || options.timestamp !== undefined)
    throw new UsageError(
      `Cannot use --follow with ${options.txid !== undefined ? "--txid" : "--timestamp"}: follow mode always goes to the latest state`,
      "leave out --txid/--timestamp, or leave out -f",
    );
  if (options.dryRun) throw new UsageError("Cannot use --follow with --dry-run", "leave out one of them");
  if (options.generation !== undefined || options.index !== undefined) throw followV3Error();
  if (options.ifDbNotExists)
    throw new UsageError(
      "Cannot use --follow with --if-db-not-exists: follow mode resumes an existing output",
      "leave out --if-db-not-exists",
    );
}

function followV3Error(): UsageError {
  return new UsageError(
    "Cannot follow a Litestream v0.3 replica: follow mode applies LTX files",
    "restore it without -f, or convert it first with 'litefleet migrate'",
  );
}

/** The line that says how many files of a restore had no database checksums to compare. */
function uncheckedLine(unchecked: number, files: number): string {
  return (
    `Note: ${unchecked} of ${files} files recorded no database checksums (written by another tool, or their checksum record names other bytes); ` +
    "their pages were checked by the file checksums and integrity_check only"
  );
}

function parseV3Target(options: RestoreOptions): { generation?: string; index?: number; timestamp?: Date } {
  const out: { generation?: string; index?: number; timestamp?: Date } = {};
  if (options.generation !== undefined) {
    if (!/^[0-9a-f]{16}$/.test(options.generation)) {
      throw new UsageError(
        `Cannot parse --generation '${options.generation}': expected 16 lower-case hex digits`,
        "see the generations/ folder of the replica",
      );
    }
    out.generation = options.generation;
  }
  if (options.index !== undefined) {
    if (!/^\d+$/.test(options.index) || Number(options.index) > 0x7fffffff) {
      throw new UsageError(`Cannot parse --index '${options.index}': expected a decimal WAL index`, "e.g. --index 3");
    }
    if (out.generation === undefined)
      throw new UsageError("Cannot use --index without --generation", "add --generation HEX");
    if (options.timestamp !== undefined)
      throw new UsageError("Cannot combine --index and --timestamp", "give one restore target");
    out.index = Number(options.index);
  }
  if (options.timestamp !== undefined) {
    const t = parseTarget({ timestamp: options.timestamp }).timestamp;
    if (t) out.timestamp = t;
  }
  return out;
}

/** The spec behind `source`, for reading a Litestream v0.3 layout next to the LTX files. */
function replicaSpecOf(
  io: CliIo,
  source: string,
  db: DbConfig | undefined,
  replica: string | undefined,
): ReplicaSpec | undefined {
  if (source.includes("://")) return parseReplicaUrl(source, { cwd: io.cwd });
  if (db) return (replica === undefined ? db.replicas[0] : db.replicas.find((r) => r.name === replica))?.spec;
  return { type: "file", path: resolve(io.cwd, source) };
}

async function runV3Restore(
  io: CliIo,
  spec: ReplicaSpec,
  options: {
    output: string | undefined;
    target: { generation?: string; index?: number; timestamp?: Date };
    json: boolean | undefined;
    ifDbNotExists: boolean | undefined;
    integrity: IntegrityCheck;
    dryRun: boolean | undefined;
  },
): Promise<number> {
  if (options.output === undefined)
    throw new UsageError("Cannot restore from a replica directory without an output path", "add -o PATH");
  const output = resolve(io.cwd, options.output);
  if (existsSync(output) && !options.dryRun) {
    if (options.ifDbNotExists) {
      if (options.json) io.stdout(`${JSON.stringify({ restored: false, reason: "db-exists", path: output })}\n`);
      else io.stderr(`Database '${output}' already exists; nothing restored\n`);
      return ExitCode.ok;
    }
    throw new UsageError(
      `Cannot restore to '${output}': the file exists`,
      "choose another path with -o, or add --if-db-not-exists",
    );
  }
  if (!options.dryRun) checkOutputDirectory(output);
  const [{ createV3Storage }, { planV3Restore }, { applyV3RestorePlan }] = await Promise.all([
    import("../litestream-v3/layout.ts"),
    import("../litestream-v3/planner.ts"),
    import("../restore/v3-applier.ts"),
  ]);
  const storage = createV3Storage(spec, { env: io.env });
  const plan = planV3Restore(await storage.list(), options.target, storage.location);
  if (options.dryRun) {
    const { printV3DryRun } = await import("./restore-dry-run.ts");
    printV3DryRun(io, plan, { location: storage.location, output, json: options.json });
    return ExitCode.ok;
  }
  const started = Date.now();
  if (!options.json) {
    io.stderr(
      `Restoring Litestream v0.3 replica ${storage.location} generation ${plan.generation} (snapshot ${plan.snapshot.index}, ${plan.indexes.length} WAL indexes) into ${output}\n`,
    );
  }
  const result = await applyV3RestorePlan(storage, plan, { output, integrity: options.integrity });
  if (options.json) {
    io.stdout(
      `${JSON.stringify({ restored: true, format: "litestream-v0.3", ...result, integrityCheck: options.integrity, seconds: (Date.now() - started) / 1000 })}\n`,
    );
  } else {
    io.stderr(
      `Restored generation ${result.generation} index ${result.index}: ${result.pages} pages, ${integrityWords(options.integrity)}, in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
    );
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
      throw new UsageError(
        `Cannot parse --txid '${options.txid}': expected up to 16 hex digits`,
        "e.g. --txid 00000000000000a3",
      );
    }
  }
  if (options.timestamp !== undefined) {
    const t = new Date(options.timestamp);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(options.timestamp) || Number.isNaN(t.getTime())) {
      throw new UsageError(
        `Cannot parse --timestamp '${options.timestamp}': expected RFC 3339`,
        "e.g. --timestamp 2026-11-22T10:00:00Z",
      );
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
