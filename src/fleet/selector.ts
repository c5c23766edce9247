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
 * | `state=error,offline` | its state is one of them (`starting`, `ok`, `degraded`, `error`, `offline`) |
 * | `version=0.1.0,0.1.1` | its agent version is one of them (`-` matches a device that reported none) |
 * | `lag-over=30m` | a database's lag is over the duration (`30m`, `2h`, `90s`) |
 * | `search=gw-,lab` | its id, agent version, a database path or a problem contains one of them (ignoring case) |
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

import { parseDuration } from "../config/duration.ts";
import { errorMessage } from "../errors.ts";
import { checkTopicId } from "../protocol/topics.ts";
import type { DeviceHealth } from "./device-health.ts";
import type { DeviceView } from "./fleet-view.ts";

/** Every device state; a `Record` so that a new state fails to compile here until it is selectable. */
const STATES: Readonly<Record<DeviceHealth, true>> = {
  starting: true,
  ok: true,
  degraded: true,
  error: true,
  offline: true,
};

const KEYS = ["state", "version", "lag-over", "search"] as const;

/** A parsed selector: every present field must hold. */
export interface Selector {
  readonly states?: ReadonlySet<DeviceHealth>;
  readonly versions?: ReadonlySet<string>;
  /** A database lag over this many ms. */
  readonly lagOverMs?: number;
  /** Lower-cased needles; one must be contained. */
  readonly search?: readonly string[];
}

/** A selector text that does not parse; the message names the clause and what is allowed. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/**
 * Parses selector texts (each one or more space-separated clauses).
 * @throws {SelectorError} naming the bad clause: unknown key, no value, a key given twice, an unknown state, a bad duration
 */
export function parseSelector(texts: readonly string[]): Selector {
  const out: { -readonly [K in keyof Selector]: Selector[K] } = {};
  const seen = new Set<string>();
  const clauses = texts.flatMap((t) => t.split(/\s+/)).filter((c) => c !== "");
  if (clauses.length === 0) throw new SelectorError("Cannot parse selector: it is empty (e.g. 'state=error')");
  for (const clause of clauses) {
    const eq = clause.indexOf("=");
    const key = eq < 0 ? clause : clause.slice(0, eq);
    const values = (eq < 0 ? "" : clause.slice(eq + 1)).split(",").filter((v) => v !== "");
    if (!(KEYS as readonly string[]).includes(key))
      throw new SelectorError(`Cannot parse selector clause '${clause}': the key must be one of ${KEYS.join(", ")}`);
    if (values.length === 0) throw new SelectorError(`Cannot parse selector clause '${clause}': it has no value`);
    if (seen.has(key))
      throw new SelectorError(
        `Cannot parse selector: '${key}' is given twice (list alternatives in one clause: ${key}=a,b)`,
      );
    seen.add(key);
    switch (key) {
      case "state": {
        const unknown = values.filter((v) => !Object.hasOwn(STATES, v));
        if (unknown.length > 0)
          throw new SelectorError(
            `Cannot parse selector clause '${clause}': unknown state '${unknown[0]}' (states: ${Object.keys(STATES).join(", ")})`,
          );
        out.states = new Set(values as DeviceHealth[]);
        break;
      }
      case "version":
        out.versions = new Set(values);
        break;
      case "lag-over":
        if (values.length > 1)
          throw new SelectorError(`Cannot parse selector clause '${clause}': 'lag-over' takes one duration`);
        try {
          out.lagOverMs = parseDuration(values[0] as string);
        } catch (err) {
          throw new SelectorError(`Cannot parse selector clause '${clause}': ${errorMessage(err)}`);
        }
        break;
      default:
        out.search = values.map((v) => v.toLowerCase());
    }
  }
  return out;
}

/** What a selector reads of a device's view. */
export type SelectableDevice = Pick<DeviceView, "device" | "state" | "agent" | "dbs" | "problems">;

/** True when `view` satisfies every clause of `selector`. */
export function matches(selector: Selector, view: SelectableDevice): boolean {
  if (selector.states && !selector.states.has(view.state)) return false;
  if (selector.versions && !selector.versions.has(view.agent ?? "-")) return false;
  if (selector.lagOverMs !== undefined && !view.dbs.some((db) => db.lagMs > (selector.lagOverMs as number)))
    return false;
  if (selector.search) {
    const haystack = [view.device, view.agent ?? "", ...view.dbs.map((db) => db.path), ...view.problems].map((s) =>
      s.toLowerCase(),
    );
    if (!selector.search.some((needle) => haystack.some((s) => s.includes(needle)))) return false;
  }
  return true;
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
  views: readonly SelectableDevice[],
  options: { selector?: Selector; devices?: readonly string[] },
): string[] {
  const { selector, devices } = options;
  if (selector === undefined) return [...(devices ?? views.map((v) => v.device))];
  const wanted = devices === undefined ? undefined : new Set(devices);
  return views
    .filter((v) => (wanted === undefined || wanted.has(v.device)) && matches(selector, v))
    .map((v) => v.device);
}
