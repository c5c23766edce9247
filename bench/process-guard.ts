/**
 * Makes sure a benchmark leaves nothing behind: every child process it
 * started is killed and every temp directory it made is removed, whether the
 * run ends normally, throws, or is interrupted (Ctrl-C, SIGTERM, SIGHUP).
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Registers a child process for cleanup and returns it ({@linkcode ProcessGuard.track}, bound). */
export type TrackChild = <T extends Subprocess>(child: T) => T;

/** Tracks children and temp dirs of one benchmark run; see the module doc. */
export class ProcessGuard {
  #children = new Set<Subprocess>();
  #dirs = new Set<string>();
  #installed = false;
  #keepDirs = false;
  #onExit = (): void => this.cleanupSync();
  #onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal} received, killing child processes and removing temp dirs\n`);
    this.cleanupSync();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };

  /** Installs the exit and signal handlers. Calling it twice does nothing. */
  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    process.on("exit", this.#onExit);
    for (const s of SIGNALS) process.on(s, this.#onSignal);
  }

  /** Registers a child: it is SIGKILLed at cleanup if still running. Returns it. */
  track<T extends Subprocess>(child: T): T {
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }

  /** Makes a temp directory `<tmpdir>/<prefix>XXXXXX` that is removed at cleanup. */
  makeTempDir(prefix: string): string {
    const path = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.add(path);
    return path;
  }

  /** Leaves the temp dirs in place at cleanup (children are still killed). */
  keepTempDirs(): void {
    this.#keepDirs = true;
  }

  /** Kills every tracked child still running and removes every temp dir. Safe to call more than once. */
  cleanupSync(): void {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone between the check and the kill.
        }
      }
    }
    this.#children.clear();
    if (!this.#keepDirs) for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    this.#dirs.clear();
  }

  /** Cleans up and removes the handlers. */
  dispose(): void {
    this.cleanupSync();
    if (!this.#installed) return;
    process.off("exit", this.#onExit);
    for (const s of SIGNALS) process.off(s, this.#onSignal);
    this.#installed = false;
  }
}
