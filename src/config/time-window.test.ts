import { describe, expect, test } from "bun:test";
import { formatTimeWindow, parseTimeWindow } from "./time-window.ts";
import type { TimeWindow } from "./schema.ts";

describe("parseTimeWindow", () => {
  const ok: [string, TimeWindow][] = [
    ["01:30-05:00", { start: 90, end: 300 }],
    ["22:00-04:00", { start: 1320, end: 240 }],
    ["00:00-24:00", { start: 0, end: 1440 }],
    ["23:59-00:00", { start: 1439, end: 0 }],
    ["9:05-17:30", { start: 545, end: 1050 }],
    [" 08:00 - 12:00 ", { start: 480, end: 720 }],
  ];
  for (const [text, want] of ok) {
    test(`ok: parseTimeWindow('${text}')`, () => {
      expect(parseTimeWindow(text)).toEqual(want);
    });
  }

  const err: [string, ErrorConstructor, string][] = [
    [
      "22:00",
      SyntaxError,
      "Cannot parse time window '22:00': expected 'HH:MM-HH:MM' on a 24-hour clock (e.g. '22:00-04:00')",
    ],
    ["10pm-4am", SyntaxError, "Cannot parse time window '10pm-4am': expected 'HH:MM-HH:MM'"],
    ["22:0-04:00", SyntaxError, "Cannot parse time window '22:0-04:00': expected 'HH:MM-HH:MM'"],
    ["", SyntaxError, "Cannot parse time window '': expected 'HH:MM-HH:MM'"],
    [
      "25:00-01:00",
      RangeError,
      "Cannot parse time window '25:00-01:00': '25:00' is not a time of day (00:00 to 23:59, or 24:00 as an end)",
    ],
    ["01:60-02:00", RangeError, "Cannot parse time window '01:60-02:00': '01:60' is not a time of day"],
    ["01:00-24:30", RangeError, "Cannot parse time window '01:00-24:30': '24:30' is not a time of day"],
    ["24:00-06:00", RangeError, "Cannot parse time window '24:00-06:00': the start must be 00:00 to 23:59"],
    [
      "04:00-04:00",
      RangeError,
      "Cannot parse time window '04:00-04:00': the start equals the end (write '00:00-24:00' for the whole day)",
    ],
    ["00:00-00:00", RangeError, "Cannot parse time window '00:00-00:00': the start equals the end"],
  ];
  for (const [text, type, message] of err) {
    test(`err: parseTimeWindow('${text}') throws ${type.name}`, () => {
      expect(() => parseTimeWindow(text)).toThrow(type);
      expect(() => parseTimeWindow(text)).toThrow(message);
    });
  }
});

describe("formatTimeWindow", () => {
  test("formatTimeWindow() round-trips through parseTimeWindow()", () => {
    for (const text of ["01:30-05:00", "22:00-04:00", "00:00-24:00", "23:59-00:00"]) {
      expect(formatTimeWindow(parseTimeWindow(text))).toBe(text);
    }
  });
});
