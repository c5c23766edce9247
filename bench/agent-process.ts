/**
 * Starting and stopping a replication agent (Litestream or litefleet) as a
 * child process, with its output in a log file.
 *
 * @module
 */

import { closeSync, openSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import type { TrackChild } from "./process-guard.ts";

/** Where agents replicate to. */
export interface S3Target {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** How to start one agent. */
export interface AgentLaunch {
  /** Agent name, e.g. `lf-60s`. */
  readonly name: string;
  /** Program and arguments. */
  readonly argv: readonly string[];
  /** Complete environment of the child. */
  readonly env: Readonly<Record<string, string>>;
  /** File that receives stdout and stderr. */
  readonly logPath: string;
  /** The agent is ready once its log contains this text {@linkcode AgentLaunch.readyCount} times. */
  readonly readyText: string;
  /**
   * How many times `readyText` must appear: once per database for an agent
   * that logs it per database. @default 1
   */
  readonly readyCount?: number;
}

/** A running agent. */
export interface AgentProcess {
  readonly name: string;
  readonly process: Subprocess<"ignore", number, number>;
  readonly logPath: string;
}

/** Result of stopping an agent. */
export interface AgentExit {
  /** Exit code, or `null` when it ended by a signal. */
  readonly code: number | null;
  readonly signal: string | null;
  /** Seconds from SIGTERM to exit. */
  readonly stopSeconds: number;
  /** True when it did not exit within the timeout and was SIGKILLed. */
  readonly killed: boolean;
}

/**
 * Starts an agent and waits until its log shows `readyText` (`readyCount` times).
 *
 * @throws {Error} when it exits first or is not ready within `timeoutMs`; the message includes the log's tail
 */
export async function startAgent(
  launch: AgentLaunch,
  options: { timeoutMs: number; track: TrackChild },
): Promise<AgentProcess> {
  const { process: proc } = spawnAgent(launch, options.track);
  const deadline = performance.now() + options.timeoutMs;
  const wanted = launch.readyCount ?? 1;
  const expected = wanted === 1 ? `'${launch.readyText}'` : `'${launch.readyText}' ${wanted} times`;
  for (;;) {
    if (readLog(launch.logPath).split(launch.readyText).length - 1 >= wanted)
      return { name: launch.name, process: proc, logPath: launch.logPath };
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `Cannot start ${launch.name}: it exited with ${proc.exitCode ?? proc.signalCode} before ${expected} in its log\n${logTail(launch.logPath)}`,
      );
    }
    if (performance.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(
        `Cannot start ${launch.name}: no ${expected} in its log after ${options.timeoutMs} ms\n${logTail(launch.logPath)}`,
      );
    }
    await Bun.sleep(50);
  }
}

/**
 * Starts an agent without waiting for it to be ready, for a caller that
 * watches it from the first moment (e.g. its memory); its output goes to
 * `launch.logPath`. {@linkcode startAgent} is this plus the wait.
 */
export function spawnAgent(launch: AgentLaunch, track: TrackChild): AgentProcess {
  const out = openSync(launch.logPath, "w");
  try {
    const proc = track(
      Bun.spawn([...launch.argv], { env: { ...launch.env }, stdin: "ignore", stdout: out, stderr: out }),
    );
    return { name: launch.name, process: proc, logPath: launch.logPath };
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(out);
  }
}

/** Sends SIGTERM and waits for the exit; SIGKILLs after `timeoutMs`. */
export async function stopAgent(agent: AgentProcess, timeoutMs: number): Promise<AgentExit> {
  const started = performance.now();
  agent.process.kill("SIGTERM");
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    agent.process.kill("SIGKILL");
  }, timeoutMs);
  await agent.process.exited;
  clearTimeout(timer);
  return {
    code: agent.process.exitCode,
    signal: agent.process.signalCode === null ? null : String(agent.process.signalCode),
    stopSeconds: (performance.now() - started) / 1000,
    killed,
  };
}

/** Returns the last `lines` lines of a log file, indented, for error messages. */
export function logTail(path: string, lines = 20): string {
  return readLog(path)
    .trimEnd()
    .split("\n")
    .slice(-lines)
    .map((l) => `    | ${l}`)
    .join("\n");
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Runs a short command to completion and returns its exit code and combined output. */
export async function runCommand(
  argv: readonly string[],
  options: { env: Readonly<Record<string, string>>; timeoutMs: number; track: TrackChild },
): Promise<{ code: number | null; output: string }> {
  const proc = options.track(
    Bun.spawn([...argv], { env: { ...options.env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" }),
  );
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(timer);
  return { code: proc.exitCode, output: `${stdout}${stderr}` };
}

/** The minimal environment for a child: no AWS variables of the caller leak in. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
