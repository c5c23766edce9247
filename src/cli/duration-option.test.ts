import { describe, expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import { durationOption } from "./duration-option.ts";

describe("durationOption", () => {
  const ok: [text: string | undefined, ms: number][] = [
    [undefined, 60_000],
    ["30s", 30_000],
    ["2m", 120_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1h", 3_600_000],
    // A bare number is seconds, as `sync --timeout` first took it.
    ["300", 300_000],
    ["2.5", 2_500],
    [" 10 ", 10_000],
    ["0", 0],
  ];
  for (const [text, ms] of ok) {
    test(`ok: ${JSON.stringify(text)}`, () => {
      expect(durationOption(text, "--timeout", 60_000)).toBe(ms);
    });
  }

  const err: [text: string, message: string][] = [
    ["soon", "Cannot parse --timeout 'soon': expected a number followed by a unit (e.g. '10s', '1m30s')"],
    ["10x", "Cannot parse --timeout '10x': unknown unit 'x'; use ns, us, ms, s, m or h"],
    [
      "2d",
      "Cannot parse --timeout '2d': unknown unit 'd'; use ns, us, ms, s, m or h (use hours, e.g. '168h' for 7 days)",
    ],
    ["-5s", "Cannot parse --timeout '-5s': durations must not be negative"],
    ["-5", "Cannot parse --timeout '-5': durations must not be negative"],
    ["", "Cannot parse --timeout '': the value is empty"],
    ["1.0001", "Cannot parse --timeout '1.0001': durations must be a whole number of milliseconds"],
    ["600h", "Cannot use --timeout '600h': it must be at most 596h"],
  ];
  for (const [text, message] of err) {
    test(`err: '${text}'`, () => {
      let thrown: unknown;
      try {
        durationOption(text, "--timeout", 60_000);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(UsageError);
      expect((thrown as UsageError).message).toBe(message);
      expect((thrown as UsageError).hint).toBe("e.g. --timeout 30s or --timeout 2m (a bare number is seconds)");
    });
  }
});
