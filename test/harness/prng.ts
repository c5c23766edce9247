/**
 * Seeded pseudo-random numbers for deterministic property and fuzz tests.
 *
 * @module
 */

/**
 * Returns a mulberry32 generator: each call yields a float in [0, 1).
 * The same seed always yields the same sequence.
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * const byte = Math.floor(rand() * 256);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed used when `LITEFLEET_SEED` is not set, so runs are reproducible. */
export const DEFAULT_SEED = 0x1f2e3d4c;

/**
 * Returns the test seed: the integer in env `LITEFLEET_SEED` if set
 * (decimal or `0x` hex), else {@linkcode DEFAULT_SEED}.
 *
 * @throws {RangeError} when `LITEFLEET_SEED` is set but not an integer
 */
export function randomSeed(): number {
  const text = process.env["LITEFLEET_SEED"];
  if (text === undefined || text === "") return DEFAULT_SEED;
  const value = Number(text);
  if (!Number.isInteger(value)) {
    throw new RangeError(`Cannot read test seed: LITEFLEET_SEED '${text}' is not an integer`);
  }
  return value >>> 0;
}
