/**
 * `litefleet version`.
 *
 * @module
 */

import pkg from "../../package.json" with { type: "json" };
import { sqliteVersion } from "../platform/sqlite.ts";
import { ExitCode, type CliIo } from "./io.ts";

/** The agent version from package.json. */
export const VERSION: string = pkg.version;

/** Runs `version`. */
export function runVersion(io: CliIo): number {
  io.stdout(`litefleet ${VERSION} (sqlite ${sqliteVersion()}, ${process.platform}-${process.arch})\n`);
  return ExitCode.ok;
}
