/**
 * `replicate --exec CMD`: the application as a child of the agent
 * (Litestream's `-exec`). Started after every database's first sync, run
 * through `/bin/sh -c` so quoting works as in a shell; SIGINT and SIGTERM
 * received by the agent are forwarded to it, and the agent exits with its
 * exit code (128 + signal number when it was killed by a signal), except
 * after a requested stop (see {@linkcode agentExitCode}).
 *
 * @module
 */

import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

/** How the child ended. */
export interface ExecExit {
  /** The exit status as a shell reports it: the exit code, or 128 + the signal number when a signal killed it. */
  readonly status: number;
  /**
   * The signal it ended of: the one that killed it, or the one whose
   * 128 + number it exited with (how `sh -c` reports its command's death, and
   * how applications that catch SIGTERM often exit: 143); else undefined.
   */
  readonly signal: NodeJS.Signals | undefined;
}

/** A running child. */
export interface ExecChild {
  readonly pid: number | undefined;
  /** Resolves when the child has exited. */
  readonly exited: Promise<ExecExit>;
  /** Forwards a signal. */
  signal(sig: NodeJS.Signals): void;
}

/** The signals that ask the agent to stop: a stop the child ends of is a success. */
export const STOP_SIGNALS: ReadonlySet<string> = new Set(["SIGINT", "SIGTERM"]);

/**
 * Starts `command` with the agent's environment and stdio.
 * @throws {Error} when the shell cannot be started
 */
export function startExecChild(command: string, options: { env: Record<string, string | undefined> }): ExecChild {
  const child: ChildProcess = spawn("/bin/sh", ["-c", command], { stdio: "inherit", env: options.env });
  const exited = new Promise<ExecExit>((resolve, reject) => {
    child.once("error", (err) =>
      reject(new Error(`Cannot run --exec command '${command}': ${err.message}`, { cause: err })),
    );
    child.once("exit", (code, sig) => resolve(execExit(code, sig)));
  });
  return {
    pid: child.pid,
    exited,
    signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}

/**
 * Describes an exit as `child_process` reports it (`code`, or the `signal`
 * that killed the process).
 *
 * @example
 * ```ts
 * execExit(null, "SIGTERM"); // { status: 143, signal: "SIGTERM" }
 * execExit(130, null); // { status: 130, signal: "SIGINT" }
 * execExit(3, null); // { status: 3, signal: undefined }
 * ```
 */
export function execExit(code: number | null, signal: NodeJS.Signals | null): ExecExit {
  if (code === null) return { status: 128 + ((signal && constants.signals[signal]) || 0), signal: signal ?? undefined };
  const byNumber = code > 128 ? signalName(code - 128) : undefined;
  return { status: code, signal: byNumber };
}

/**
 * The agent's exit code once the child has exited: 0 when the agent itself
 * received a stop signal (SIGTERM, SIGINT), forwarded it, and the child
 * ended of that same signal (killed by it, or exit 143 / 130), because a
 * requested stop is a success (`systemctl stop` would otherwise leave a
 * failed unit); else the child's status, passed through.
 *
 * @param exit how the child ended
 * @param received the signals the agent received and forwarded
 * @returns the agent's exit code
 */
export function agentExitCode(exit: ExecExit, received: ReadonlySet<string>): number {
  return exit.signal !== undefined && STOP_SIGNALS.has(exit.signal) && received.has(exit.signal) ? 0 : exit.status;
}

function signalName(n: number): NodeJS.Signals | undefined {
  return (Object.keys(constants.signals) as NodeJS.Signals[]).find((name) => constants.signals[name] === n);
}
