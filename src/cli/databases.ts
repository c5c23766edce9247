/**
 * `litefleet databases`: lists the configured databases and their replicas.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { table } from "./ltx.ts";
import { describeSpec } from "./replicate.ts";

/** Runs `databases`; returns the exit code. */
export function runDatabases(io: CliIo, options: { config?: string; json?: boolean }): number {
  const config = loadConfig(io, options.config);
  if (!config)
    throw new UsageError("Cannot list databases: no config file", "pass --config FILE or set LITEFLEET_CONFIG");
  if (options.json) {
    io.stdout(
      `${JSON.stringify(
        config.dbs.map((d) => ({
          path: d.path,
          replicas: d.replicas.map((r) => ({ name: r.name, url: describeSpec(r.spec) })),
        })),
      )}\n`,
    );
    return ExitCode.ok;
  }
  const rows = [["path", "replica", "url"]];
  for (const d of config.dbs) {
    if (d.replicas.length === 0) rows.push([d.path, "-", "-"]);
    for (const r of d.replicas) rows.push([d.path, r.name, describeSpec(r.spec)]);
  }
  io.stdout(table(rows));
  return ExitCode.ok;
}
