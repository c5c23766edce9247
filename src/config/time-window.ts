/**
 * Daily time windows written as `"HH:MM-HH:MM"` (local time, 24-hour clock),
 * the form of the `windows:` config key.
 *
 * @module
 */

import type { TimeWindow } from "./schema.ts";

const WINDOW = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/;

/** Minutes in a day; also the largest `end` (`24:00`). */
export const MINUTES_PER_DAY = 24 * 60;

/**
 * Parses a daily time window.
 *
 * The start is `00:00`..`23:59`; the end is `00:00`..`24:00` and is
 * exclusive. An end earlier than the start wraps past midnight
 * (`"22:00-04:00"`); `"00:00-24:00"` is the whole day. A window whose start
 * equals its end is rejected, because it could mean either nothing or the
 * whole day.
 *
 * @example
 * ```ts
 * parseTimeWindow("22:00-04:00"); // { start: 1320, end: 240 }
 * parseTimeWindow("00:00-24:00"); // { start: 0, end: 1440 }
 * ```
 *
 * @param text the window, e.g. `"01:30-05:00"`
 * @returns start and end in minutes since local midnight
 * @throws {SyntaxError} when the text is not `HH:MM-HH:MM`
 * @throws {RangeError} for an hour or minute out of range, a start of
 * `24:00`, or a start equal to the end
 */
export function parseTimeWindow(text: string): TimeWindow {
  const m = WINDOW.exec(text.trim());
  if (m === null) {
    throw new SyntaxError(
      `Cannot parse time window '${text}': expected 'HH:MM-HH:MM' on a 24-hour clock (e.g. '22:00-04:00')`,
    );
  }
  const start = minutes(text, m[1] ?? "", m[2] ?? "");
  const end = minutes(text, m[3] ?? "", m[4] ?? "");
  if (start === MINUTES_PER_DAY) {
    throw new RangeError(`Cannot parse time window '${text}': the start must be 00:00 to 23:59`);
  }
  if (start === end) {
    throw new RangeError(
      `Cannot parse time window '${text}': the start equals the end (write '00:00-24:00' for the whole day)`,
    );
  }
  return { start, end };
}

/**
 * Formats a window as {@linkcode parseTimeWindow} reads it.
 *
 * @example
 * ```ts
 * formatTimeWindow({ start: 1320, end: 240 }); // "22:00-04:00"
 * ```
 *
 * @param window start and end in minutes since midnight
 * @returns the window as `HH:MM-HH:MM`
 */
export function formatTimeWindow(window: TimeWindow): string {
  return `${clock(window.start)}-${clock(window.end)}`;
}

function minutes(text: string, hh: string, mm: string): number {
  const hours = Number(hh);
  const mins = Number(mm);
  if (hours > 24 || mins > 59 || (hours === 24 && mins !== 0)) {
    throw new RangeError(
      `Cannot parse time window '${text}': '${hh}:${mm}' is not a time of day (00:00 to 23:59, or 24:00 as an end)`,
    );
  }
  return hours * 60 + mins;
}

function clock(minutesOfDay: number): string {
  const hh = String(Math.floor(minutesOfDay / 60)).padStart(2, "0");
  const mm = String(minutesOfDay % 60).padStart(2, "0");
  return `${hh}:${mm}`;
}
