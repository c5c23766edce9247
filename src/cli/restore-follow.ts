/**
 * `litefleet restore --follow`: restores (or resumes a copy an earlier run
 * left), then polls the replica every `--follow-interval` and applies new
 * files (`restore/follow.ts`) until SIGINT/SIGTERM. One line per applied
 * batch; a storage error is reported and retried with backoff, never fatal;
 * a damaged object ends the run with exit 3, naming it.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { Backoff } from "../agent/backoff.ts";
import { LocalStore } from "../agent/local-store.ts";
import { ChecksumMismatchError, CorruptFileError, errorMessage } from "../errors.ts";
import { formatTxid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { FollowCopy, type FollowHooks, nextFiles } from "../restore/follow.ts";
import { planRestore } from "../restore/planner.ts";
import type { IntegrityCheck } from "../sqlite/staged-database.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { integrityWords } from "./restore.ts";

/** How often an idle copy (level 0 has nothing new) looks for files on the compacted levels. */
export const BRIDGE_CHECK_MS = 60_000;

/** Options of {@linkcode runFollow}. */
export interface FollowRunOptions {
  readonly output: string;
  /** The replica's listing, taken by `restore`. */
  readonly files: readonly LtxFileInfo[];
  readonly integrity: IntegrityCheck;
  readonly parallelism: number;
  readonly intervalMs: number;
  readonly json: boolean | undefined;
  /** The configured database's state directory, reset after a restore into its path. */
  readonly metaPath?: string;
  /** Stops the loop as a signal would (tests). */
  readonly signal?: AbortSignal;
  readonly hooks?: FollowHooks;
}

/** Runs follow mode; returns the exit code. */
export async function runFollow(io: CliIo, client: ReplicaClient, options: FollowRunOptions): Promise<number> {
  const stop = new AbortController();
  const unregister = io.onSignal(() => stop.abort());
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  const log = (text: string, json: Record<string, unknown>) => {
    if (options.json) io.stdout(`${JSON.stringify(json)}\n`);
    else io.stderr(`${text}\n`);
  };
  let copy: FollowCopy | undefined;
  try {
    const { output } = options;
    if (existsSync(output)) {
      copy = await FollowCopy.resume(client, output, { files: options.files, ...hooks(options) });
      log(
        `Resuming follow mode: ${output} at TXID ${formatTxid(copy.txid)}${copy.torn ? " (an interrupted apply is repeated first)" : ""}`,
        { event: "resumed", path: output, txid: formatTxid(copy.txid), torn: copy.torn },
      );
    } else {
      const plan = await planRestore(client, {}, { files: options.files, signal: stop.signal });
      copy = await FollowCopy.create(client, plan, {
        output,
        integrity: options.integrity,
        parallelism: options.parallelism,
        signal: stop.signal,
        ...hooks(options),
      });
      if (options.metaPath !== undefined) LocalStore.resetAfterRestore(options.metaPath);
      log(
        `Restored TXID ${formatTxid(copy.txid)}: ${copy.pages} pages, ${integrityWords(options.integrity)}; following ${client.location} every ${options.intervalMs / 1000}s`,
        {
          event: "restored",
          path: output,
          txid: formatTxid(copy.txid),
          pages: copy.pages,
          integrityCheck: options.integrity,
        },
      );
    }
    await followLoop(client, copy, { ...options, signal: stop.signal, log });
    log("Follow mode stopped", { event: "stopped", txid: formatTxid(copy.txid) });
    return ExitCode.ok;
  } catch (err) {
    if (stop.signal.aborted && !(err instanceof CorruptFileError || err instanceof ChecksumMismatchError)) {
      log("Follow mode stopped before the copy was complete", { event: "stopped", complete: false });
      return ExitCode.failure;
    }
    throw err;
  } finally {
    copy?.close();
    unregister();
  }
}

function hooks(options: FollowRunOptions): { hooks?: FollowHooks } {
  return options.hooks ? { hooks: options.hooks } : {};
}

/** Polls and applies until `signal`; see the module documentation for the error policy. */
async function followLoop(
  client: ReplicaClient,
  copy: FollowCopy,
  ctx: FollowRunOptions & {
    signal: AbortSignal;
    log: (text: string, json: Record<string, unknown>) => void;
  },
): Promise<void> {
  const backoff = new Backoff({ baseMs: ctx.intervalMs, maxMs: 60_000 });
  let lastBridge = 0;
  let delay = copy.torn ? 0 : ctx.intervalMs;
  while (!ctx.signal.aborted) {
    await sleep(delay, ctx.signal);
    if (ctx.signal.aborted) return;
    const from = copy.txid;
    let applied = 0;
    try {
      const bridge = copy.torn || Date.now() - lastBridge >= BRIDGE_CHECK_MS;
      const files = await nextFiles(client, copy.txid, { bridge, signal: ctx.signal });
      if (bridge) lastBridge = Date.now();
      for (const f of files) {
        if (ctx.signal.aborted) break;
        await copy.apply(client, f, { signal: ctx.signal });
        applied++;
      }
      const failures = backoff.succeed();
      if (failures > 0) ctx.log(`Follow recovered after ${failures} errors`, { event: "recovered", failures });
      delay = ctx.intervalMs;
    } catch (err) {
      if (err instanceof CorruptFileError || err instanceof ChecksumMismatchError) throw err;
      if (ctx.signal.aborted) return;
      delay = backoff.fail();
      ctx.log(`Error: ${errorMessage(err)} (retrying in ${(delay / 1000).toFixed(1)}s)`, {
        event: "error",
        error: errorMessage(err),
        retryInMs: delay,
      });
    }
    if (applied > 0) {
      ctx.log(
        `Applied TXIDs ${formatTxid((from + 1n) as typeof from)}-${formatTxid(copy.txid)} (${applied} files): ${copy.pages} pages`,
        {
          event: "applied",
          fromTxid: formatTxid((from + 1n) as typeof from),
          toTxid: formatTxid(copy.txid),
          files: applied,
          pages: copy.pages,
        },
      );
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
