import { describe, expect, test } from "bun:test";
import type { Clock } from "../platform/clock.ts";
import type { ReplyMessage } from "../protocol/messages.ts";
import { sendToFleet, type SendCounts, type SendOne } from "./fleet-send.ts";
import { NoReplyError } from "./operator.ts";

/** A clock that only moves when slept on: every start time is exact. */
function manualClock(): Clock & { readonly t: number } {
  let t = 0;
  return {
    get t() {
      return t;
    },
    now: () => t,
    monotonic: () => t,
    async sleep(ms) {
      t += ms;
    },
  };
}

function reply(device: string, status: ReplyMessage["status"], extra: Partial<ReplyMessage> = {}): ReplyMessage {
  return { v: 1, type: "reply", device, id: `c-${device}`, status, ts: 0, ...extra };
}

describe("sendToFleet()", () => {
  test("starts at most `rate` commands per second, measured on the injected clock", async () => {
    const clock = manualClock();
    const starts: number[] = [];
    const send: SendOne = async function* (device, onSent) {
      starts.push(clock.t);
      onSent(`c-${device}`);
      yield reply(device, "done", { result: {} });
    };
    const devices = Array.from({ length: 25 }, (_, i) => `d-${i}`);
    const outcomes = await sendToFleet(devices, { send, clock, ratePerSecond: 10, maxInFlight: 100 });
    expect(outcomes.every((o) => o.status === "done")).toBe(true);
    expect(starts).toEqual(devices.map((_, i) => i * 100));
  });

  test("keeps at most `maxInFlight` waiting for a final reply, without a burst once slots free up", async () => {
    const clock = manualClock();
    const release: (() => void)[] = [];
    let inFlight = 0;
    let peak = 0;
    const starts: number[] = [];
    const send: SendOne = async function* (device, onSent) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      starts.push(clock.t);
      onSent(`c-${device}`);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight--;
      yield reply(device, "done", { result: {} });
    };
    const run = sendToFleet(
      Array.from({ length: 6 }, (_, i) => `d-${i}`),
      { send, clock, ratePerSecond: 10, maxInFlight: 2 },
    );
    // The test frees the slots two at a time, long after the rate would allow the next start.
    for (let freed = 0; freed < 6; freed += 2) {
      while (release.length < 2) await Bun.sleep(1);
      await clock.sleep(1_000);
      release.shift()?.();
      release.shift()?.();
    }
    await run;
    expect(peak).toBe(2);
    // Both freed slots are not refilled at the same instant: the rate holds across the stall.
    const gaps = starts.slice(1).map((t, i) => t - (starts[i] as number));
    expect(gaps.every((g) => g >= 100)).toBe(true);
    expect(starts).toHaveLength(6);
  });

  test("one final outcome per device: done, failed and rejected with their codes, no reply (answered or not)", async () => {
    const clock = manualClock();
    const changes: SendCounts[] = [];
    const send: SendOne = async function* (device, onSent) {
      if (device === "silent") throw new NoReplyError("no answer", { answered: false });
      onSent(`c-${device}`);
      if (device === "refuses") {
        yield reply(device, "rejected", { code: "busy", error: "in use" });
        return;
      }
      yield reply(device, "accepted");
      if (device === "stops") throw new NoReplyError("accepted, then silent", { answered: true });
      if (device === "fails") yield reply(device, "failed", { code: "replica", error: "ECONNREFUSED" });
      else yield reply(device, "done", { result: { ok: true } });
    };
    const outcomes = await sendToFleet(["ok", "fails", "refuses", "silent", "stops"], {
      send,
      clock,
      ratePerSecond: 100,
      maxInFlight: 1,
      onChange: (_o, counts) => changes.push(counts),
    });
    expect(outcomes.map((o) => [o.device, o.status, o.code, o.answered])).toEqual([
      ["ok", "done", null, false],
      ["fails", "failed", "replica", false],
      ["refuses", "rejected", "busy", false],
      ["silent", "no-reply", null, false],
      ["stops", "no-reply", null, true],
    ]);
    expect(outcomes[0]?.result).toEqual({ ok: true });
    expect(outcomes[1]?.error).toBe("ECONNREFUSED");
    expect(changes.at(-1)).toEqual({ total: 5, sent: 4, accepted: 3, done: 1, failed: 1, rejected: 1, noReply: 2 });
  });

  test("refuses a rate or in-flight bound that is not positive", async () => {
    const clock = manualClock();
    const send: SendOne = async function* () {};
    await expect(sendToFleet([], { send, clock, ratePerSecond: 0, maxInFlight: 1 })).rejects.toThrow(
      "Cannot send to the fleet: the rate must be a positive number: current value is 0",
    );
    await expect(sendToFleet([], { send, clock, ratePerSecond: 1, maxInFlight: 0 })).rejects.toThrow(
      "Cannot send to the fleet: the in-flight bound must be a positive integer: current value is 0",
    );
  });
});
