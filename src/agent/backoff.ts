/**
 * Exponential backoff with full jitter, for loops that retry forever.
 *
 * @module
 */

/** Tracks consecutive failures and the next delay. */
export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  #failures = 0;
  #random: () => number;

  constructor(options: { baseMs: number; maxMs: number; random?: () => number }) {
    this.baseMs = options.baseMs;
    this.maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Records a failure and returns how long to wait: uniform in [0, min(max, base·2^n)]. */
  fail(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return Math.round(this.#random() * cap);
  }

  /** Records a success; returns how many failures preceded it. */
  succeed(): number {
    const n = this.#failures;
    this.#failures = 0;
    return n;
  }
}
