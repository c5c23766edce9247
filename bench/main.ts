/**
 * `bun run bench <benchmark> [options]`: runs one benchmark. Each benchmark
 * is its own module; this file only dispatches and reports errors.
 *
 * @module
 */

import { runAggregateBench } from "./aggregate.ts";
import { runBatching } from "./batching.ts";
import type { Benchmark } from "./benchmark.ts";
import { runChaos } from "./chaos.ts";
import { runFleetBench } from "./fleet.ts";
import { OPTIONS_USAGE, parseBenchOptions, type BenchOptions } from "./cli-options.ts";
import { runFootprint } from "./footprint.ts";
import { runIdleRss } from "./idle-rss.ts";
import { runLarge } from "./large.ts";
import { ProcessGuard } from "./process-guard.ts";
import { runRestoreParallelism } from "./restore-parallelism.ts";
import { runResyncBench } from "./resync.ts";
import { runS3Clients } from "./s3-clients.ts";
import { runWriteThroughput } from "./write-throughput.ts";

/** The benchmarks, by name. */
const BENCHMARKS: Readonly<Record<string, Benchmark>> = {
  aggregate: {
    description:
      "litefleet aggregate over N simulated devices (default 200): first, idle and incremental runs; devices/min, MB/s",
    run: runAggregateBench,
  },
  batching: {
    description: "Litestream v0.3.13 vs litefleet at 1 s / 10 s / 60 s batches: S3 requests, bytes, CPU, RSS, restore",
    run: runBatching,
  },
  chaos: {
    description:
      "issue #11: the real agent under seeded S3 faults, kill -9, clock steps, ENOSPC; every restore point checked (--seeds N, --short; --help)",
    run: () => Promise.reject(new Error("chaos takes its own options")),
    runWithArgs: runChaos,
  },
  fleet: {
    description:
      "issue #15: 10,000 simulated devices on mosquitto: fleet status timed, the dashboard in headless Chromium under 200 updates/s, its RSS (--help)",
    run: () => Promise.reject(new Error("fleet takes its own options")),
    runWithArgs: runFleetBench,
  },
  footprint: {
    description:
      "peak RSS and CPU: litefleet (release build) at 1 s and at its default upload policy vs one Litestream v0.3.13 process, 3 databases each",
    run: runFootprint,
  },
  "idle-rss": {
    description:
      "issue #13: idle RSS of replicate (1 small DB): file, S3, S3 + MQTT; Litestream v0.3.13 side by side (--help)",
    run: () => Promise.reject(new Error("idle-rss takes its own options")),
    runWithArgs: runIdleRss,
  },
  large: {
    description:
      "issue #13: 300 MB and 2 GB databases from scratch to S3 and file, side by side: peak RSS, time, CPU, bytes vs LZ4; restores (--sizes, --rss-limit; --help)",
    run: () => Promise.reject(new Error("large takes its own options")),
    runWithArgs: runLarge,
  },
  "s3-clients": {
    description:
      "issue #13: RSS of the AWS SDK, Bun's S3Client and litefleet's SigV4 client: import, 100 small requests, 64 MiB up/down",
    run: runS3Clients,
  },
  "restore-parallelism": {
    description:
      "issue #14: restore --parallelism 1 vs 8 of 500 small level-0 files on s3rver; seconds, identical output",
    run: runRestoreParallelism,
  },
  resync: {
    description:
      "bytes of the first L0 after a restart that follows an application TRUNCATE checkpoint (~35 MiB db), full vs resync",
    run: runResyncBench,
  },
  "write-throughput": {
    description:
      "issue #13: app small-commit throughput solo vs under litefleet / Litestream v0.3.13 (1 s), agent fsyncs per capture (--seconds N)",
    run: () => Promise.reject(new Error("write-throughput takes its own options")),
    runWithArgs: runWriteThroughput,
  },
};

function usage(): string {
  const list = Object.entries(BENCHMARKS)
    .map(([name, b]) => `  ${name.padEnd(12)}${b.description}`)
    .join("\n");
  return `Usage: bun run bench <benchmark> [options]\n\nBenchmarks:\n${list}\n\n${OPTIONS_USAGE}\n`;
}

async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const bench = BENCHMARKS[name];
  if (bench === undefined) {
    process.stderr.write(`Error: unknown benchmark '${name}'\n\n${usage()}`);
    return 2;
  }
  let options: BenchOptions | "help";
  try {
    // A benchmark with options of its own parses them itself.
    options = bench.runWithArgs === undefined ? parseBenchOptions(rest) : parseBenchOptions([]);
  } catch (err) {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n\n${usage()}`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(usage());
    return 0;
  }
  const say = (message: string): void =>
    void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  const guard = new ProcessGuard();
  guard.install();
  // Everything temporary, the s3rver store included (the harness puts it
  // under os.tmpdir()), goes under one directory the guard removes even on
  // Ctrl-C, when async disposal does not run.
  const tmpdirBefore = process.env["TMPDIR"];
  const root = guard.makeTempDir("litefleet-bench-");
  process.env["TMPDIR"] = root;
  if (options.keep) {
    guard.keepTempDirs();
    say(`--keep: ${root} will be left in place`);
  }
  try {
    const ctx = { guard, command: `bun run bench ${args.join(" ")}`, say };
    return await (bench.runWithArgs === undefined ? bench.run(options, ctx) : bench.runWithArgs(rest, ctx));
  } catch (err) {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    guard.dispose();
    if (tmpdirBefore === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = tmpdirBefore;
  }
}

process.exitCode = await main(process.argv.slice(2));
