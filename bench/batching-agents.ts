/**
 * The agents of the `batching` benchmark: locating their binaries, writing
 * their databases and configs, and restoring their replicas afterwards.
 *
 * @module
 */

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCommand, type AgentLaunch, type S3Target } from "./agent-process.ts";
import type { RestoreCheck } from "./batching-report.ts";
import type { BatchingAgent, BatchingSettings } from "./batching-settings.ts";
import { buildLitefleet, litefleetConfigYaml, litefleetEnv, litefleetLaunch, litefleetReplicaUrl, litefleetRestoreArgv } from "./litefleet-agent.ts";
import {
  findLitestreamBinary,
  LITESTREAM_INSTALL_HINT,
  LITESTREAM_VERSION,
  litestreamConfigYaml,
  litestreamLaunch,
  litestreamRestoreArgv,
} from "./litestream-agent.ts";
import type { TrackChild } from "./process-guard.ts";
import { countReadings, createWorkloadDatabase, integrityCheck } from "./workload.ts";

/** The agent binaries of a run. */
export interface AgentBinaries {
  readonly litefleet: string;
  /** Absent when Litestream is not installed. */
  readonly litestream: string | undefined;
  /** Versions for the report, by agent family. */
  readonly versions: Readonly<Record<string, string>>;
  /** Remarks for the report (a missing Litestream, an unexpected version). */
  readonly notes: readonly string[];
}

/**
 * Builds litefleet into `work` (or takes `litefleetBin`) and finds Litestream.
 * A missing Litestream is reported through `say` and `notes`, not thrown.
 *
 * @throws {Error} when litefleet cannot be built or does not run
 */
export async function resolveBinaries(
  litefleetBin: string | undefined,
  ctx: { work: string; track: TrackChild; say: (message: string) => void },
): Promise<AgentBinaries> {
  const notes: string[] = [];
  let litefleet: string;
  let origin: string;
  if (litefleetBin === undefined) {
    litefleet = join(ctx.work, "litefleet");
    origin = "compiled from the working tree with bun build --compile";
    ctx.say("building the litefleet binary (bun build --compile src/cli/main.ts)");
    await buildLitefleet(litefleet, ctx.track);
  } else {
    litefleet = resolve(litefleetBin);
    origin = `binary ${litefleet} (--litefleet-bin)`;
    if (!existsSync(litefleet)) throw new Error(`Cannot measure litefleet: no binary at '${litefleet}'`);
  }
  const lf = await runCommand([litefleet, "version"], { env: {}, timeoutMs: 30_000, track: ctx.track });
  if (lf.code !== 0) throw new Error(`Cannot run '${litefleet} version': exit ${lf.code}\n${lf.output}`);
  const versions: Record<string, string> = { litefleet: `${lf.output.trim().replace(/^litefleet /, "")}, ${origin}` };

  const litestream = findLitestreamBinary();
  if (litestream === undefined) {
    ctx.say(`ERROR: the Litestream binary is missing: ${LITESTREAM_INSTALL_HINT}. Running the litefleet rows only.`);
    notes.push(`Litestream skipped: binary not installed (${LITESTREAM_INSTALL_HINT}).`);
  } else {
    const ls = await runCommand([litestream, "version"], { env: {}, timeoutMs: 30_000, track: ctx.track });
    const version = ls.output.trim();
    if (version !== LITESTREAM_VERSION) notes.push(`Expected Litestream ${LITESTREAM_VERSION}, '${litestream} version' printed '${version}'.`);
    versions["Litestream"] = `${version} (npm @flydotio/litestream 1.0.1)`;
  }
  return { litefleet, litestream, versions, notes };
}

/** One agent ready to start: its database exists and its config is written. */
export interface PreparedAgent {
  readonly agent: BatchingAgent;
  readonly dbPath: string;
  readonly configPath: string;
  readonly launch: AgentLaunch;
  /** Command line of a restore into `output`. */
  readonly restoreArgv: (output: string) => string[];
  /** Environment of that restore (and of other short commands). */
  readonly commandEnv: Readonly<Record<string, string>>;
}

/** Returns the key prefix of `agent` in the bucket: `<name>/app.db`. */
export function prefixOf(agent: BatchingAgent): string {
  return `${agent.name}/app.db`;
}

/**
 * Creates `<work>/<name>.db` with the workload schema and writes
 * `<work>/<name>.yml`; the agent will log to `<work>/<name>.log`.
 *
 * @throws {TypeError} for a Litestream agent when `binaries.litestream` is absent
 */
export function prepareAgent(
  agent: BatchingAgent,
  ctx: { work: string; s3: S3Target; settings: BatchingSettings; binaries: AgentBinaries },
): PreparedAgent {
  const dbPath = join(ctx.work, `${agent.name}.db`);
  const configPath = join(ctx.work, `${agent.name}.yml`);
  const logPath = join(ctx.work, `${agent.name}.log`);
  createWorkloadDatabase(dbPath);
  const spec = { name: agent.name, dbPath, prefix: prefixOf(agent), syncInterval: agent.syncInterval, monitorInterval: ctx.settings.monitorInterval };
  if (agent.kind === "litestream") {
    const binary = ctx.binaries.litestream;
    if (binary === undefined) throw new TypeError(`Cannot prepare ${agent.name}: Litestream is not installed`);
    writeFileSync(configPath, litestreamConfigYaml(spec, ctx.s3));
    const launch = litestreamLaunch(binary, configPath, spec, logPath);
    return {
      agent,
      dbPath,
      configPath,
      launch,
      restoreArgv: (out) => litestreamRestoreArgv(binary, configPath, dbPath, out),
      commandEnv: launch.env,
    };
  }
  const binary = ctx.binaries.litefleet;
  writeFileSync(configPath, litefleetConfigYaml(spec, ctx.s3, ctx.settings.litefleetConfigKeys));
  return {
    agent,
    dbPath,
    configPath,
    launch: litefleetLaunch(binary, configPath, spec, ctx.s3, logPath),
    restoreArgv: (out) => litefleetRestoreArgv(binary, litefleetReplicaUrl(spec, ctx.s3), out),
    commandEnv: litefleetEnv(ctx.s3, undefined),
  };
}

/**
 * Has litefleet parse the config (`litefleet databases --config FILE`), so a
 * key the build does not accept fails here with litefleet's own message.
 *
 * @throws {Error} when litefleet rejects the config
 */
export async function checkLitefleetConfig(p: PreparedAgent, binary: string, track: TrackChild): Promise<void> {
  const check = await runCommand([binary, "databases", "--config", p.configPath], { env: p.commandEnv, timeoutMs: 30_000, track });
  if (check.code !== 0) {
    throw new Error(
      `Cannot use the litefleet config ${p.configPath}: 'litefleet databases' exited with ${check.code}\n${check.output}` +
        "(if the build predates the 'status' and 'levels' keys, set emitStatusAndLevels to false in bench/batching-settings.ts)",
    );
  }
}

/**
 * Restores `p`'s replica into `<work>/restored/<name>.db` and compares it
 * with the database: row count equal to the database's and to the rows
 * committed, and `PRAGMA integrity_check` = ok.
 */
export async function restoreAndCompare(
  p: PreparedAgent,
  opts: { work: string; rowsCommitted: number; timeoutMs: number; track: TrackChild },
): Promise<{ sourceRows: number; check: RestoreCheck }> {
  const sourceRows = countReadings(p.dbPath);
  mkdirSync(join(opts.work, "restored"), { recursive: true });
  const output = join(opts.work, "restored", `${p.agent.name}.db`);
  const { code, output: text } = await runCommand(p.restoreArgv(output), { env: p.commandEnv, timeoutMs: opts.timeoutMs, track: opts.track });
  if (code !== 0 || !existsSync(output)) {
    return { sourceRows, check: { ok: false, rows: undefined, integrity: undefined, detail: `restore exited with ${code}: ${oneLine(text)}` } };
  }
  const rows = countReadings(output);
  const integrity = integrityCheck(output);
  const ok = rows === sourceRows && rows === opts.rowsCommitted && integrity === "ok";
  return { sourceRows, check: { ok, rows, integrity, detail: `${rows} rows (db ${sourceRows}, committed ${opts.rowsCommitted}), integrity_check ${integrity}` } };
}

function oneLine(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}
