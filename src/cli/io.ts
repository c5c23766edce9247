/**
 * What a CLI command may touch of its process: streams, environment, working
 * directory. Tests pass their own.
 *
 * @module
 */

import { errorMessage, OutputError } from "../errors.ts";

/** The process surface handed to `main`. */
export interface CliIo {
  /** Queues `text` for stdout; it is written by the time {@linkcode CliIo.flush} resolves. */
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /**
   * Resolves once everything passed to `stdout` and `stderr` so far has been
   * handed to the operating system (pipe, file or terminal), so the process
   * may exit without losing output. Waits as long as the reader does (a full
   * pipe is drained at the reader's pace).
   *
   * @throws {OutputError} when a stream could not be written (stdout's error first when both failed)
   */
  readonly flush: () => Promise<void>;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
  /** True when stderr is a terminal (progress bars). */
  readonly isTty: boolean;
  /**
   * Registers a handler for SIGINT/SIGTERM, and for "SIGPIPE" when stdout's
   * reader has gone away (long-running commands stop then); returns an
   * unregister function.
   */
  readonly onSignal: (handler: (signal: string) => void) => () => void;
  /** Wall-clock time in Unix ms (tests pass a fixed one); default `Date.now`. */
  readonly now?: () => number;
}

/** Exit codes scripts can rely on (docs/CLI.md). */
export const ExitCode = {
  ok: 0,
  /** The operation failed (replica unreachable, restore failed …), or its output could not be written. */
  failure: 1,
  /** Bad command line or configuration. */
  usage: 2,
  /** Data did not verify: corrupt file, checksum mismatch, integrity_check failed. */
  integrity: 3,
  /** Part of the work failed and the rest was done (`aggregate`: some devices failed, the others were merged). */
  partial: 4,
  /** The deadline passed before the operation finished (`sync`, `fleet send`). */
  timeout: 5,
  /** The agent (`status`, `sync`: nothing answers at `status.addr`) or the device (`fleet send`: no answer at all) cannot be reached. */
  unreachable: 6,
  /** The device refused the command (`fleet send`: bad signature, expired, replay, busy …); nothing ran. */
  refused: 7,
  /** stdout's reader closed before reading everything (`| head`): 128 + SIGPIPE, as a shell reports a process SIGPIPE killed. */
  brokenPipe: 141,
} as const;

/** One of the process's output streams, with what is still in flight and its first error. */
interface TrackedStream {
  write(text: string): void;
  /** Resolves when every write so far has finished; the stream's first error, or null. */
  settled(): Promise<OutputError | null>;
}

/**
 * Tracks writes to `stream`. `process.stdout.write` into a pipe is
 * asynchronous in Bun (and Node): what the pipe cannot take at once (64 KiB
 * on Linux) stays in the process and is lost if it exits; the write callback
 * is called once the chunk reached the OS, in order, so waiting for the last
 * one waits for all. After the first error further text is dropped, so a
 * closed pipe is reported once, never as an uncaught exception.
 */
function trackStream(
  name: "stdout" | "stderr",
  stream: NodeJS.WriteStream,
  onError: (err: OutputError) => void,
): TrackedStream {
  let last: Promise<void> = Promise.resolve();
  let failed: OutputError | null = null;
  const fail = (err: unknown) => {
    if (failed !== null) return;
    const code = (err as { code?: unknown }).code;
    failed = new OutputError(`Cannot write to ${name}: ${errorMessage(err)}`, {
      stream: name,
      code: typeof code === "string" ? code : undefined,
      cause: err,
    });
    onError(failed);
  };
  // Without a listener an EPIPE or ENOSPC would be thrown as an uncaught exception.
  stream.on("error", fail);
  return {
    write(text) {
      if (failed !== null || text.length === 0) return;
      last = new Promise<void>((resolve) => {
        try {
          stream.write(text, (err) => {
            if (err) fail(err);
            resolve();
          });
        } catch (err) {
          fail(err);
          resolve();
        }
      });
    },
    settled: () => last.then(() => failed),
  };
}

/** The real process. */
export function processIo(): CliIo {
  const handlers = new Set<(signal: string) => void>();
  const stdout = trackStream("stdout", process.stdout, (err) => {
    // The reader is gone: nothing more will be read, so long-running commands stop as on SIGPIPE.
    if (err.code === "EPIPE") for (const h of [...handlers]) h("SIGPIPE");
  });
  const stderr = trackStream("stderr", process.stderr, () => {});
  return {
    stdout: (t) => stdout.write(t),
    stderr: (t) => stderr.write(t),
    async flush() {
      const [out, err] = await Promise.all([stdout.settled(), stderr.settled()]);
      if (out !== null) throw out;
      if (err !== null) throw err;
    },
    env: process.env,
    cwd: process.cwd(),
    isTty: Boolean(process.stderr.isTTY),
    onSignal(handler) {
      const h = (sig: NodeJS.Signals) => handler(sig);
      handlers.add(handler);
      process.on("SIGINT", h);
      process.on("SIGTERM", h);
      return () => {
        handlers.delete(handler);
        process.off("SIGINT", h);
        process.off("SIGTERM", h);
      };
    },
  };
}
