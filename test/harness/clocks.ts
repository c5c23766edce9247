/**
 * A clock for tests that runs with real time plus an offset the test can
 * advance: files stamped with real mtimes and the agent's notion of "now"
 * stay comparable.
 *
 * @module
 */

import type { Clock } from "../../src/platform/clock.ts";

/** A clock whose `now()` is real time plus `offset`; `sleep` advances the offset instead of waiting. */
export interface OffsetClock extends Clock {
  advance(ms: number): void;
}

/** Creates an {@linkcode OffsetClock}. */
export function offsetClock(): OffsetClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
    async sleep(ms) {
      offset += ms;
    },
  };
}
