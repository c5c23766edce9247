/**
 * The time-box of a live restore's locked window (docs/FLEET.md "Remote
 * restore", `fleet.swap-timeout`): from the moment the application let go
 * of the database until the lock file is removed, every step runs under one
 * signal that aborts when the swap timeout passes (reason: a
 * `CommandError` with code "swap-timeout") or when the command's own
 * deadline does (its reason).
 *
 * @module
 */

import { CommandError } from "./command-error.ts";

/** A running time-box; dispose it to clear its timer. */
export interface SwapDeadline extends Disposable {
  /** Aborts at the swap timeout or with the command's signal, whichever comes first. */
  readonly signal: AbortSignal;
}

/**
 * Starts the time-box now: `timeoutMs` from now, or earlier when `outer`
 * (the command's deadline) aborts.
 *
 * @example
 * ```ts
 * using box = startSwapDeadline(60_000, ctx.signal, "/var/lib/app.db");
 * await untilAborted(agent.syncNow(), box.signal);
 * ```
 */
export function startSwapDeadline(timeoutMs: number, outer: AbortSignal, db: string): SwapDeadline {
  const own = new AbortController();
  const timer = setTimeout(
    () =>
      own.abort(
        new CommandError(
          `Cannot finish the restore of '${db}' within fleet.swap-timeout (${seconds(timeoutMs)}) of the application letting go of the database; raise fleet.swap-timeout if the database takes longer to copy and check, or fix the replica`,
          { code: "swap-timeout" },
        ),
      ),
    timeoutMs,
  );
  return {
    signal: AbortSignal.any([outer, own.signal]),
    [Symbol.dispose]: () => clearTimeout(timer),
  };
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
