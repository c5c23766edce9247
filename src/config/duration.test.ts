import { describe, expect, test } from "bun:test";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  const ok: [string | number, number][] = [
    ["0", 0],
    [0, 0],
    ["500ms", 500],
    ["1s", 1000],
    ["1m30s", 90_000],
    ["24h", 86_400_000],
    ["1.5h", 5_400_000],
    ["1.5s", 1500],
    [".5s", 500],
    ["1h1m1s1ms", 3_661_001],
    ["2000000ns", 2],
    ["1000us", 1],
    ["1000µs", 1],
    [" 10s ", 10_000],
    ["+10s", 10_000],
    ["0s", 0],
  ];
  for (const [input, want] of ok) {
    test(`ok: ${JSON.stringify(input)} is ${want}ms`, () => {
      expect(parseDuration(input)).toBe(want);
    });
  }

  const err: [string | number, ErrorConstructor, string][] = [
    [10, TypeError, "Cannot parse duration '10': a unit is required (e.g. '10s' or '10ms')"],
    ["10", SyntaxError, "Cannot parse duration '10': a unit is required (e.g. '10s' or '10ms')"],
    ["", SyntaxError, "Cannot parse duration '': the value is empty"],
    ["-1s", RangeError, "Cannot parse duration '-1s': durations must not be negative"],
    [
      "7d",
      SyntaxError,
      "Cannot parse duration '7d': unknown unit 'd'; use ns, us, ms, s, m or h (use hours, e.g. '168h' for 7 days)",
    ],
    [
      "10S",
      SyntaxError,
      "Cannot parse duration '10S': unknown unit 'S'; use ns, us, ms, s, m or h (units are lowercase: 's')",
    ],
    ["1ns", RangeError, "Cannot parse duration '1ns': durations must be a whole number of milliseconds"],
    ["1.0001s", RangeError, "Cannot parse duration '1.0001s': durations must be a whole number of milliseconds"],
    ["s", SyntaxError, "Cannot parse duration 's': expected a number followed by a unit (e.g. '10s', '1m30s')"],
    [
      "10s 5m",
      SyntaxError,
      "Cannot parse duration '10s 5m': expected a number followed by a unit (e.g. '10s', '1m30s')",
    ],
    ["99999999999999999h", RangeError, "Cannot parse duration '99999999999999999h': the duration is too large"],
  ];
  for (const [input, type, message] of err) {
    test(`err: ${JSON.stringify(input)}`, () => {
      expect(() => parseDuration(input)).toThrow(type);
      expect(() => parseDuration(input)).toThrow(message);
    });
  }
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [1, "1ms"],
    [500, "500ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [1050, "1.05s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [86_400_000, "24h"],
    [3_600_500, "1h0.5s"],
    [-1000, "-1s"],
  ];
  for (const [ms, want] of cases) {
    test(`formatDuration(${ms}) is '${want}'`, () => {
      expect(formatDuration(ms)).toBe(want);
    });
  }

  test("formatDuration() output parses back to the same value", () => {
    for (const ms of [0, 1, 999, 1000, 1001, 59_999, 61_000, 3_599_999, 3_600_001, 86_400_000, 123_456_789]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  test("formatDuration() rejects non-integers", () => {
    expect(() => formatDuration(1.5)).toThrow(RangeError);
  });
});
