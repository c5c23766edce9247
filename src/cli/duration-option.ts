/**
 * Duration options of the command line (`sync --timeout`, `fleet send
 * --timeout` / `--ttl`, `fleet status --wait`): one rule for all of them.
 *
 * @module
 */

import { parseDuration } from "../config/duration.ts";
import { errorMessage, UsageError } from "../errors.ts";

/** The longest a timer can wait (`setTimeout`, `AbortSignal.timeout`): 2^31 - 1 ms, about 596 hours. */
const MAX_MS = 2 ** 31 - 1;

/**
 * Parses a duration option: a duration as in the config (`30s`, `2m`,
 * `1m30s`, `500ms`), or a bare number of seconds (`300`, `2.5`), the form
 * `sync --timeout` first took.
 *
 * @example
 * ```ts
 * durationOption("2m", "--timeout", 60_000); // 120_000
 * durationOption("300", "--timeout", 60_000); // 300_000
 * durationOption(undefined, "--timeout", 60_000); // 60_000
 * ```
 *
 * @param text the option's value, `undefined` when it was not given
 * @param flag the option's name, for messages (`--timeout`)
 * @param fallback the default in milliseconds
 * @returns milliseconds
 * @throws {UsageError} naming the option and what is wrong with the value
 */
export function durationOption(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const hint = `e.g. ${flag} 30s or ${flag} 2m (a bare number is seconds)`;
  let ms: number;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text.trim()) ? `${text.trim()}s` : text);
  } catch (err) {
    const reason = errorMessage(err).replace(/^Cannot parse duration '.*?': /s, "");
    throw new UsageError(`Cannot parse ${flag} '${text}': ${reason}`, hint);
  }
  if (ms > MAX_MS) throw new UsageError(`Cannot use ${flag} '${text}': it must be at most 596h`, hint);
  return ms;
}
