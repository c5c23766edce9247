/**
 * `replicate --exec CMD`: the application as a child of the agent
 * (Litestream's `-exec`). Started after every database's first sync, run
 * through `/bin/sh -c` so quoting works as in a shell; SIGINT and SIGTERM
 * received by the agent are forwarded to it, and the agent exits with its
 * exit code (128 + signal number when it was killed by a signal).
 *
 * @module
 */

import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

/** A running child. */
export interface ExecChild {
  readonly pid: number | undefined;
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
  /** Forwards a signal. */
  signal(sig: NodeJS.Signals): void;
}

/**
 * Starts `command` with the agent's environment and stdio.
 * @throws {Error} when the shell cannot be started
 */
export function startExecChild(command: string, options: { env: Record<string, string | undefined> }): ExecChild {
  const child: ChildProcess = spawn("/bin/sh", ["-c", command], { stdio: "inherit", env: options.env });
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`Cannot run --exec command '${command}': ${err.message}`, { cause: err })));
    child.once("exit", (code, sig) => {
      if (code !== null) resolve(code);
      else resolve(128 + ((sig && constants.signals[sig]) || 0));
    });
  });
  return {
    pid: child.pid,
    exited,
    signal(sig) {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}
