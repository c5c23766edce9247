/**
 * Options of `bun run bench large`: the shared `--quick`, `--out`,
 * `--litefleet-bin` and `--keep` (parsed by `cli-options.ts`), plus
 * `--sizes`, `--restore-sizes` and `--rss-limit`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseBenchOptions, type BenchOptions } from "./cli-options.ts";
import type { LargeSettings } from "./large-settings.ts";

/** Options of one `large` run. */
export interface LargeOptions {
  /** The shared options (`durationSeconds` and `devices` are unused). */
  readonly bench: BenchOptions;
  /** Database sizes replicated from scratch and measured, MB, ascending. */
  readonly sizesMB: readonly number[];
  /** Sizes whose replicas are restored, MB, ascending; a size missing from `sizesMB` is replicated for its restore. */
  readonly restoreSizesMB: readonly number[];
  /** An agent or restore above this `VmRSS` is SIGKILLed, MiB. */
  readonly rssLimitMiB: number;
}

/** Returns the usage text of `bun run bench large`. */
export function largeUsage(settings: LargeSettings): string {
  return `Usage: bun run bench large [options]
  --sizes MB,...          databases replicated from scratch, MB (default ${settings.defaultSizesMB.join(",")})
  --restore-sizes MB,...  replicas restored, MB (default ${settings.defaultRestoreSizesMB.join(",")}); a size not
                          in --sizes is replicated too, for its restore
  --rss-limit MiB         SIGKILL an agent or a restore whose RSS goes above this (default ${settings.defaultRssLimitMiB});
                          the report shows it as "exceeded --rss-limit"
  --quick                 a smoke run: ${settings.quickSizeMB} MB only (overrides both size lists)
  --out FILE              also write the markdown report to FILE
  --litefleet-bin FILE    measure this litefleet binary instead of the release build of the working tree
  --keep                  keep the work dir (databases, replicas, configs, agent logs)
  --help                  print this help
Everything goes under $TMPDIR (default /tmp): set TMPDIR to a directory with enough free space.`;
}

/**
 * Parses the arguments after `large`.
 *
 * @returns the options, or `"help"` for `--help`
 * @throws {TypeError} for an unknown option, a positional argument, or an option of another benchmark
 * @throws {RangeError} for a size or limit that is not a positive whole number
 */
export function parseLargeOptions(args: readonly string[], settings: LargeSettings): LargeOptions | "help" {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      sizes: { type: "string" },
      "restore-sizes": { type: "string" },
      "rss-limit": { type: "string" },
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      "litefleet-bin": { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return "help";
  if (positionals.length > 0) throw new TypeError(`Cannot parse options: unexpected argument '${positionals[0]}'`);
  const shared: string[] = [];
  if (values.quick) shared.push("--quick");
  if (values.keep) shared.push("--keep");
  if (values.out !== undefined) shared.push("--out", values.out);
  if (values["litefleet-bin"] !== undefined) shared.push("--litefleet-bin", values["litefleet-bin"]);
  const bench = parseBenchOptions(shared);
  if (bench === "help") return "help";
  const quick = [settings.quickSizeMB];
  return {
    bench,
    sizesMB: values.quick ? quick : parseSizes("--sizes", values.sizes, settings.defaultSizesMB),
    restoreSizesMB: values.quick
      ? quick
      : parseSizes("--restore-sizes", values["restore-sizes"], settings.defaultRestoreSizesMB),
    rssLimitMiB:
      values["rss-limit"] === undefined ? settings.defaultRssLimitMiB : positiveInt("--rss-limit", values["rss-limit"]),
  };
}

/** Returns every size replicated: `sizesMB` and `restoreSizesMB` together, ascending, each once. */
export function replicatedSizes(options: Pick<LargeOptions, "sizesMB" | "restoreSizesMB">): number[] {
  return [...new Set([...options.sizesMB, ...options.restoreSizesMB])].sort((a, b) => a - b);
}

function parseSizes(name: string, text: string | undefined, fallback: readonly number[]): number[] {
  if (text === undefined) return [...fallback];
  const sizes = text.split(",").map((part) => positiveInt(name, part.trim()));
  return [...new Set(sizes)].sort((a, b) => a - b);
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (text === "" || !Number.isInteger(n) || n <= 0) {
    throw new RangeError(`Cannot parse options: ${name} must be positive whole numbers, got '${text}'`);
  }
  return n;
}
