/**
 * `litefleet restore --dry-run`: prints what a restore would do (the plan:
 * snapshot and files per level, TXID range, bytes to download, the time of
 * the target state, the output and whether it exists) and writes nothing.
 *
 * @module
 */

import { existsSync } from "node:fs";
import type { V3RestorePlan } from "../litestream-v3/planner.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { formatTxid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { couldBeLtxFile, headerTimestamp, type RestorePlan } from "../restore/planner.ts";
import type { CliIo } from "./io.ts";
import { formatBytes } from "./restore.ts";

/** Files and bytes of one level in a plan. */
interface LevelSummary {
  readonly level: number;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Prints the LTX restore `plan` (text on stdout, or one JSON object with
 * `json`). The target's time is the LTX header timestamp of the state
 * reached, as `--timestamp` dates it (the earliest among the files ending
 * at the plan's TXID): a few 100-byte ranged reads.
 */
export async function printLtxDryRun(
  io: CliIo,
  client: ReplicaClient,
  plan: RestorePlan,
  ctx: { files: readonly LtxFileInfo[]; output: string; json: boolean | undefined },
): Promise<void> {
  const time = plan.timestamp ?? (await stateTime(client, ctx.files, plan));
  const bytes = plan.files.reduce((n, f) => n + f.size, 0);
  const levels = summarizeLevels(plan.files.map((f) => ({ level: f.level, size: f.size })));
  const first = plan.files[0] as LtxFileInfo;
  const exists = existsSync(ctx.output);
  if (ctx.json) {
    io.stdout(
      `${JSON.stringify({
        dryRun: true,
        format: "ltx",
        source: client.location,
        output: ctx.output,
        outputExists: exists,
        txid: formatTxid(plan.txid),
        minTxid: formatTxid(first.minTxid),
        maxTxid: formatTxid(plan.txid),
        timestamp: time === undefined ? null : new Date(time).toISOString(),
        files: plan.files.length,
        bytes,
        levels,
        plan: plan.files.map((f) => ({
          level: f.level,
          name: formatLtxFileName(f.minTxid, f.maxTxid),
          minTxid: formatTxid(f.minTxid),
          maxTxid: formatTxid(f.maxTxid),
          size: f.size,
        })),
      })}\n`,
    );
    return;
  }
  const lines = [
    `Restore plan (dry run: nothing written)`,
    `  source:    ${client.location}`,
    `  output:    ${ctx.output}${exists ? " (exists: a restore would refuse it unless --if-db-not-exists)" : " (does not exist)"}`,
    `  txid:      ${formatTxid(first.minTxid)} - ${formatTxid(plan.txid)}`,
    `  timestamp: ${time === undefined ? "unknown" : new Date(time).toISOString()}`,
    `  download:  ${plan.files.length} files, ${formatBytes(bytes)} (${bytes} bytes)`,
    ...levels.map((l) => `  level ${l.level}:   ${l.files} files, ${formatBytes(l.bytes)}`),
    "",
    "level  file                                     size",
    ...plan.files.map(
      (f) => `${String(f.level).padEnd(7)}${formatLtxFileName(f.minTxid, f.maxTxid).padEnd(41)}${f.size}`,
    ),
  ];
  io.stdout(`${lines.join("\n")}\n`);
}

/** Prints a Litestream v0.3 restore `plan`, as {@linkcode printLtxDryRun} does. */
export function printV3DryRun(
  io: CliIo,
  plan: V3RestorePlan,
  ctx: { location: string; output: string; json: boolean | undefined },
): void {
  const segments = plan.indexes.flatMap((i) => i.segments);
  const bytes = plan.snapshot.size + segments.reduce((n, s) => n + s.size, 0);
  const last = plan.indexes.at(-1)?.index ?? plan.snapshot.index;
  const exists = existsSync(ctx.output);
  if (ctx.json) {
    io.stdout(
      `${JSON.stringify({
        dryRun: true,
        format: "litestream-v0.3",
        source: ctx.location,
        output: ctx.output,
        outputExists: exists,
        generation: plan.generation,
        snapshotIndex: plan.snapshot.index,
        index: last,
        updatedAt: plan.updatedAt.toISOString(),
        files: 1 + segments.length,
        bytes,
      })}\n`,
    );
    return;
  }
  const lines = [
    `Restore plan (dry run: nothing written; Litestream v0.3 replica)`,
    `  source:     ${ctx.location}`,
    `  output:     ${ctx.output}${exists ? " (exists: a restore would refuse it unless --if-db-not-exists)" : " (does not exist)"}`,
    `  generation: ${plan.generation}`,
    `  snapshot:   index ${plan.snapshot.index}, ${formatBytes(plan.snapshot.size)}`,
    `  wal:        indexes ${plan.indexes.length === 0 ? "none" : `${plan.indexes[0]?.index}-${last}`}, ${segments.length} segments`,
    `  updated:    ${plan.updatedAt.toISOString()}`,
    `  download:   ${1 + segments.length} objects, ${formatBytes(bytes)} (${bytes} bytes)`,
  ];
  io.stdout(`${lines.join("\n")}\n`);
}

/** Files and bytes per level, in ascending level order. */
function summarizeLevels(files: ReadonlyArray<{ level: number; size: number }>): LevelSummary[] {
  const by = new Map<number, { files: number; bytes: number }>();
  for (const f of files) {
    const s = by.get(f.level) ?? { files: 0, bytes: 0 };
    s.files++;
    s.bytes += f.size;
    by.set(f.level, s);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([level, s]) => ({ level, ...s }));
}

/** The earliest LTX header timestamp among (at most 16 of) the files ending at the plan's TXID. */
async function stateTime(
  client: ReplicaClient,
  files: readonly LtxFileInfo[],
  plan: RestorePlan,
): Promise<number | undefined> {
  const ending = files.filter((f) => f.maxTxid === plan.txid && couldBeLtxFile(f)).slice(0, 16);
  if (ending.length === 0) return undefined;
  const times = await Promise.all(ending.map((f) => headerTimestamp(client, f, {})));
  return Math.min(...times);
}
