/**
 * The parameters of a history read, one rule for `/api/history` and
 * `fleet history`: `since` is a duration back from now (`1h`, `2d`), an
 * RFC 3339 time, or Unix ms; `limit` a whole number 1-10,000 (default
 * 1,000); and the retention's duration, which also takes days (`7d`).
 *
 * @module
 */

import { parseDuration } from "../../config/duration.ts";
import { checkTopicId } from "../../protocol/topics.ts";
import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, type HistoryQuery } from "./history-store.ts";

/** A history parameter is not usable; its message names the parameter and what is accepted. */
export class HistoryParamError extends RangeError {
  override name = "HistoryParamError";
}

/**
 * A duration that may start with days: `7d`, `1d12h`, `90m`, `0`.
 *
 * @throws {HistoryParamError} naming `name` and the value
 */
export function parseLongDuration(text: string, name: string): number {
  const m = /^\s*(?:(\d+)d)?(.*)$/.exec(text);
  const days = Number(m?.[1] ?? 0);
  const rest = (m?.[2] ?? "").trim();
  try {
    if (m?.[1] === undefined && rest === "") throw new SyntaxError("the value is empty");
    return days * 86_400_000 + (rest === "" ? 0 : parseDuration(rest));
  } catch {
    throw new HistoryParamError(
      `Cannot parse ${name} '${text}': use whole days first, then hours, minutes or seconds (7d, 1d12h, 36h, 90m)`,
    );
  }
}

/**
 * `since` as Unix ms: a duration back from `now`, an RFC 3339 time, or Unix ms (digits).
 *
 * @throws {HistoryParamError} for anything else
 */
export function parseSince(text: string, now: number, name = "since"): number {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s);
  if (/^\d{4}-\d\d-\d\d[Tt ]/.test(s)) {
    const t = parseRfc3339(s);
    if (t !== undefined) return t;
    throw new HistoryParamError(
      `Cannot parse ${name} '${text}': not an RFC 3339 time (a real date and time with Z or an offset, e.g. 2026-12-01T10:00:00Z)`,
    );
  }
  try {
    return now - parseLongDuration(s, name);
  } catch {
    throw new HistoryParamError(
      `Cannot parse ${name} '${text}': use a duration back from now (1h, 2d), an RFC 3339 time (2026-12-01T10:00:00Z) or Unix ms`,
    );
  }
}

/** Unix ms of an RFC 3339 time (`2026-12-01T10:00:00Z`, `…+02:00`, fractions), or undefined for anything else, such as February 30 or a time without a zone. */
function parseRfc3339(s: string): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  const t = Date.parse(s.replace(" ", "T"));
  return Number.isNaN(t) ? undefined : t;
}

/**
 * `limit`: a whole number 1-10,000.
 *
 * @throws {HistoryParamError} for anything else
 */
export function parseLimit(text: string, name = "limit"): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_LIMIT)
    throw new HistoryParamError(`Cannot parse ${name} '${text}': use a whole number from 1 to ${MAX_HISTORY_LIMIT}`);
  return n;
}

/**
 * The query of `/api/history?device=ID[&db=PATH][&since=…][&limit=N]`.
 *
 * @throws {HistoryParamError} for a missing or invalid device, or a bad `since` or `limit`
 */
export function historyQueryFromParams(params: URLSearchParams, now: number): HistoryQuery {
  const device = params.get("device");
  if (device === null || device === "")
    throw new HistoryParamError("Cannot read history: the 'device' parameter is required");
  try {
    checkTopicId(device, "device id");
  } catch (err) {
    throw new HistoryParamError(`Cannot read history: ${(err as Error).message}`);
  }
  const db = params.get("db");
  if (db === "")
    throw new HistoryParamError("Cannot read history: the 'db' parameter is empty (leave it out for the whole device)");
  const since = params.get("since");
  const limit = params.get("limit");
  return {
    device,
    ...(db !== null ? { db } : {}),
    ...(since !== null && since !== "" ? { since: parseSince(since, now) } : {}),
    limit: limit !== null && limit !== "" ? parseLimit(limit) : DEFAULT_HISTORY_LIMIT,
  };
}
