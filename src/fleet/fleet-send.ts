/**
 * One command to many devices (`litefleet fleet send --select …`): each
 * device gets its own signed command (its own id, signature and reply
 * topic, through `sendCommand`), started at a bounded rate and with a
 * bounded number in flight, so a fleet of 10,000 neither floods the broker
 * nor holds 10,000 reply subscriptions at once. Every device ends with one
 * outcome; the counts are reported after every change.
 *
 * Pacing: the n-th command starts no earlier than `1 / rate` after the one
 * before it (measured on the injected clock's monotonic time), and only
 * while fewer than `maxInFlight` are waiting for their final reply; a stall
 * on the in-flight bound is not made up for with a burst afterwards.
 *
 * Memory: one outcome per device (a few hundred bytes; results are kept as
 * the device sent them, at most the 256 KiB payload limit each).
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { Clock } from "../platform/clock.ts";
import type { ReplyMessage } from "../protocol/messages.ts";
import { NoReplyError } from "./operator.ts";

/** Where a device's command stands; the last four are final. */
export type OutcomeStatus = "waiting" | "sent" | "accepted" | "done" | "failed" | "rejected" | "no-reply";

/** One device's command and how it ended (or stands). */
export interface DeviceOutcome {
  readonly device: string;
  /** The command id, once sent. */
  readonly id: string | null;
  readonly status: OutcomeStatus;
  /** The reply code of a "failed" or "rejected" reply (absent from older agents: null). */
  readonly code: string | null;
  /** Why it failed, was rejected, or got no reply. */
  readonly error: string | null;
  /** The result of a "done" reply. */
  readonly result: Readonly<Record<string, unknown>> | null;
  /** For "no-reply": true when the device accepted the command and then went silent. */
  readonly answered: boolean;
}

/** Devices per stage: `sent` and `accepted` count every device that got that far. */
export interface SendCounts {
  readonly total: number;
  readonly sent: number;
  readonly accepted: number;
  readonly done: number;
  readonly failed: number;
  readonly rejected: number;
  readonly noReply: number;
}

/** Sends one device's command: yields its replies up to the final one (`sendCommand`). */
export type SendOne = (device: string, onSent: (id: string) => void) => AsyncIterable<ReplyMessage>;

/** Options of {@linkcode sendToFleet}. */
export interface FleetSendOptions {
  readonly send: SendOne;
  /** Commands started per second (> 0). */
  readonly ratePerSecond: number;
  /** Commands waiting for their final reply at once (≥ 1). */
  readonly maxInFlight: number;
  readonly clock: Clock;
  /** Called after every change of an outcome, with the changed one and the counts. */
  readonly onChange?: (outcome: DeviceOutcome, counts: SendCounts) => void;
}

/**
 * Sends to every device (see the module documentation) and resolves with
 * one final outcome per device, in the order of `devices`. Never throws for
 * a device: an error of its send becomes its outcome.
 * @throws {RangeError} when the rate or the in-flight bound is not positive
 */
export async function sendToFleet(devices: readonly string[], options: FleetSendOptions): Promise<DeviceOutcome[]> {
  const { clock, ratePerSecond, maxInFlight } = options;
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond))
    throw new RangeError(
      `Cannot send to the fleet: the rate must be a positive number: current value is ${ratePerSecond}`,
    );
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
    throw new RangeError(
      `Cannot send to the fleet: the in-flight bound must be a positive integer: current value is ${maxInFlight}`,
    );
  const outcomes: DeviceOutcome[] = devices.map((device) => ({
    device,
    id: null,
    status: "waiting",
    code: null,
    error: null,
    result: null,
    answered: false,
  }));
  const counts = { total: devices.length, sent: 0, accepted: 0, done: 0, failed: 0, rejected: 0, noReply: 0 };
  const update = (i: number, change: Partial<DeviceOutcome>) => {
    const next = { ...(outcomes[i] as DeviceOutcome), ...change };
    outcomes[i] = next;
    if (change.status === "sent") counts.sent++;
    else if (change.status === "accepted") counts.accepted++;
    else if (change.status === "done") counts.done++;
    else if (change.status === "failed") counts.failed++;
    else if (change.status === "rejected") counts.rejected++;
    else if (change.status === "no-reply") counts.noReply++;
    options.onChange?.(next, { ...counts });
  };
  const one = async (i: number): Promise<void> => {
    const device = (outcomes[i] as DeviceOutcome).device;
    try {
      for await (const reply of options.send(device, (id) => update(i, { id, status: "sent" }))) {
        if (reply.status === "accepted") update(i, { status: "accepted" });
        else if (reply.status === "done") update(i, { status: "done", result: reply.result ?? {} });
        else if (reply.status === "failed" || reply.status === "rejected")
          update(i, { status: reply.status, code: reply.code ?? null, error: reply.error ?? null });
      }
      if (!isFinal((outcomes[i] as DeviceOutcome).status))
        update(i, { status: "no-reply", error: "the replies ended without a final one" });
    } catch (err) {
      if (err instanceof NoReplyError) update(i, { status: "no-reply", error: err.message, answered: err.answered });
      else update(i, { status: "failed", error: errorMessage(err) });
    }
  };
  const interval = 1000 / ratePerSecond;
  const running = new Set<Promise<void>>();
  let next = clock.monotonic();
  for (let i = 0; i < outcomes.length; i++) {
    while (running.size >= maxInFlight) await Promise.race(running);
    const wait = next - clock.monotonic();
    if (wait > 0) await clock.sleep(wait);
    // From the actual start: time lost waiting for a free slot is not made up with a burst.
    next = Math.max(next, clock.monotonic()) + interval;
    const p: Promise<void> = one(i).finally(() => running.delete(p));
    running.add(p);
  }
  await Promise.all(running);
  return outcomes;
}

/** True for the outcomes a device's command ends in. */
export function isFinal(status: OutcomeStatus): boolean {
  return status === "done" || status === "failed" || status === "rejected" || status === "no-reply";
}
