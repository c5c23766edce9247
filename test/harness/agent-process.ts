/**
 * A `litefleet replicate` child process for end-to-end tests: its log is
 * collected as it runs, and it can be waited on, stopped or killed.
 *
 * @module
 */

import { expect } from "bun:test";
import { spawnCli } from "./cli.ts";

/** A running agent. */
export interface AgentProcess {
  readonly proc: ReturnType<typeof spawnCli>;
  /** Everything logged so far. */
  log(): string;
  /** Waits (up to 30 s) until the log contains `text`. */
  waitForLog(text: string): Promise<void>;
  /** SIGTERM, expect a clean exit, return the whole log. */
  stop(): Promise<string>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/** Starts `litefleet replicate --config <cfg>`. */
export function startAgent(cfg: string, env: Record<string, string> = {}): AgentProcess {
  const proc = spawnCli(["replicate", "-config", cfg], { env });
  let log = "";
  const collected = (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  return {
    proc,
    log: () => log,
    async waitForLog(text) {
      const deadline = Date.now() + 30_000;
      while (!log.includes(text)) {
        if (Date.now() > deadline) throw new Error(`Agent never logged '${text}':\n${log}`);
        if (proc.exitCode !== null)
          throw new Error(`Agent exited (${proc.exitCode}) before logging '${text}':\n${log}`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      await collected;
      if (code !== 0) console.error(log);
      expect(code).toBe(0);
      return log;
    },
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
      await collected;
    },
  };
}

export { freePort } from "./free-port.ts";
