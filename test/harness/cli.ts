/**
 * Runs the CLI for tests: in-process through `main(argv, io)`, or as a
 * separate `bun src/cli/main.ts` process.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { runAndFlush } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/io.ts";

/** Path of the CLI entry point. */
export const CLI_ENTRY = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** Output of an in-process run. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `litefleet <args>` in this process. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; now?: () => number; isTty?: boolean } = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    flush: async () => {},
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    isTty: options.isTty ?? false,
    onSignal: () => () => {},
    ...(options.now ? { now: options.now } : {}),
  };
  const code = await runAndFlush(args, io);
  return { code, stdout, stderr };
}

/** Children still running, killed when the test process exits (a failed test must not leave agents behind). */
const running = new Set<{ kill(signal?: number | NodeJS.Signals): void }>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

/** Starts `litefleet <args>` as a child process (stdout/stderr piped). */
export function spawnCli(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
  const proc = Bun.spawn([process.execPath, CLI_ENTRY, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  return proc;
}
