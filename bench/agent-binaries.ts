/**
 * The two binaries every benchmark compares: litefleet (compiled from the
 * working tree, or given with `--litefleet-bin`) and Litestream v0.3.13
 * (from npm), with their versions for the report.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCommand } from "./agent-process.ts";
import { buildLitefleet, buildReleaseLitefleet } from "./litefleet-agent.ts";
import { findLitestreamBinary, LITESTREAM_INSTALL_HINT, LITESTREAM_VERSION } from "./litestream-agent.ts";
import type { TrackChild } from "./process-guard.ts";

/** The agent binaries of a run. */
export interface AgentBinaries {
  readonly litefleet: string;
  /** Absent when Litestream is not installed. */
  readonly litestream: string | undefined;
  /** Versions for the report, by agent family. */
  readonly versions: Readonly<Record<string, string>>;
  /** Remarks for the report (a missing Litestream, an unexpected version, a fallback build). */
  readonly notes: readonly string[];
}

/**
 * How litefleet is built when no `--litefleet-bin` is given: `plain` is
 * `bun build --compile src/cli/main.ts`; `release` goes through
 * `cross-compile/build.ts` (see `buildReleaseLitefleet`).
 */
export type LitefleetBuildKind = "plain" | "release";

/**
 * Builds litefleet into `work` (or takes `litefleetBin`) and finds Litestream.
 * A missing Litestream is reported through `say` and `notes`, not thrown.
 *
 * @throws {Error} when litefleet cannot be built or does not run
 */
export async function resolveBinaries(
  litefleetBin: string | undefined,
  ctx: { work: string; track: TrackChild; say: (message: string) => void; build?: LitefleetBuildKind },
): Promise<AgentBinaries> {
  const notes: string[] = [];
  let litefleet: string;
  let origin: string;
  if (litefleetBin !== undefined) {
    litefleet = resolve(litefleetBin);
    origin = `binary ${litefleet} (--litefleet-bin)`;
    if (!existsSync(litefleet)) throw new Error(`Cannot measure litefleet: no binary at '${litefleet}'`);
  } else if (ctx.build === "release") {
    ctx.say("building the litefleet binary (cross-compile/build.ts, the release build)");
    const built = await buildReleaseLitefleet(ctx.work, ctx.track);
    litefleet = built.path;
    origin = built.origin;
    if (built.fallback !== undefined) {
      ctx.say(`WARNING: ${built.fallback}; measuring a plain bun build --compile instead of the release build`);
      notes.push(
        `Not the release build: ${built.fallback}, so litefleet was compiled with plain \`bun build --compile src/cli/main.ts\`.`,
      );
    }
  } else {
    litefleet = join(ctx.work, "litefleet");
    origin = "compiled from the working tree with bun build --compile";
    ctx.say("building the litefleet binary (bun build --compile src/cli/main.ts)");
    await buildLitefleet(litefleet, ctx.track);
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
    if (version !== LITESTREAM_VERSION)
      notes.push(`Expected Litestream ${LITESTREAM_VERSION}, '${litestream} version' printed '${version}'.`);
    versions["Litestream"] = `${version} (npm @flydotio/litestream 1.0.1)`;
  }
  return { litefleet, litestream, versions, notes };
}
