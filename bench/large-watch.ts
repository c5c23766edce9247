/**
 * Watching one child process of the `large` benchmark (an agent or a
 * restore) from `/proc`: its largest `VmRSS`, its `VmHWM` and CPU time,
 * the CPU it used recently, and the `--rss-limit` safety valve that
 * SIGKILLs it above the limit so a runaway process cannot push the shared
 * machine into swap.
 *
 * @module
 */

import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { readCpuSeconds, readMemoryKiB } from "./process-stats.ts";

/** When and where the RSS limit stopped a process. */
export interface RssLimitHit {
  /** The `VmRSS` that was above the limit, KiB. */
  readonly rssKiB: number;
  /** Seconds from the start of the watch to the kill. */
  readonly afterSeconds: number;
}

/** A child process polled by its caller with {@linkcode WatchedProcess.poll}. */
export class WatchedProcess {
  readonly #process: Subprocess;
  readonly #limitKiB: number;
  readonly #startedAt: number;
  readonly #watchChild: boolean;
  #maxRssKiB: number | undefined;
  #hwmKiB: number | undefined;
  #cpuSeconds: number | undefined;
  /** (time, CPU seconds) readings, oldest first, kept for {@linkcode WatchedProcess.cpuOver}. */
  #cpuHistory: { at: number; cpu: number }[] = [];
  #limitHit: RssLimitHit | undefined;

  /**
   * @param child the child, started at `startedAt` (`performance.now()`)
   * @param limitKiB SIGKILL it when its `VmRSS` goes above this
   * @param options.watchChild watch the child's own first child instead (the
   *   command a wrapper such as `/usr/bin/time` runs); the wrapper then ends
   *   when its child does
   */
  constructor(child: Subprocess, limitKiB: number, startedAt: number, options: { watchChild?: boolean } = {}) {
    this.#process = child;
    this.#limitKiB = limitKiB;
    this.#startedAt = startedAt;
    this.#watchChild = options.watchChild ?? false;
  }

  /** The process id watched: the child's, or its first child's (`undefined` until the wrapper has started it). */
  get pid(): number | undefined {
    if (!this.#watchChild) return this.#process.pid;
    try {
      const first = readFileSync(`/proc/${this.#process.pid}/task/${this.#process.pid}/children`, "utf8")
        .trim()
        .split(" ")[0];
      return first ? Number(first) : undefined;
    } catch {
      return undefined;
    }
  }

  /** True once the child has exited (or was killed). */
  get exited(): boolean {
    return this.#process.exitCode !== null || this.#process.signalCode !== null;
  }

  /**
   * Reads memory and CPU once, SIGKILLing the child when its `VmRSS` is
   * above the limit. Does nothing once the child has exited; a read that
   * races the exit is ignored.
   */
  poll(now: number = performance.now()): void {
    if (this.exited) return;
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      const mem = readMemoryKiB(pid);
      const cpu = readCpuSeconds(pid);
      this.#maxRssKiB = Math.max(this.#maxRssKiB ?? 0, mem.rssKiB);
      this.#hwmKiB = mem.hwmKiB;
      this.#cpuSeconds = cpu;
      this.#cpuHistory.push({ at: now, cpu });
      // Keep about a minute of readings: enough for any quiet window.
      while (this.#cpuHistory.length > 1 && (this.#cpuHistory[0]?.at ?? now) < now - 60_000) this.#cpuHistory.shift();
      if (mem.rssKiB > this.#limitKiB && this.#limitHit === undefined) {
        this.#limitHit = { rssKiB: mem.rssKiB, afterSeconds: (now - this.#startedAt) / 1000 };
        process.kill(pid, "SIGKILL");
      }
    } catch {
      // Exited between the check and the read: the last readings stand.
    }
  }

  /** Largest `VmRSS` seen, KiB. */
  get maxRssKiB(): number | undefined {
    return this.#maxRssKiB;
  }

  /** `VmHWM` at the last reading, KiB. */
  get hwmKiB(): number | undefined {
    return this.#hwmKiB;
  }

  /** CPU seconds at the last reading. */
  get cpuSeconds(): number | undefined {
    return this.#cpuSeconds;
  }

  /** Set once the RSS limit killed the child. */
  get limitHit(): RssLimitHit | undefined {
    return this.#limitHit;
  }

  /**
   * CPU seconds used in the last `windowMs` before `now`, or `undefined`
   * when the readings do not reach back that far yet.
   */
  cpuOver(windowMs: number, now: number = performance.now()): number | undefined {
    const latest = this.#cpuHistory.at(-1);
    const from = now - windowMs;
    let base: { at: number; cpu: number } | undefined;
    for (const r of this.#cpuHistory) if (r.at <= from) base = r;
    return latest === undefined || base === undefined ? undefined : latest.cpu - base.cpu;
  }
}
