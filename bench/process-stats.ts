/**
 * CPU time and memory of a running process, read from Linux `/proc`.
 *
 * CPU seconds are `utime + stime` of `/proc/<pid>/stat` divided by
 * `CLK_TCK`; peak RSS is `VmHWM` of `/proc/<pid>/status`, the kernel's
 * high-water mark, which {@linkcode RssSampler} cross-checks by sampling
 * `VmRSS` periodically.
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** One reading of a process. */
export interface ProcessSample {
  /** User + system CPU seconds used so far. */
  readonly cpuSeconds: number;
  /** Resident set size now, in KiB (`VmRSS`). */
  readonly rssKiB: number;
  /** Peak resident set size so far, in KiB (`VmHWM`). */
  readonly hwmKiB: number;
  /** Of `rssKiB`: anonymous memory (heap, stacks), in KiB (`RssAnon`). */
  readonly rssAnonKiB: number;
  /** Of `rssKiB`: file-backed pages (the executable and libraries mapped in), in KiB (`RssFile`). */
  readonly rssFileKiB: number;
  /** Of `rssKiB`: shared memory, in KiB (`RssShmem`). */
  readonly rssShmemKiB: number;
}

let cachedClockTicks: number | undefined;

/**
 * Returns `getconf CLK_TCK` (clock ticks per second of `/proc/<pid>/stat`),
 * or 100, the Linux value on every mainstream architecture, when `getconf`
 * is unavailable.
 */
export function clockTicksPerSecond(): number {
  if (cachedClockTicks !== undefined) return cachedClockTicks;
  let ticks = 100;
  try {
    const out = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
    const parsed = Number(out.stdout.toString().trim());
    if (out.exitCode === 0 && Number.isInteger(parsed) && parsed > 0) ticks = parsed;
  } catch {
    // No getconf: keep the Linux default.
  }
  cachedClockTicks = ticks;
  return ticks;
}

/**
 * Reads CPU time and memory of `pid`.
 *
 * @throws {Error} when the process does not exist (any more) or `/proc` is not Linux's
 */
export function sampleProcess(pid: number): ProcessSample {
  return { cpuSeconds: readCpuSeconds(pid), ...readMemoryKiB(pid) };
}

/**
 * Returns `(utime + stime) / CLK_TCK` of `pid`.
 *
 * @throws {Error} when `/proc/<pid>/stat` cannot be read or parsed
 */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  // What follows starts at field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot read CPU time of process ${pid}: unexpected /proc/${pid}/stat '${stat.slice(0, 80)}'`);
  }
  return (utime + stime) / clockTicksPerSecond();
}

/**
 * Returns `VmRSS`, `VmHWM` and the parts of `VmRSS` (`RssAnon`, `RssFile`,
 * `RssShmem`, Linux ≥ 4.5) of `pid` in KiB.
 *
 * @throws {Error} when `/proc/<pid>/status` cannot be read or lacks the fields
 */
export function readMemoryKiB(pid: number): Omit<ProcessSample, "cpuSeconds"> {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!m?.[1]) throw new Error(`Cannot read memory of process ${pid}: no '${name}' in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return {
    rssKiB: field("VmRSS"),
    hwmKiB: field("VmHWM"),
    rssAnonKiB: field("RssAnon"),
    rssFileKiB: field("RssFile"),
    rssShmemKiB: field("RssShmem"),
  };
}

/** Samples `VmRSS` of several processes every `intervalMs` and keeps the maximum of each. */
export class RssSampler {
  #pids: ReadonlyMap<string, number>;
  #max = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param pids process ids by name (the agent name) */
  constructor(pids: ReadonlyMap<string, number>) {
    this.#pids = pids;
  }

  /** Takes a sample now and then every `intervalMs` until {@linkcode RssSampler.stop}. */
  start(intervalMs: number): void {
    this.sampleNow();
    this.#timer = setInterval(() => this.sampleNow(), intervalMs);
  }

  /** Samples every process once; a process that has exited is skipped. */
  sampleNow(): void {
    for (const [name, pid] of this.#pids) {
      try {
        const { rssKiB } = readMemoryKiB(pid);
        this.#max.set(name, Math.max(this.#max.get(name) ?? 0, rssKiB));
      } catch {
        // Exited (or exiting): its last samples stand.
      }
    }
  }

  /** Stops sampling. Calling it twice does nothing. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The largest `VmRSS` seen for `name`, in KiB, or `undefined` if never sampled. */
  maxRssKiB(name: string): number | undefined {
    return this.#max.get(name);
  }
}
