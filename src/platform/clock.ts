/**
 * Time, injected: loops take a `Clock` so tests can drive them.
 *
 * Two kinds of time: `now()` is the wall clock, which NTP may step either
 * way at any moment; it is only for what must carry a date (LTX
 * timestamps, retention ages, time windows, status). `monotonic()` never
 * goes back and never jumps; every interval, age, deadline and backoff the
 * agent measures uses it, so a clock step cannot stall or rush them.
 *
 * @module
 */

/** The source of time for loops, backoff and timeouts. */
export interface Clock {
  /** Wall-clock time in Unix ms (may step). */
  now(): number;
  /** Milliseconds on a clock that never steps (origin arbitrary, per process). */
  monotonic(): number;
  /** Resolves after `ms` (monotonic), or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  },
};

/** What `raceTimeout` resolves to when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * Settles like `work`, or resolves `TIMED_OUT` once `ms` (monotonic) have
 * passed first. The timer is cleared either way; `work` itself goes on.
 */
export async function raceTimeout<T>(
  work: Promise<T>,
  ms: number,
  clock: Clock = systemClock,
): Promise<T | typeof TIMED_OUT> {
  const settled = new AbortController();
  try {
    return await Promise.race([work, clock.sleep(ms, settled.signal).then((): typeof TIMED_OUT => TIMED_OUT)]);
  } finally {
    settled.abort();
  }
}
