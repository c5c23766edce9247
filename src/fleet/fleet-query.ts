/**
 * What an operator asks of the fleet view, the same in `fleet status` and
 * the dashboard (docs/FLEET.md "Fleet views"): the problems-first order,
 * the filters (`--state`, `--lag-over`, `--search`, `--version` on the
 * command line; `state`, `lag-over`, `search`, `version` in the page's URL
 * and in `/api/devices?…`), and the one-line fleet summary.
 *
 * Order: devices by the worst state among their rows (the order of
 * {@linkcode FLEET_STATES}), then by device id (code-unit order); the rows
 * of a device (one per database) by state, then by path. It is a total
 * order on (device, database), so sorting is stable: an update moves only
 * the rows whose state changed.
 *
 * Filters keep rows (databases), never parts of them; a device is listed
 * when one of its rows is kept, with only the kept rows. Every given filter
 * must match (and); a list in one filter (`--state error,offline`) is any of
 * them (or).
 *
 * Pure: no I/O, no clock (callers pass `now`).
 *
 * @module
 */

import { parseDuration } from "../config/duration.ts";
import { FLEET_STATES, isFleetState, stateRank, worstState, type DeviceHealth } from "./device-health.ts";
import type { DbRow, DeviceView } from "./fleet-view.ts";

/** Which rows to show; null fields do not filter. */
export interface FleetFilter {
  /** Rows in one of these states. */
  readonly states: readonly DeviceHealth[] | null;
  /** Rows whose database lags more than this (ms); rows without a database never match. */
  readonly lagOverMs: number | null;
  /** Rows whose device id or database path contains this, ignoring case. */
  readonly search: string | null;
  /** Devices whose agent version is one of these, or starts with one and then `.`, `-` or `+` (`0.9` matches `0.9.2`). */
  readonly versions: readonly string[] | null;
}

/** The filter that keeps everything. */
export const NO_FILTER: FleetFilter = { states: null, lagOverMs: null, search: null, versions: null };

/** A filter value that cannot be used; the message names the parameter and the value. */
export class FilterError extends RangeError {
  override name = "FilterError";
}

/** The raw filter values, as the command line or a URL gives them (empty strings do not filter). */
export interface FilterInput {
  readonly state?: string | undefined;
  readonly lagOver?: string | undefined;
  readonly search?: string | undefined;
  readonly version?: string | undefined;
}

/** The URL query parameter of each filter. */
export const FILTER_PARAMS = { state: "state", lagOver: "lag-over", search: "search", version: "version" } as const;

/**
 * Parses filter values. `state` and `version` take comma-separated lists;
 * `lagOver` a duration (`90s`, `15m`, `1h30m`, or a bare number of seconds).
 *
 * @throws {FilterError} naming the parameter, the value and what is accepted
 */
export function parseFilter(input: FilterInput): FleetFilter {
  const list = (text: string | undefined) =>
    text === undefined
      ? []
      : text
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "");
  const states = list(input.state);
  for (const s of states) {
    if (!isFleetState(s))
      throw new FilterError(`Cannot filter by state '${s}': use one or more of ${FLEET_STATES.join(", ")}`);
  }
  const versions = list(input.version).map(normalizeVersion);
  const search = input.search?.trim() ?? "";
  return {
    states: states.length === 0 ? null : [...new Set(states as DeviceHealth[])],
    lagOverMs: parseLag(input.lagOver),
    search: search === "" ? null : search,
    versions: versions.length === 0 ? null : versions,
  };
}

/**
 * Parses the filter parameters of a URL query (`state`, `lag-over`,
 * `search`, `version`); other parameters are ignored.
 *
 * @throws {FilterError} as {@linkcode parseFilter}
 */
export function filterFromQuery(params: URLSearchParams): FleetFilter {
  const get = (name: string) => params.get(name) ?? undefined;
  return parseFilter({
    state: get(FILTER_PARAMS.state),
    lagOver: get(FILTER_PARAMS.lagOver),
    search: get(FILTER_PARAMS.search),
    version: get(FILTER_PARAMS.version),
  });
}

/** Whether `filter` keeps everything. */
export function isNoFilter(filter: FleetFilter): boolean {
  return filter.states === null && filter.lagOverMs === null && filter.search === null && filter.versions === null;
}

function parseLag(text: string | undefined): number | null {
  const t = text?.trim() ?? "";
  if (t === "") return null;
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(t) ? `${t}s` : t);
  } catch (err) {
    const reason = (err as Error).message.replace(/^Cannot parse duration '.*?': /s, "");
    throw new FilterError(`Cannot filter by lag-over '${t}': ${reason}`);
  }
}

/** "litefleet/0.9.1" and "v0.9.1" read as "0.9.1". */
function normalizeVersion(version: string): string {
  return version.replace(/^litefleet\//i, "").replace(/^v(?=\d)/i, "");
}

function versionMatches(agent: string | null, versions: readonly string[]): boolean {
  if (agent === null) return false;
  const a = normalizeVersion(agent);
  return versions.some((v) => a === v || (a.startsWith(v) && /^[.+-]/.test(a.slice(v.length))));
}

/** Whether `row` of `device` passes `filter`. */
export function rowMatches(device: DeviceView, row: DbRow, filter: FleetFilter): boolean {
  if (filter.states !== null && !filter.states.includes(row.state)) return false;
  if (filter.lagOverMs !== null && (row.lagMs === null || row.lagMs <= filter.lagOverMs)) return false;
  if (filter.versions !== null && !versionMatches(device.agent, filter.versions)) return false;
  if (filter.search !== null) {
    const needle = filter.search.toLowerCase();
    if (!device.device.toLowerCase().includes(needle) && !(row.db ?? "").toLowerCase().includes(needle)) return false;
  }
  return true;
}

/** `device` with only the rows `filter` keeps, or undefined when it keeps none. */
export function filterDevice(device: DeviceView, filter: FleetFilter): DeviceView | undefined {
  if (isNoFilter(filter)) return device;
  const rows = device.rows.filter((r) => rowMatches(device, r, filter));
  if (rows.length === 0) return undefined;
  return rows.length === device.rows.length ? device : { ...device, rows };
}

/** The devices (and rows) `filter` keeps, problems first (see the module documentation). */
export function filterDevices(devices: Iterable<DeviceView>, filter: FleetFilter): DeviceView[] {
  const kept: DeviceView[] = [];
  for (const d of devices) {
    const f = filterDevice(d, filter);
    if (f !== undefined) kept.push(f);
  }
  return kept.sort(compareDevices);
}

/** The worst state among the rows of `device` (its own state when it lists all of them). */
export function shownState(device: DeviceView): DeviceHealth {
  return worstState(
    device.rows.map((r) => r.state),
    device.state,
  );
}

/** The order of the module documentation, for devices. */
export function compareDevices(a: DeviceView, b: DeviceView): number {
  return stateRank(shownState(a)) - stateRank(shownState(b)) || compareText(a.device, b.device);
}

/** The order of the module documentation, for the rows of one device. */
export function compareRows(a: DbRow, b: DbRow): number {
  return stateRank(a.state) - stateRank(b.state) || compareText(a.db ?? "", b.db ?? "");
}

/** Code-unit order, the same in every JavaScript engine and locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The fleet in one line's worth of numbers (docs/FLEET.md "Fleet summary"). */
export interface FleetSummary {
  /** When it was computed (ms): the `now` the ages count from. */
  readonly at: number;
  readonly devices: number;
  /** Databases listed by the devices (rows with a database). */
  readonly databases: number;
  /** Rows of the views: the databases, plus one per device that lists none. */
  readonly rows: number;
  /** Devices per device state, every state present (0 when none). */
  readonly states: Readonly<Record<DeviceHealth, number>>;
  /** Databases per database state, every state present. */
  readonly dbStates: Readonly<Record<DeviceHealth, number>>;
  /** The largest data age (`at − dataAt`) and its device, or null when no device has data. */
  readonly oldestData: { readonly device: string; readonly ageMs: number } | null;
  /** Devices without any known data (first seen offline, no telemetry retained). */
  readonly noData: number;
  /**
   * The sum over every device, database and replica of its last reported
   * `projectedPerMonth`; `devices`: how many devices reported one (agents
   * before issue #15 do not).
   */
  readonly projectedPerMonth: { readonly requests: number; readonly bytes: number; readonly devices: number };
}

/** Computes the {@linkcode FleetSummary} of `devices` at `now`. */
export function fleetSummary(devices: Iterable<DeviceView>, now: number): FleetSummary {
  const states = zeroCounts();
  const dbStates = zeroCounts();
  let count = 0;
  let databases = 0;
  let rows = 0;
  let noData = 0;
  let oldest: { device: string; ageMs: number } | null = null;
  let requests = 0;
  let bytes = 0;
  let reporting = 0;
  for (const d of devices) {
    count++;
    states[d.state]++;
    rows += d.rows.length;
    for (const r of d.rows) {
      if (r.db === null) continue;
      databases++;
      dbStates[r.state]++;
    }
    if (d.dataAt === null) noData++;
    else {
      const ageMs = Math.max(0, now - d.dataAt);
      if (oldest === null || ageMs > oldest.ageMs || (ageMs === oldest.ageMs && d.device < oldest.device))
        oldest = { device: d.device, ageMs };
    }
    if (d.projectedPerMonth !== null) {
      reporting++;
      requests += d.projectedPerMonth.requests;
      bytes += d.projectedPerMonth.bytes;
    }
  }
  return {
    at: now,
    devices: count,
    databases,
    rows,
    states,
    dbStates,
    oldestData: oldest,
    noData,
    projectedPerMonth: { requests, bytes, devices: reporting },
  };
}

function zeroCounts(): Record<DeviceHealth, number> {
  return Object.fromEntries(FLEET_STATES.map((s) => [s, 0])) as Record<DeviceHealth, number>;
}

/**
 * The summary as one line:
 * `3 devices, 4 databases: 1 error · 1 offline · 1 ok · oldest data 2 h (gw-02) · S3 per month: 12,960 requests, 40 MiB (2 of 3 devices report)`.
 * States with no device are left out; `ok` always shows.
 */
export function formatSummary(s: FleetSummary, formatAge: (ms: number) => string): string {
  const parts = FLEET_STATES.filter((state) => s.states[state] > 0 || state === "ok").map(
    (state) => `${s.states[state]} ${state}`,
  );
  const plural = (n: number, one: string) => `${group(n)} ${one}${n === 1 ? "" : "s"}`;
  const oldest =
    s.oldestData === null ? "no data yet" : `oldest data ${formatAge(s.oldestData.ageMs)} (${s.oldestData.device})`;
  const p = s.projectedPerMonth;
  const cost =
    p.devices === 0
      ? "S3 per month: unknown (no device reports it)"
      : `S3 per month: ${plural(p.requests, "request")}, ${group(Math.round(p.bytes / 1_048_576))} MiB${
          p.devices < s.devices ? ` (${group(p.devices)} of ${group(s.devices)} devices report)` : ""
        }`;
  return `${plural(s.devices, "device")}, ${plural(s.databases, "database")}: ${parts.join(" \u00b7 ")} \u00b7 ${oldest} \u00b7 ${cost}`;
}

/** 1234567 → "1,234,567" (the same in every locale). */
function group(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
