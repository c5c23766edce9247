/**
 * Timed restores of the `large` benchmark: one restore command (an agent's
 * own `restore`, or `cp` as the disk-speed floor) run alone under GNU
 * `/usr/bin/time` for its wall time, peak RSS (`ru_maxrss`) and CPU, its
 * `VmRSS` polled for the `--rss-limit`, and the result compared byte for
 * byte with the database.
 *
 * Why not the rusage Bun reports for its own child: Bun starts children
 * with a vfork-style spawn, and Linux carries the high-water mark of the
 * memory a process had before `exec` into its `ru_maxrss`, so every child
 * of the benchmark "peaks" at the benchmark's own RSS (150+ MiB for `cp`).
 * `/usr/bin/time` is a small process, so its child's `ru_maxrss` is the
 * command's own. Without `/usr/bin/time`, the last `VmHWM` polled before
 * the exit stands in (it may miss the last poll interval).
 *
 * @module
 */

import { existsSync, readFileSync, rmSync } from "node:fs";
import { sha256File } from "./large-database.ts";
import { WatchedProcess, type RssLimitHit } from "./large-watch.ts";
import type { TrackChild } from "./process-guard.ts";
import { integrityCheck } from "./workload.ts";

/** GNU time, when installed. */
export const GNU_TIME = "/usr/bin/time";

/** What one restore measured. */
export interface RestoreMeasure {
  /** Who restored: an agent name, or `cp`. */
  readonly tool: string;
  /** Exit code, or `null` when it ended by a signal. */
  readonly code: number | null;
  readonly wallSeconds: number;
  /** `ru_maxrss` from GNU time, KiB (without it, the last polled `VmHWM`). */
  readonly peakRssKiB: number | undefined;
  readonly cpuSeconds: number | undefined;
  /** Set when the RSS limit killed it. */
  readonly limitHit: RssLimitHit | undefined;
  /** True when it ran past the timeout and was killed. */
  readonly timedOut: boolean;
  /** The output equals the database byte for byte (`undefined`: no output to compare). */
  readonly identical: boolean | undefined;
  /** `PRAGMA integrity_check` of the output. */
  readonly integrity: string | undefined;
  /** The tail of its output when it failed. */
  readonly failure: string | undefined;
}

/**
 * Runs `argv`, which restores into `output`, and compares the output with
 * the database whose SHA-256 is `sourceSha256`; removes the output
 * afterwards (the next restore needs the disk).
 */
export async function timedRestore(
  tool: string,
  argv: readonly string[],
  opts: {
    output: string;
    sourceSha256: string;
    env: Readonly<Record<string, string>>;
    rssLimitKiB: number;
    timeoutMs: number;
    pollIntervalMs: number;
    track: TrackChild;
    /** Skip `PRAGMA integrity_check` (for `cp`, which copies the checked file). */
    skipIntegrity?: boolean;
  },
): Promise<RestoreMeasure> {
  rmSync(opts.output, { force: true });
  const statsPath = `${opts.output}.time`;
  const timed = existsSync(GNU_TIME);
  const command = timed ? [GNU_TIME, "-o", statsPath, "-f", "%M %e %U %S", ...argv] : [...argv];
  const started = performance.now();
  const proc = opts.track(
    Bun.spawn(command, { env: { ...opts.env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" }),
  );
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const watched = new WatchedProcess(proc, opts.rssLimitKiB, started, { watchChild: timed });
  let timedOut = false;
  while (!watched.exited) {
    watched.poll();
    if (performance.now() - started > opts.timeoutMs && !timedOut) {
      timedOut = true;
      const pid = watched.pid;
      if (pid !== undefined) process.kill(pid, "SIGKILL");
      proc.kill("SIGKILL");
    }
    await Promise.race([proc.exited, Bun.sleep(opts.pollIntervalMs)]);
  }
  await proc.exited;
  const ownWallSeconds = (performance.now() - started) / 1000;
  const [stdout, stderr] = await output;
  const stats = timed ? readTimeStats(statsPath) : undefined;
  rmSync(statsPath, { force: true });
  const code = proc.exitCode;
  const produced = code === 0 && existsSync(opts.output);
  const identical = produced ? sha256File(opts.output) === opts.sourceSha256 : undefined;
  const integrity = produced && !opts.skipIntegrity ? integrityCheck(opts.output) : undefined;
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${opts.output}${suffix}`, { force: true });
  return {
    tool,
    code,
    wallSeconds: stats?.wallSeconds ?? ownWallSeconds,
    peakRssKiB: stats?.maxRssKiB ?? watched.hwmKiB,
    cpuSeconds: stats?.cpuSeconds ?? watched.cpuSeconds,
    limitHit: watched.limitHit,
    timedOut,
    identical,
    integrity,
    failure: code === 0 ? undefined : oneLine(`${stdout}${stderr}`),
  };
}

/** Parses the `%M %e %U %S` line GNU time wrote to `path` (after a "Command exited…" line, if any). */
export function readTimeStats(
  path: string,
): { maxRssKiB: number; wallSeconds: number; cpuSeconds: number } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/m.exec(text);
  if (!m) return undefined;
  return { maxRssKiB: Number(m[1]), wallSeconds: Number(m[2]), cpuSeconds: Number(m[3]) + Number(m[4]) };
}

function oneLine(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}
