/**
 * Bandwidth limiting for uploads: a token bucket shared by every upload of
 * one replica, and a helper that cuts a body into chunks released at the
 * bucket's pace.
 *
 * @module
 */

import { bytesSource, type ByteSource } from "../platform/byte-source.ts";
import { systemClock, type Clock } from "../platform/clock.ts";

/** The smallest default burst: 16 KiB, one paced S3 chunk. */
export const MIN_DEFAULT_BURST_BYTES = 16 * 1024;

/** Options for `ByteThrottle`. */
export interface ByteThrottleOptions {
  /** The limit in bytes per second; 0 = unlimited. */
  readonly bytesPerSecond: number;
  /** The source of time. @default systemClock */
  readonly clock?: Clock;
  /**
   * How many bytes may pass at once after the link was idle (the bucket
   * size). When unset it follows the rate: `max(16 KiB, bytesPerSecond / 8)`.
   */
  readonly burstBytes?: number;
}

/**
 * A token bucket limiting bytes per second across every upload of one
 * replica: each upload asks for tokens with `take(bytes)` before it sends
 * that many bytes.
 *
 * The bucket refills at `bytesPerSecond` up to the burst size, and starts
 * empty, so a fresh throttle (an agent that restarts in a loop, say) never
 * sends more than `bytesPerSecond × t` in its first `t` seconds. The default
 * burst, `max(16 KiB, bytesPerSecond / 8)`, is an eighth of a second of
 * traffic: small bursts keep the rate smooth over short windows (a link
 * shared with MQTT and SSH never sees a whole second's worth of bytes at
 * once) while still letting a 16 KiB chunk through in one piece.
 *
 * Requests larger than the burst are allowed: the bucket goes negative and
 * the request waits in proportion to its size. Requests are served in call
 * order (each reserves its tokens when it is made), so concurrent uploads
 * share the rate instead of starving one another.
 *
 * @example
 * ```ts
 * const throttle = new ByteThrottle({ bytesPerSecond: 256 * 1024 });
 * await throttle.take(chunk.byteLength, { signal });
 * socket.write(chunk);
 * ```
 */
export class ByteThrottle {
  readonly #clock: Clock;
  readonly #fixedBurst: number | undefined;
  #rate = 0;
  #burst = 0;
  /** Tokens available at `#updatedAt`; negative while requests wait. */
  #tokens = 0;
  #updatedAt: number;

  /**
   * Creates a throttle with an empty bucket.
   * @throws {RangeError} when `bytesPerSecond` is negative or not finite, or `burstBytes` is not positive and finite
   */
  constructor(options: ByteThrottleOptions) {
    const { bytesPerSecond, clock = systemClock, burstBytes } = options;
    if (burstBytes !== undefined && !(Number.isFinite(burstBytes) && burstBytes > 0)) {
      throw new RangeError(
        `Cannot create byte throttle: 'burstBytes' must be a positive finite number, got '${burstBytes}'`,
      );
    }
    checkRate("create byte throttle", bytesPerSecond);
    this.#clock = clock;
    this.#fixedBurst = burstBytes;
    this.#updatedAt = clock.monotonic();
    this.#applyRate(bytesPerSecond);
  }

  /** The current limit in bytes per second; 0 = unlimited. */
  get bytesPerSecond(): number {
    return this.#rate;
  }

  /** The current bucket size in bytes. */
  get burstBytes(): number {
    return this.#burst;
  }

  /**
   * Changes the limit, e.g. when the link becomes metered. It applies to the
   * next `take`; requests already waiting keep the wait they were given.
   * Tokens saved up so far are kept, up to the new burst size.
   * @throws {RangeError} when `bytesPerSecond` is negative or not finite
   */
  setRate(bytesPerSecond: number): void {
    checkRate("set throttle rate", bytesPerSecond);
    this.#refill();
    this.#applyRate(bytesPerSecond);
  }

  /**
   * Waits until `bytes` may be sent. Resolves at once when the throttle is
   * unlimited or the bucket holds enough tokens; otherwise waits
   * `deficit / bytesPerSecond` seconds (rounded up to whole milliseconds).
   * An aborted request gives its tokens back.
   * @throws {RangeError} when `bytes` is negative or not finite
   * @throws the signal's reason when `signal` is aborted before or during the wait
   */
  async take(bytes: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (!(Number.isFinite(bytes) && bytes >= 0)) {
      throw new RangeError(
        `Cannot take bytes from throttle: 'bytes' must be a non-negative finite number, got '${bytes}'`,
      );
    }
    signal?.throwIfAborted();
    if (this.#rate === 0 || bytes === 0) return;
    this.#refill();
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    const waitMs = Math.ceil((-this.#tokens * 1000) / this.#rate);
    await this.#clock.sleep(waitMs, signal);
    if (signal?.aborted === true) {
      // Nothing was sent: return the reservation so later requests are not
      // held back by bytes that never went out.
      this.#refill();
      this.#tokens = Math.min(this.#burst, this.#tokens + bytes);
      throw signal.reason;
    }
  }

  /** Adds the tokens earned since the last update, up to the burst size. */
  #refill(): void {
    const now = this.#clock.monotonic();
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#updatedAt = now;
    if (this.#rate === 0) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }

  #applyRate(bytesPerSecond: number): void {
    this.#rate = bytesPerSecond;
    this.#burst = this.#fixedBurst ?? Math.max(MIN_DEFAULT_BURST_BYTES, bytesPerSecond / 8);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }
}

/**
 * Yields `body` in chunks of `chunkSize` bytes (views, no copies), each
 * after `throttle.take(chunk.byteLength)`. An empty body yields nothing.
 * @throws {RangeError} when `chunkSize` is not a positive integer
 * @throws the signal's reason when `signal` aborts while a chunk waits
 */
export async function* pacedChunks(
  body: Uint8Array | ByteSource,
  throttle: ByteThrottle,
  options: { chunkSize: number; signal?: AbortSignal },
): AsyncGenerator<Uint8Array, void, undefined> {
  const { chunkSize, signal } = options;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`Cannot pace body: 'chunkSize' must be a positive integer, got '${chunkSize}'`);
  }
  const source = body instanceof Uint8Array ? bytesSource(body) : body;
  for (let offset = 0; offset < source.size; offset += chunkSize) {
    const length = Math.min(source.size - offset, chunkSize);
    await throttle.take(length, signal === undefined ? {} : { signal });
    yield await source.read(offset, length);
  }
}

function checkRate(action: string, bytesPerSecond: number): void {
  if (!(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0)) {
    throw new RangeError(
      `Cannot ${action}: 'bytesPerSecond' must be a non-negative finite number, got '${bytesPerSecond}'`,
    );
  }
}
