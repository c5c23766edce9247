/**
 * What this process holds in memory, for the debug log line that
 * `LITEFLEET_DEBUG_MEMORY=<seconds>` turns on in `replicate` (issue #13):
 * the kernel's view (`/proc/self/status`: resident set, split into
 * anonymous memory and file pages, most of which are the executable's own
 * code) and the JavaScript heap's (`bun:jsc` `heapStats()`).
 *
 * Import it with `await import()` only when the log is on: `bun:jsc` is not
 * needed otherwise.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { heapStats } from "bun:jsc";

/** One reading; sizes in KiB, `undefined` where `/proc` is not there (not Linux). */
export interface MemorySnapshot {
  readonly rssKiB: number;
  readonly rssAnonKiB: number | undefined;
  readonly rssFileKiB: number | undefined;
  /** Bytes the JS heap uses, in KiB, including {@linkcode MemorySnapshot.extraKiB}. */
  readonly heapKiB: number;
  /** Memory outside the JS heap that its objects own (array buffers and the like), in KiB. */
  readonly extraKiB: number;
  readonly heapObjects: number;
  /** The most common object types, `type:count` joined with spaces. */
  readonly topTypes: string;
}

/**
 * Reads the process's memory now.
 *
 * @param types how many object types to name in `topTypes`
 */
export function memorySnapshot(types = 8): MemorySnapshot {
  const status = procStatus();
  const heap = heapStats();
  const top = Object.entries(heap.objectTypeCounts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, types)
    .map(([name, count]) => `${name}:${count}`)
    .join(" ");
  return {
    rssKiB: status.get("VmRSS") ?? Math.round(process.memoryUsage().rss / 1024),
    rssAnonKiB: status.get("RssAnon"),
    rssFileKiB: status.get("RssFile"),
    heapKiB: Math.round(heap.heapSize / 1024),
    extraKiB: Math.round(heap.extraMemorySize / 1024),
    heapObjects: heap.objectCount,
    topTypes: top,
  };
}

/** The `kB` fields of `/proc/self/status`; empty where there is none. */
function procStatus(): Map<string, number> {
  const fields = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync("/proc/self/status", "utf8");
  } catch {
    return fields;
  }
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m?.[1] !== undefined) fields.set(m[1], Number(m[2]));
  }
  return fields;
}
