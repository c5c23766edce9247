/**
 * Which devices a fleet-wide command goes to (`litefleet fleet send
 * --select …`, docs/FLEET.md "Fleet-wide commands"), judged on the same
 * `DeviceView` (state from `device-health.ts`) that `fleet status` shows.
 *
 * A selector is one or more clauses `key=value`, separated by spaces (or
 * given as several `--select` options); every clause must hold. A value may
 * list alternatives separated by commas, one of which must hold:
 *
 * | clause | a device matches when |
 * |---|---|
 * | `state=error,offline` | a database row is in one of these states (`FLEET_STATES`) |
 * | `version=0.9,0.1.1` | its agent version is one of them or a patch of one (`0.9` matches `0.9.2`) |
 * | `lag-over=30m` | a database's lag is over the duration (`30m`, `2h`, `90s`) |
 * | `search=gw-` | its id or a database path contains the text (ignoring case) |
 *
 * The clauses are `fleet status`'s filters (`--state`, `--version`,
 * `--lag-over`, `--search`, `fleet-query.ts`), so `fleet send --select`
 * reaches exactly the devices `fleet status` lists with the same filters.
 *
 * Devices publish no tags, so there is no tag clause.
 *
 * An explicit device list (`--devices a,b` or a file of ids) is combined
 * with a selector by intersection; alone it selects exactly those devices,
 * known to the view or not (a device that is offline without a retained
 * status still gets the command, and no reply).
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { checkTopicId } from "../protocol/topics.ts";
import { FilterError, filterDevice, parseFilter, type FilterInput, type FleetFilter } from "./fleet-query.ts";
import type { DeviceView } from "./fleet-view.ts";

/** The selector keys, and the `fleet status` filter each one is. */
const KEYS = { state: "state", version: "version", "lag-over": "lagOver", search: "search" } as const;

/** A parsed selector: `fleet status`'s filter; every present field must hold. */
export type Selector = FleetFilter;

/** A selector text that does not parse; the message names the clause and what is allowed. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/**
 * Parses selector texts (each one or more space-separated clauses).
 * @throws {SelectorError} naming the bad clause: unknown key, no value, a key given twice, an unknown state, a bad duration
 */
export function parseSelector(texts: readonly string[]): Selector {
  const input: { -readonly [K in keyof FilterInput]: FilterInput[K] } = {};
  const clauses = texts.flatMap((t) => t.split(/\s+/)).filter((c) => c !== "");
  if (clauses.length === 0) throw new SelectorError("Cannot parse selector: it is empty (e.g. 'state=error')");
  for (const clause of clauses) {
    const eq = clause.indexOf("=");
    const key = eq < 0 ? clause : clause.slice(0, eq);
    const value = eq < 0 ? "" : clause.slice(eq + 1);
    if (!Object.hasOwn(KEYS, key))
      throw new SelectorError(
        `Cannot parse selector clause '${clause}': the key must be one of ${Object.keys(KEYS).join(", ")}`,
      );
    const field = KEYS[key as keyof typeof KEYS];
    if (value.split(",").every((v) => v.trim() === ""))
      throw new SelectorError(`Cannot parse selector clause '${clause}': it has no value`);
    if (input[field] !== undefined)
      throw new SelectorError(
        `Cannot parse selector: '${key}' is given twice (list alternatives in one clause: ${key}=a,b)`,
      );
    input[field] = value;
  }
  try {
    return parseFilter(input);
  } catch (err) {
    if (err instanceof FilterError) throw new SelectorError(`Cannot parse selector: ${errorMessage(err)}`);
    throw err;
  }
}

/** True when `view` satisfies every clause of `selector` (one of its rows passes the filter). */
export function matches(selector: Selector, view: DeviceView): boolean {
  return filterDevice(view, selector) !== undefined;
}

/**
 * Parses an explicit device list: ids separated by commas, spaces or
 * newlines; `#` starts a comment to the end of its line (for files).
 * Duplicates are dropped, the first order kept.
 * @throws {SelectorError} naming an id that cannot be a device id
 */
export function parseDeviceList(text: string): string[] {
  const ids = text
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .flatMap((line) => line.split(/[\s,]+/))
    .filter((id) => id !== "");
  for (const id of ids) {
    try {
      checkTopicId(id, "device id");
    } catch (err) {
      throw new SelectorError(errorMessage(err));
    }
  }
  return [...new Set(ids)];
}

/**
 * The device ids a fleet-wide command goes to: the devices of `views` that
 * match `selector` (in the order of `views`), limited to `devices` when
 * given; `devices` alone selects exactly those, in their order.
 */
export function selectDevices(
  views: readonly DeviceView[],
  options: { selector?: Selector; devices?: readonly string[] },
): string[] {
  const { selector, devices } = options;
  if (selector === undefined) return [...(devices ?? views.map((v) => v.device))];
  const wanted = devices === undefined ? undefined : new Set(devices);
  return views
    .filter((v) => (wanted === undefined || wanted.has(v.device)) && matches(selector, v))
    .map((v) => v.device);
}
