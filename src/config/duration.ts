/**
 * Go-style duration strings ("500ms", "1s", "1m30s", "1.5h"), the form
 * Litestream configs use. Durations are returned as whole milliseconds.
 *
 * @module
 */

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign, as Go accepts
  μs: 1_000n, // U+03BC Greek mu, as Go accepts
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const NS_PER_MS = 1_000_000n;

/** One `<number><unit>` component: whole part, optional fraction, unit. */
const COMPONENT = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/i;

/**
 * Parses a Go-style duration into milliseconds.
 *
 * Accepts a sequence of `<number><unit>` components with units `ns`, `us`
 * (`µs`), `ms`, `s`, `m`, `h` ("1h30m", "1.5s", "250ms"), or `"0"` / `0`.
 * A bare number other than zero is rejected rather than guessed at, because
 * a reader cannot tell whether `10` means seconds or milliseconds.
 *
 * @example
 * ```ts
 * parseDuration("1m30s"); // 90_000
 * parseDuration("1.5h"); // 5_400_000
 * parseDuration(0); // 0
 * ```
 *
 * @param text the duration, e.g. `"10s"`
 * @returns the duration in whole milliseconds
 * @throws {TypeError} for a number other than 0 or a non-string value
 * @throws {SyntaxError} for text that is not a duration (missing unit, unknown unit)
 * @throws {RangeError} for a negative duration, one that is not a whole number of
 * milliseconds, or one too large to represent
 */
export function parseDuration(text: string | number): number {
  if (typeof text === "number") {
    if (text === 0) return 0;
    throw new TypeError(`Cannot parse duration '${text}': a unit is required (e.g. '${text}s' or '${text}ms')`);
  }
  if (typeof text !== "string") {
    throw new TypeError(`Cannot parse duration: expected a string, received ${typeof text}`);
  }
  const s = text.trim();
  if (s === "") throw new SyntaxError("Cannot parse duration '': the value is empty");
  if (s === "0" || s === "+0" || s === "-0") return 0;
  if (s.startsWith("-")) {
    throw new RangeError(`Cannot parse duration '${text}': durations must not be negative`);
  }
  let rest = s.startsWith("+") ? s.slice(1) : s;
  if (/^\d+(\.\d*)?$/.test(rest)) {
    throw new SyntaxError(`Cannot parse duration '${text}': a unit is required (e.g. '${rest}s' or '${rest}ms')`);
  }
  let totalNs = 0n;
  while (rest !== "") {
    const m = COMPONENT.exec(rest);
    const whole = m?.[1] ?? "";
    const frac = m?.[2] ?? "";
    const unit = m?.[3] ?? "";
    if (m === null || (whole === "" && frac === "")) {
      throw new SyntaxError(
        `Cannot parse duration '${text}': expected a number followed by a unit (e.g. '10s', '1m30s')`,
      );
    }
    const nsPerUnit = NS_PER_UNIT[unit];
    if (nsPerUnit === undefined) {
      const hint =
        unit === "d"
          ? " (use hours, e.g. '168h' for 7 days)"
          : NS_PER_UNIT[unit.toLowerCase()] !== undefined
            ? ` (units are lowercase: '${unit.toLowerCase()}')`
            : "";
      throw new SyntaxError(
        `Cannot parse duration '${text}': unknown unit '${unit}'; use ns, us, ms, s, m or h${hint}`,
      );
    }
    totalNs += BigInt(whole === "" ? "0" : whole) * nsPerUnit;
    if (frac !== "") {
      const scale = 10n ** BigInt(frac.length);
      const fracNs = BigInt(frac) * nsPerUnit;
      if (fracNs % scale !== 0n) {
        throw new RangeError(`Cannot parse duration '${text}': durations must be a whole number of milliseconds`);
      }
      totalNs += fracNs / scale;
    }
    rest = rest.slice(m[0].length);
  }
  if (totalNs % NS_PER_MS !== 0n) {
    throw new RangeError(`Cannot parse duration '${text}': durations must be a whole number of milliseconds`);
  }
  const ms = totalNs / NS_PER_MS;
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Cannot parse duration '${text}': the duration is too large`);
  }
  return Number(ms);
}

/**
 * Formats milliseconds as a compact Go-style duration that
 * {@linkcode parseDuration} reads back to the same value: `0s`, `500ms`,
 * `1.5s`, `1m30s`, `24h`.
 *
 * @example
 * ```ts
 * formatDuration(90_000); // "1m30s"
 * formatDuration(86_400_000); // "24h"
 * ```
 *
 * @param ms a duration in milliseconds
 * @returns the formatted duration
 * @throws {RangeError} when `ms` is not a finite integer
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms)) {
    throw new RangeError(`Cannot format duration ${ms}: expected an integer number of milliseconds`);
  }
  if (ms === 0) return "0s";
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const millis = ms % 60_000;
  let out = "";
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (millis > 0) {
    const seconds = Math.floor(millis / 1000);
    const frac = millis % 1000;
    out += frac === 0 ? `${seconds}s` : `${seconds}.${String(frac).padStart(3, "0").replace(/0+$/, "")}s`;
  }
  return out;
}
