/**
 * What a CLI command may touch of its process: streams, environment, working
 * directory. Tests pass their own.
 *
 * @module
 */

/** The process surface handed to `main`. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
  /** True when stderr is a terminal (progress bars). */
  readonly isTty: boolean;
  /** Registers a handler for SIGINT/SIGTERM; returns an unregister function. */
  readonly onSignal: (handler: (signal: string) => void) => () => void;
  /** Wall-clock time in Unix ms (tests pass a fixed one); default `Date.now`. */
  readonly now?: () => number;
}

/** Exit codes scripts can rely on (docs/CLI.md). */
export const ExitCode = {
  ok: 0,
  /** The operation failed (replica unreachable, restore failed …). */
  failure: 1,
  /** Bad command line or configuration. */
  usage: 2,
  /** Data did not verify: corrupt file, checksum mismatch, integrity_check failed. */
  integrity: 3,
} as const;

/** The real process. */
export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    isTty: Boolean(process.stderr.isTTY),
    onSignal(handler) {
      const h = (sig: NodeJS.Signals) => handler(sig);
      process.on("SIGINT", h);
      process.on("SIGTERM", h);
      return () => {
        process.off("SIGINT", h);
        process.off("SIGTERM", h);
      };
    },
  };
}
