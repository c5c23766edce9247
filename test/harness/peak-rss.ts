/**
 * What the memory tests share: running the CLI under the peak-RSS fixture
 * (`test/fixtures/peak-rss-fixture.ts`, which reports the process's VmHWM),
 * and comparing two large files a MiB at a time.
 *
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";
import { fileURLToPath } from "node:url";

const MIB = 1024 * 1024;
const PEAK_FIXTURE = fileURLToPath(new URL("../fixtures/peak-rss-fixture.ts", import.meta.url));
const CLI_ENV = { PATH: process.env.PATH, HOME: process.env.HOME };

/** Runs the CLI with `args` through the peak-RSS fixture; returns its exit code and peak RSS in KiB. */
export async function runMeasured(args: string[]): Promise<{ code: number; peakKib: number; stderr: string }> {
  const proc = Bun.spawn([process.execPath, PEAK_FIXTURE, ...args], { env: CLI_ENV, stdout: "pipe", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  const peak = /peak-rss-kib (\d+)/.exec(stderr)?.[1];
  if (peak === undefined) throw new Error(`No peak RSS reported (exit ${code}):\n${stderr}`);
  return { code, peakKib: Number(peak), stderr };
}

/** Whether two files hold the same bytes, read a MiB at a time (never whole). */
export function sameFileContent(a: string, b: string): boolean {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  try {
    const ba = new Uint8Array(MIB);
    const bb = new Uint8Array(MIB);
    for (let at = 0; ; at += MIB) {
      const na = readSync(fa, ba, 0, MIB, at);
      const nb = readSync(fb, bb, 0, MIB, at);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (!Buffer.from(ba.buffer, 0, na).equals(bb.subarray(0, nb))) return false;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
