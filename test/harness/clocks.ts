/**
 * A clock for tests that runs with real time plus offsets the test can
 * change: files stamped with real mtimes and the agent's notion of "now"
 * stay comparable.
 *
 * @module
 */

import type { Clock } from "../../src/platform/clock.ts";

/**
 * A clock whose `now()` is real time plus an offset and whose `monotonic()`
 * is real monotonic time plus an offset. `advance` moves both (time
 * passing); `step` moves the wall clock only (NTP stepping it); `sleep`
 * advances instead of waiting.
 */
export interface OffsetClock extends Clock {
  advance(ms: number): void;
  step(ms: number): void;
}

/** Creates an {@linkcode OffsetClock}. */
export function offsetClock(): OffsetClock {
  let wall = 0;
  let mono = 0;
  return {
    now: () => Date.now() + wall,
    monotonic: () => performance.now() + mono,
    advance(ms) {
      wall += ms;
      mono += ms;
    },
    step(ms) {
      wall += ms;
    },
    async sleep(ms) {
      wall += ms;
      mono += ms;
    },
  };
}
