import { describe, expect, test } from "bun:test";
import { HistoryParamError, parseLongDuration, parseSince } from "./history-params.ts";

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);

describe("parseSince()", () => {
  test("a duration back from now, Unix ms, RFC 3339 with Z or an offset and fractions", () => {
    expect(parseSince("1h", NOW)).toBe(NOW - 3_600_000);
    expect(parseSince("2d", NOW)).toBe(NOW - 2 * 86_400_000);
    expect(parseSince("1764590400000", NOW)).toBe(1_764_590_400_000);
    expect(parseSince("2026-12-01T10:00:00Z", NOW)).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseSince("2026-12-01T12:00:00+02:00", NOW)).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseSince("2026-12-01 10:00:00.250z", NOW)).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 250));
    expect(parseSince("2024-02-29T00:00:00Z", NOW)).toBe(Date.UTC(2024, 1, 29));
  });

  test("refuses dates that do not exist and times without a zone, instead of moving or guessing them", () => {
    for (const text of [
      "2026-02-30T00:00:00Z",
      "2025-02-29T00:00:00Z",
      "2026-12-01T24:00:00Z",
      "2026-12-01T10:60:00Z",
      "2026-12-01T00:00",
      "2026-12-01T00:00:00",
    ])
      expect(() => parseSince(text, NOW), text).toThrow(`Cannot parse since '${text}': not an RFC 3339 time`);
    expect(() => parseSince("yesterday", NOW)).toThrow(HistoryParamError);
  });
});

describe("parseLongDuration()", () => {
  test("whole days first, then what durations take; the message says that", () => {
    expect(parseLongDuration("7d", "--history-retention")).toBe(7 * 86_400_000);
    expect(parseLongDuration("1d12h", "--history-retention")).toBe(36 * 3_600_000);
    expect(parseLongDuration("36h", "--history-retention")).toBe(36 * 3_600_000);
    for (const text of ["1.5d", "1d1d", "", "7 days"])
      expect(() => parseLongDuration(text, "--history-retention"), text).toThrow(
        `Cannot parse --history-retention '${text}': use whole days first, then hours, minutes or seconds (7d, 1d12h, 36h, 90m)`,
      );
  });
});
