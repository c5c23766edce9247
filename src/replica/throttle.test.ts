import { describe, expect, test } from "bun:test";
import type { Clock } from "../platform/clock.ts";
import { ByteThrottle, MIN_DEFAULT_BURST_BYTES, pacedChunks } from "./throttle.ts";

/**
 * A fake clock whose `sleep(ms)` records `ms` and moves time forward by
 * `ms` at once, for callers that sleep one at a time. With `hold`, time
 * stands still and sleeps end only when their signal aborts, for tests of
 * concurrent and aborted requests.
 */
class FakeClock implements Clock {
  time = 1_000_000;
  readonly sleeps: number[] = [];
  readonly #hold: boolean;
  constructor(options: { hold?: boolean } = {}) {
    this.#hold = options.hold ?? false;
  }
  now(): number {
    return this.time;
  }
  monotonic(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (this.#hold) {
      return new Promise((resolve) => {
        if (signal?.aborted === true) return resolve();
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    this.time += ms;
    return Promise.resolve();
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

const KiB = 1024;

describe("ByteThrottle", () => {
  test("take() waits deficit / rate starting from an empty bucket", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 100 * KiB, clock });
    await throttle.take(16 * KiB);
    await throttle.take(16 * KiB);
    await throttle.take(8 * KiB);
    // 16 KiB at 100 KiB/s = 160 ms each, 8 KiB = 80 ms.
    expect(clock.sleeps).toEqual([160, 160, 80]);
  });

  test("take() resolves without waiting while the bucket holds enough tokens", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 4000 });
    clock.advance(10_000); // idle long enough to fill the bucket, capped at the burst
    await throttle.take(1500);
    await throttle.take(2500);
    expect(clock.sleeps).toEqual([]);
    await throttle.take(500);
    expect(clock.sleeps).toEqual([500]);
  });

  test("take() refills at the rate while the caller is busy", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    await throttle.take(1000);
    clock.advance(300); // 300 bytes earned while the first chunk was being sent
    await throttle.take(1000);
    expect(clock.sleeps).toEqual([1000, 700]);
  });

  test("take() lets a request larger than the burst through after a proportional wait", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 100 });
    clock.advance(60_000);
    await throttle.take(5100);
    // 100 bytes from the full bucket, 5000 bytes owed at 1000 B/s.
    expect(clock.sleeps).toEqual([5000]);
    await throttle.take(1);
    expect(clock.sleeps).toEqual([5000, 1]);
  });

  test("take() serves concurrent requests in call order, sharing the rate", async () => {
    const clock = new FakeClock({ hold: true });
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    const controller = new AbortController();
    const { signal } = controller;
    const waits = [throttle.take(500, { signal }), throttle.take(500, { signal }), throttle.take(1000, { signal })];
    // Each reserves its tokens when called: 0.5 s, 1 s, 2 s from now.
    expect(clock.sleeps).toEqual([500, 1000, 2000]);
    const settled = Promise.allSettled(waits);
    controller.abort(new Error("done"));
    expect((await settled).map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
  });

  test("take() resolves at once when unlimited, for any size", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 0, clock });
    await throttle.take(1024 * 1024 * 1024);
    await throttle.take(0);
    expect(clock.sleeps).toEqual([]);
  });

  test("take(0) resolves at once", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1, clock });
    await throttle.take(0);
    expect(clock.sleeps).toEqual([]);
  });

  test("take() rejects with the signal's reason when aborted during the wait, and gives the tokens back", async () => {
    const clock = new FakeClock({ hold: true });
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    const controller = new AbortController();
    const reason = new Error("link down");
    const waiting = throttle.take(2000, { signal: controller.signal });
    expect(clock.sleeps).toEqual([2000]);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // The aborted 2000 bytes are no longer owed: the next request waits only for itself.
    const release = new AbortController();
    const next = throttle.take(500, { signal: release.signal });
    expect(clock.sleeps).toEqual([2000, 500]);
    release.abort(new Error("released"));
    await expect(next).rejects.toThrow("released");
  });

  test("take() rejects with the reason of an already aborted signal, even when unlimited", async () => {
    const clock = new FakeClock();
    const reason = new Error("stopped");
    for (const bytesPerSecond of [0, 1000]) {
      const throttle = new ByteThrottle({ bytesPerSecond, clock });
      await expect(throttle.take(10, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    }
    expect(clock.sleeps).toEqual([]);
  });

  test("take() rejects a negative or non-finite byte count with RangeError", async () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock: new FakeClock() });
    await expect(throttle.take(-1)).rejects.toThrow(RangeError);
    await expect(throttle.take(Number.NaN)).rejects.toThrow(
      "Cannot take bytes from throttle: 'bytes' must be a non-negative finite number, got 'NaN'",
    );
  });

  test("setRate() applies to the next take()", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    await throttle.take(1000);
    throttle.setRate(250);
    expect(throttle.bytesPerSecond).toBe(250);
    await throttle.take(1000);
    throttle.setRate(0);
    await throttle.take(1_000_000);
    throttle.setRate(2000);
    await throttle.take(1000);
    expect(clock.sleeps).toEqual([1000, 4000, 500]);
  });

  test("setRate() keeps the tokens earned at the old rate", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    clock.advance(400); // 400 bytes earned at 1000 B/s
    throttle.setRate(100);
    await throttle.take(500);
    // 100 bytes owed at 100 B/s.
    expect(clock.sleeps).toEqual([1000]);
  });

  test("the default burst is max(16 KiB, rate / 8) and follows setRate()", () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 64 * KiB, clock: new FakeClock() });
    expect(throttle.burstBytes).toBe(MIN_DEFAULT_BURST_BYTES);
    throttle.setRate(1024 * KiB);
    expect(throttle.burstBytes).toBe(128 * KiB);
    const fixed = new ByteThrottle({ bytesPerSecond: 1024 * KiB, burstBytes: 4 * KiB, clock: new FakeClock() });
    fixed.setRate(8192 * KiB);
    expect(fixed.burstBytes).toBe(4 * KiB);
  });

  test("the constructor and setRate() reject invalid rates and bursts with RangeError", () => {
    expect(() => new ByteThrottle({ bytesPerSecond: -1 })).toThrow(
      "Cannot create byte throttle: 'bytesPerSecond' must be a non-negative finite number, got '-1'",
    );
    expect(() => new ByteThrottle({ bytesPerSecond: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => new ByteThrottle({ bytesPerSecond: 10, burstBytes: 0 })).toThrow(
      "Cannot create byte throttle: 'burstBytes' must be a positive finite number, got '0'",
    );
    const throttle = new ByteThrottle({ bytesPerSecond: 10 });
    expect(() => throttle.setRate(Number.NaN)).toThrow(
      "Cannot set throttle rate: 'bytesPerSecond' must be a non-negative finite number, got 'NaN'",
    );
    expect(throttle.bytesPerSecond).toBe(10);
  });

  test("take() holds 200 KiB at 100 KiB/s to about 2 s of real time", async () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 100 * KiB });
    const start = performance.now();
    for (let sent = 0; sent < 200 * KiB; sent += 16 * KiB) {
      await throttle.take(Math.min(16 * KiB, 200 * KiB - sent));
    }
    const seconds = (performance.now() - start) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(1.9);
    expect(seconds).toBeLessThanOrEqual(2.3);
  });
});

describe("pacedChunks()", () => {
  test("yields views of chunkSize bytes, each after its take()", async () => {
    const clock = new FakeClock();
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock, burstBytes: 1000 });
    const body = Uint8Array.from({ length: 2500 }, (_, i) => i & 0xff);
    const chunks: Uint8Array[] = [];
    const times: number[] = [];
    for await (const chunk of pacedChunks(body, throttle, { chunkSize: 1000 })) {
      chunks.push(chunk);
      times.push(clock.now());
    }
    expect(chunks.map((c) => c.byteLength)).toEqual([1000, 1000, 500]);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(body));
    expect(clock.sleeps).toEqual([1000, 1000, 500]);
    expect(times.map((t) => t - 1_000_000)).toEqual([1000, 2000, 2500]);
  });

  test("yields nothing for an empty body", async () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock: new FakeClock() });
    const chunks: Uint8Array[] = [];
    for await (const chunk of pacedChunks(new Uint8Array(0), throttle, { chunkSize: 16 })) chunks.push(chunk);
    expect(chunks).toEqual([]);
  });

  test("rejects with the signal's reason when aborted", async () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 1000, clock: new FakeClock() });
    const reason = new Error("cancelled");
    const run = async (): Promise<void> => {
      for await (const _ of pacedChunks(new Uint8Array(10), throttle, {
        chunkSize: 4,
        signal: AbortSignal.abort(reason),
      })) {
        // unreachable
      }
    };
    await expect(run()).rejects.toBe(reason);
  });

  test("rejects a chunk size that is not a positive integer with RangeError", async () => {
    const throttle = new ByteThrottle({ bytesPerSecond: 0 });
    await expect(pacedChunks(new Uint8Array(1), throttle, { chunkSize: 0 }).next()).rejects.toThrow(RangeError);
  });
});
