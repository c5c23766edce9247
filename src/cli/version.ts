/**
 * `litefleet version`, and the build information a compiled binary carries.
 *
 * @module
 */

import pkg from "../../package.json" with { type: "json" };
import { sqliteVersion } from "../platform/sqlite.ts";
import { ExitCode, type CliIo } from "./io.ts";

/** What a build says about itself. */
export interface BuildInfo {
  /** Package version, e.g. "0.1.0". */
  readonly version: string;
  /** Short git commit (e.g. "1a2b3c4" or "1a2b3c4-dirty"); "dev" when run from source. */
  readonly commit: string;
  /** Compile target (e.g. "linux-arm64"); "<platform>-<arch> (source)" when run from source. */
  readonly target: string;
}

// The LITEFLEET_* names are replaced by `bun build --define` (cross-compile/build.ts).
// From source they are not declared at all; `typeof` is the one read of an
// undeclared name that does not throw a ReferenceError.

/** The agent version: the one the binary was built with, else package.json's. */
export const VERSION: string = typeof LITEFLEET_VERSION === "undefined" ? pkg.version : LITEFLEET_VERSION;

/** This build's version, commit and target. */
export const BUILD_INFO: BuildInfo = {
  version: VERSION,
  commit: typeof LITEFLEET_COMMIT === "undefined" ? "dev" : LITEFLEET_COMMIT,
  target: typeof LITEFLEET_TARGET === "undefined" ? `${process.platform}-${process.arch} (source)` : LITEFLEET_TARGET,
};

/**
 * Formats the `version` line.
 *
 * @example
 * ```ts
 * formatVersion({ version: "0.1.0", commit: "1a2b3c4", target: "linux-arm64" }, "3.54.1");
 * // "litefleet 0.1.0 (commit 1a2b3c4, linux-arm64, sqlite 3.54.1)"
 * ```
 */
export function formatVersion(info: BuildInfo, sqlite: string): string {
  return `litefleet ${info.version} (commit ${info.commit}, ${info.target}, sqlite ${sqlite})`;
}

/** {@linkcode formatVersion} of this build and the linked SQLite: what `version` and `--version` print. */
export function versionLine(): string {
  return formatVersion(BUILD_INFO, sqliteVersion());
}

/** Runs `version`: prints {@linkcode versionLine}. */
export function runVersion(io: CliIo): number {
  io.stdout(`${versionLine()}\n`);
  return ExitCode.ok;
}
