/**
 * Finds and reads the config file for a command: `--config`, else
 * `$LITEFLEET_CONFIG`, else `/etc/litefleet.yml` (only when it exists).
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseConfig } from "../config/parse.ts";
import type { Config, OperatorConfig } from "../config/schema.ts";
import { ConfigError, systemErrorText } from "../errors.ts";
import { defaultDeviceId } from "../platform/device-id.ts";
import type { CliIo } from "./io.ts";

/** The system-wide default config path. */
export const DEFAULT_CONFIG_PATH = "/etc/litefleet.yml";

/**
 * Loads the config named by `--config` / `$LITEFLEET_CONFIG` / the default.
 * Returns `undefined` when none was named and the default does not exist.
 * `mode` is who reads it (`parseConfig`): the agent by default; the
 * operator's fleet commands pass `"operator"`, which needs no
 * `mqtt.state-dir`.
 * @throws {ConfigError} when the named file is missing or invalid
 */
export function loadConfig(io: CliIo, explicit: string | undefined, mode?: "agent"): Config | undefined;
export function loadConfig(io: CliIo, explicit: string | undefined, mode: "operator"): OperatorConfig | undefined;
export function loadConfig(
  io: CliIo,
  explicit: string | undefined,
  mode: "agent" | "operator" = "agent",
): OperatorConfig | undefined {
  const named = explicit ?? io.env.LITEFLEET_CONFIG;
  const path = resolve(io.cwd, named ?? DEFAULT_CONFIG_PATH);
  if (named === undefined && !existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`Cannot read config file '${path}': ${unreadableWhy(err)}`, { field: "", cause: err });
  }
  try {
    return parseConfig(text, { env: io.env, cwd: io.cwd, deviceId: deviceId(io), configPath: path, mode });
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`${err.message} (in '${path}')`, { field: err.field, cause: err });
    }
    throw err;
  }
}

/** Why a config file cannot be read, and what to do, e.g. "it does not exist (ENOENT): pass --config …". */
function unreadableWhy(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "it does not exist (ENOENT): pass --config with an existing file, or set LITEFLEET_CONFIG";
    case "EISDIR":
      return "it is a directory, not a file (EISDIR): pass the YAML file itself";
    case "EACCES":
    case "EPERM":
      return `permission denied (${code}): run as a user that may read it, or give that user read access`;
    default:
      return systemErrorText(err);
  }
}

/** The fallback device id: `$DEVICE_ID`, else machine id / host name. */
export function deviceId(io: CliIo): string {
  return io.env.DEVICE_ID ?? defaultDeviceId();
}
