/**
 * A description of the machine a benchmark ran on, for its report.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { availableParallelism, release, totalmem } from "node:os";

/** What the report says about the machine. */
export interface MachineInfo {
  /** Online CPUs (`nproc`). */
  readonly nproc: number;
  /** `model name` of the first CPU in `/proc/cpuinfo`. */
  readonly cpuModel: string;
  /** Version of the bun running the benchmark (and compiling litefleet). */
  readonly bunVersion: string;
  /** `<os> <kernel release> <arch>` */
  readonly os: string;
  /** Total memory, GiB. */
  readonly memoryGiB: number;
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  let cpuModel = "unknown";
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpuModel;
  } catch {
    // Not Linux: leave it unknown.
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    bunVersion: Bun.version,
    os: `${process.platform} ${release()} ${process.arch}`,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  };
}
