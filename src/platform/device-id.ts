/**
 * The default device id: `/etc/machine-id`, else the host name.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/** Returns the machine id, or the host name when there is none. */
export function defaultDeviceId(machineIdPath = "/etc/machine-id"): string {
  try {
    const id = readFileSync(machineIdPath, "utf8").trim();
    if (/^[0-9a-f]{32}$/i.test(id)) return id;
  } catch {
    // no machine-id on this system: fall through to the host name
  }
  return hostname();
}
