/**
 * `litefleet databases`: lists the configured databases and their replicas,
 * and each directory entry with the databases it matches now (each with the
 * replica URL it gets: the entry's, plus its path relative to the directory).
 *
 * @module
 */

import { findDirDatabases } from "../agent/dir-watcher.ts";
import { dirDbConfig } from "../config/dir-entry.ts";
import type { DbConfig } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { table } from "./text-table.ts";
import { describeSpec } from "./replicate.ts";

/** Runs `databases`; returns the exit code. */
export function runDatabases(io: CliIo, options: { config?: string; json?: boolean }): number {
  const config = loadConfig(io, options.config);
  if (!config)
    throw new UsageError("Cannot list databases: no config file", "pass --config FILE or set LITEFLEET_CONFIG");
  const replicasOf = (d: DbConfig) => d.replicas.map((r) => ({ name: r.name, url: describeSpec(r.spec) }));
  const dirs = config.dirs.map((entry) => ({
    entry,
    dbs: findDirDatabases(entry).map((path) => dirDbConfig(entry, path)),
  }));
  if (options.json) {
    io.stdout(
      `${JSON.stringify(
        config.dbs
          .map((d): Record<string, unknown> => ({ path: d.path, replicas: replicasOf(d) }))
          .concat(
            dirs.map(({ entry, dbs }) => ({
              dir: entry.dir,
              pattern: entry.pattern,
              recursive: entry.recursive,
              watch: entry.watch,
              matches: dbs.map((d) => ({ path: d.path, replicas: replicasOf(d) })),
            })),
          ),
      )}\n`,
    );
    return ExitCode.ok;
  }
  const rows = [["path", "replica", "url"]];
  const addRows = (d: DbConfig) => {
    if (d.replicas.length === 0) rows.push([d.path, "-", "-"]);
    for (const r of d.replicas) rows.push([d.path, r.name, describeSpec(r.spec)]);
  };
  for (const d of config.dbs) addRows(d);
  for (const { entry, dbs } of dirs) {
    const how = [entry.recursive ? "recursive" : "", entry.watch ? "watched" : ""].filter(Boolean).join(", ");
    rows.push([
      `${entry.dir}/${entry.pattern}`,
      "(dir)",
      `${dbs.length} match${dbs.length === 1 ? "" : "es"}${how ? ` (${how})` : ""}`,
    ]);
    for (const d of dbs) addRows(d);
  }
  io.stdout(table(rows));
  return ExitCode.ok;
}
