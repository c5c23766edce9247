/**
 * Merges one device's database (the cached copy) into the central database,
 * in one transaction per device.
 *
 * Central table `<t>` = `device_id TEXT NOT NULL`, the union of the columns
 * `<t>` has on the devices (declared types as first seen), and `_rowid` for
 * tables without a declared primary key; its primary key is `(device_id,
 * <the table's primary key>)`, or `(device_id, _rowid)`. For each device:
 * every row is upserted (only rows that differ are rewritten), rows the
 * device no longer has are deleted, and a table the device no longer has
 * loses that device's rows.
 *
 * Schema drift (docs/AGGREGATE.md):
 * - a column some devices have: added to the central table
 *   (`ALTER TABLE ADD COLUMN`); rows of devices without it hold NULL there;
 * - a table some devices lack: those devices simply have no rows in it;
 * - a table whose primary key differs from the central one's, or with a
 *   column named `device_id` or `_rowid`: not merged for that device; the
 *   device's earlier rows stay as they were and the result names the table
 *   and the reason (never a crash, never a silent drop).
 *
 * @module
 */

import type { SqlConnection } from "../platform/sqlite.ts";

/** What merging one device did. */
export interface MergeResult {
  readonly tables: readonly { readonly table: string; readonly upserted: number; readonly deleted: number }[];
  readonly skipped: readonly { readonly table: string; readonly reason: string }[];
  /** Columns this device brought that the central table lacked: added (`ALTER TABLE ADD COLUMN`). */
  readonly added: readonly { readonly table: string; readonly columns: readonly string[] }[];
}

interface Column {
  readonly name: string;
  readonly type: string;
  readonly pk: number;
}

const BOOKKEEPING = "_litefleet_aggregate";
const KEYS = "_litefleet_aggregate_tables";

/** Creates the central bookkeeping tables (idempotent). */
export function initCentral(central: SqlConnection): void {
  central.exec(
    `CREATE TABLE IF NOT EXISTS ${BOOKKEEPING} (device_id TEXT PRIMARY KEY, txid TEXT NOT NULL, merged_at INTEGER NOT NULL, exported_txid TEXT);` +
      `CREATE TABLE IF NOT EXISTS ${KEYS} (table_name TEXT PRIMARY KEY, key TEXT NOT NULL);`,
  );
}

/** The TXID last merged for `device`, if any. */
export function mergedTxid(central: SqlConnection, device: string): string | undefined {
  return central.get<{ txid: string }>(`SELECT txid FROM ${BOOKKEEPING} WHERE device_id = ?`, device)?.txid;
}

/** The TXID of `device` last exported to Parquet, if any. */
export function exportedTxid(central: SqlConnection, device: string): string | undefined {
  return (
    central.get<{ exported_txid: string | null }>(
      `SELECT exported_txid FROM ${BOOKKEEPING} WHERE device_id = ?`,
      device,
    )?.exported_txid ?? undefined
  );
}

/** Records that `device` at `txid` was exported to Parquet. */
export function recordExport(central: SqlConnection, device: string, txid: string): void {
  central.run(`UPDATE ${BOOKKEEPING} SET exported_txid = ? WHERE device_id = ?`, txid, device);
}

/** The user tables of the central database (for export). */
export function centralTables(central: SqlConnection): string[] {
  return central
    .all<{ table_name: string }>(`SELECT table_name FROM ${KEYS} ORDER BY table_name`)
    .map((r) => r.table_name);
}

/**
 * Merges the database at `devicePath` as `device` at `txid`; `tables`
 * limits the tables (default: every user table).
 * @throws {Error} from SQLite when the central database cannot be written (the transaction is rolled back)
 */
export function mergeDevice(
  central: SqlConnection,
  devicePath: string,
  device: string,
  options: { txid: string; tables?: readonly string[] },
): MergeResult {
  central.run("ATTACH DATABASE ? AS dev", devicePath);
  try {
    central.exec("BEGIN IMMEDIATE");
    try {
      const result = mergeAttached(central, device, options.tables);
      central.run(
        `INSERT INTO ${BOOKKEEPING} (device_id, txid, merged_at) VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET txid = excluded.txid, merged_at = excluded.merged_at`,
        device,
        options.txid,
        Date.now(),
      );
      central.exec("COMMIT");
      return result;
    } catch (err) {
      central.exec("ROLLBACK");
      throw err;
    }
  } finally {
    central.exec("DETACH DATABASE dev");
  }
}

function mergeAttached(central: SqlConnection, device: string, only: readonly string[] | undefined): MergeResult {
  const tables: { table: string; upserted: number; deleted: number }[] = [];
  const skipped: { table: string; reason: string }[] = [];
  const added: { table: string; columns: string[] }[] = [];
  const deviceTables = central
    .all<{ name: string }>(
      "SELECT name FROM dev.sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' " +
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_litefleet%' ESCAPE '\\' ORDER BY name",
    )
    .map((r) => r.name)
    .filter((t) => only === undefined || only.includes(t));
  for (const table of deviceTables) {
    const columns = central.all<Column>(`SELECT name, type, pk FROM pragma_table_info(?, 'dev')`, table);
    const problem = mergeTable(central, device, table, columns, { tables, added });
    if (problem) skipped.push({ table, reason: problem });
  }
  // Tables the device no longer has (or never had): it has no rows there.
  for (const table of centralTables(central)) {
    if (deviceTables.includes(table) || (only !== undefined && !only.includes(table))) continue;
    const deleted = central.run(`DELETE FROM main.${q(table)} WHERE device_id = ?`, device);
    if (deleted > 0) tables.push({ table, upserted: 0, deleted });
  }
  return { tables, skipped, added };
}

/** Merges one table; returns why it was skipped, or undefined. */
function mergeTable(
  central: SqlConnection,
  device: string,
  table: string,
  columns: readonly Column[],
  out: {
    tables: { table: string; upserted: number; deleted: number }[];
    added: { table: string; columns: string[] }[];
  },
): string | undefined {
  if (columns.some((c) => c.name === "device_id" || c.name === "_rowid")) {
    return "it has a column named 'device_id' or '_rowid', which the central table uses itself";
  }
  const pk = columns
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  const key = pk.length === 0 ? ["_rowid"] : pk;
  const recorded = central.get<{ key: string }>(`SELECT key FROM ${KEYS} WHERE table_name = ?`, table)?.key;
  if (recorded === undefined) {
    const defs = [
      `"device_id" TEXT NOT NULL`,
      ...columns.map((c) => `${q(c.name)} ${c.type}`.trim()),
      ...(pk.length === 0 ? [`"_rowid" INTEGER`] : []),
    ];
    central.exec(
      `CREATE TABLE main.${q(table)} (${defs.join(", ")}, PRIMARY KEY ("device_id", ${key.map(q).join(", ")}))`,
    );
    central.run(`INSERT INTO ${KEYS} (table_name, key) VALUES (?, ?)`, table, JSON.stringify(key));
  } else if (recorded !== JSON.stringify(key)) {
    return `its primary key (${key.join(", ")}) differs from the central table's (${(JSON.parse(recorded) as string[]).join(", ")})`;
  }
  const centralColumns = central
    .all<{ name: string }>(`SELECT name FROM pragma_table_info(?, 'main')`, table)
    .map((c) => c.name);
  const newColumns: string[] = [];
  for (const c of columns) {
    if (!centralColumns.includes(c.name)) {
      central.exec(`ALTER TABLE main.${q(table)} ADD COLUMN ${q(c.name)} ${c.type}`.trim());
      centralColumns.push(c.name);
      newColumns.push(c.name);
    }
  }
  // A table created just now is not drift: only columns added to an existing one are.
  if (recorded !== undefined && newColumns.length > 0) out.added.push({ table, columns: newColumns });
  // Every central column is written: the device's value, or NULL for a column it lacks.
  const data = centralColumns.filter((c) => c !== "device_id" && c !== "_rowid");
  const has = new Set(columns.map((c) => c.name));
  const target = ["device_id", ...data, ...(pk.length === 0 ? ["_rowid"] : [])];
  const source = [
    "?",
    ...data.map((c) => (has.has(c) ? `d.${q(c)}` : "NULL")),
    ...(pk.length === 0 ? ["d.rowid"] : []),
  ];
  const nonKey = data.filter((c) => !key.includes(c));
  const update =
    nonKey.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${nonKey.map((c) => `${q(c)} = excluded.${q(c)}`).join(", ")} WHERE ${nonKey.map((c) => `main.${q(table)}.${q(c)} IS NOT excluded.${q(c)}`).join(" OR ")}`;
  const upserted = central.run(
    `INSERT INTO main.${q(table)} (${target.map(q).join(", ")}) SELECT ${source.join(", ")} FROM dev.${q(table)} AS d WHERE true ` +
      `ON CONFLICT ("device_id", ${key.map(q).join(", ")}) ${update}`,
    device,
  );
  const match =
    pk.length === 0
      ? `d.rowid = main.${q(table)}."_rowid"`
      : pk.map((c) => `d.${q(c)} IS main.${q(table)}.${q(c)}`).join(" AND ");
  const deleted = central.run(
    `DELETE FROM main.${q(table)} WHERE device_id = ? AND NOT EXISTS (SELECT 1 FROM dev.${q(table)} AS d WHERE ${match})`,
    device,
  );
  out.tables.push({ table, upserted, deleted });
  return undefined;
}

/** Quotes an identifier. */
function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
