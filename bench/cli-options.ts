/**
 * Command-line options shared by every benchmark: `--duration SECONDS`,
 * `--quick` and `--out FILE`.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Seconds a benchmark of record runs unless told otherwise. */
export const DEFAULT_DURATION_SECONDS = 300;

/** Seconds a `--quick` smoke run lasts. */
export const QUICK_DURATION_SECONDS = 30;

/** Options of one benchmark run. */
export interface BenchOptions {
  /** How long the workload runs, in seconds. */
  readonly durationSeconds: number;
  /** True for `--quick`: a smoke run, not a result of record. */
  readonly quick: boolean;
  /** Where to write the markdown report, if anywhere. */
  readonly out: string | undefined;
  /** A litefleet binary to measure instead of compiling `src/cli/main.ts`. */
  readonly litefleetBin: string | undefined;
  /** Keep the temp dir (databases, configs, agent logs) instead of removing it. */
  readonly keep: boolean;
  /** `aggregate`: how many simulated devices. */
  readonly devices: number;
}

/** Simulated devices in the aggregate benchmark unless told otherwise. */
export const DEFAULT_DEVICES = 200;

/** Usage text of the shared options. */
export const OPTIONS_USAGE = `Options:
  --duration SECONDS  how long the workload runs (default ${DEFAULT_DURATION_SECONDS}; results of record need >= 300)
  --quick             a ${QUICK_DURATION_SECONDS} s smoke run (overrides --duration)
  --out FILE          also write the markdown report (table, command, date, machine) to FILE
  --litefleet-bin FILE
                      measure this litefleet binary instead of compiling src/cli/main.ts
                      (bun build --compile) from the working tree
  --keep              keep the temp dir (databases, configs, agent logs) for inspection
  --devices N         aggregate: simulated devices (default ${DEFAULT_DEVICES}; --quick: 20)
  --help              print this help`;

/**
 * `--<name> <text>` of a benchmark's own options as a positive whole number.
 *
 * @throws {RangeError} naming the option and the value
 */
export function positiveOption(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new RangeError(`Cannot parse options: --${name} must be a positive whole number, got '${text}'`);
  return n;
}

/**
 * Parses the options that follow the benchmark name.
 *
 * @returns the options, or `"help"` when `--help` was given
 * @throws {TypeError} for an unknown option or a missing value
 * @throws {RangeError} when `--duration` is not a positive integer
 */
export function parseBenchOptions(args: readonly string[]): BenchOptions | "help" {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      duration: { type: "string" },
      quick: { type: "boolean", default: false },
      out: { type: "string" },
      "litefleet-bin": { type: "string" },
      keep: { type: "boolean", default: false },
      devices: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return "help";
  if (positionals.length > 0) {
    throw new TypeError(`Cannot parse options: unexpected argument '${positionals[0]}'`);
  }
  let durationSeconds = DEFAULT_DURATION_SECONDS;
  if (values.duration !== undefined) {
    durationSeconds = Number(values.duration);
    if (!Number.isInteger(durationSeconds) || durationSeconds <= 0) {
      throw new RangeError(
        `Cannot parse options: --duration must be a positive whole number of seconds, got '${values.duration}'`,
      );
    }
  }
  const quick = values.quick;
  let devices = quick ? 20 : DEFAULT_DEVICES;
  if (values.devices !== undefined) {
    devices = Number(values.devices);
    if (!Number.isInteger(devices) || devices <= 0) {
      throw new RangeError(`Cannot parse options: --devices must be a positive whole number, got '${values.devices}'`);
    }
  }
  return {
    devices,
    durationSeconds: quick ? QUICK_DURATION_SECONDS : durationSeconds,
    quick,
    out: values.out,
    litefleetBin: values["litefleet-bin"],
    keep: values.keep,
  };
}
