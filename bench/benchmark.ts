/**
 * What every benchmark module provides and receives.
 *
 * @module
 */

import type { BenchOptions } from "./cli-options.ts";
import type { ProcessGuard } from "./process-guard.ts";

/** What a benchmark needs from its caller. */
export interface BenchContext {
  /** Kills the benchmark's children and removes its temp dirs, also on Ctrl-C. */
  readonly guard: ProcessGuard;
  /** The command line as typed, for the report. */
  readonly command: string;
  /** Progress output (stderr). */
  readonly say: (message: string) => void;
}

/** A benchmark: `bun run bench <name>` runs it. */
export interface Benchmark {
  /** One line for the usage text. */
  readonly description: string;
  /** Runs it; resolves with the process exit code. */
  readonly run: (options: BenchOptions, ctx: BenchContext) => Promise<number>;
  /**
   * A benchmark with options of its own (`chaos`) gets its arguments
   * unparsed here instead; `run` is then not called.
   */
  readonly runWithArgs?: (args: readonly string[], ctx: BenchContext) => Promise<number>;
}
