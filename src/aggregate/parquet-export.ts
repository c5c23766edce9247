/**
 * Exports one device's rows of the central database as Parquet, one file per
 * table: `device_id=<device>/<table>/part-00000.parquet` (hive partitioning;
 * the `device_id` column is not stored, readers derive it from the path).
 *
 * ## Column types
 *
 * Each column's Parquet type is chosen per file from the declared type's
 * SQLite affinity and the storage classes its values actually have for this
 * device (`typeof()`):
 *
 * | Declared type (affinity rule)        | Parquet type                  | Fits when the values are          |
 * |--------------------------------------|-------------------------------|-----------------------------------|
 * | contains `INT` (INTEGER)             | INT64                         | integers                          |
 * | contains `CHAR`, `CLOB`, `TEXT`      | STRING (UTF-8 BYTE_ARRAY)     | text                              |
 * | contains `BLOB`, or none             | by values: BYTE_ARRAY, STRING, INT64, DOUBLE, first that fits | one storage class; integers with reals only when every integer is exact as a double |
 * | contains `REAL`, `FLOA`, `DOUB`      | DOUBLE                        | reals, and integers within ±2^53  |
 * | anything else (NUMERIC)              | DOUBLE                        | reals, and integers within ±2^53  |
 *
 * NULL is a Parquet null; every column is OPTIONAL. When the values do not
 * fit (text in an INTEGER column from a drifted device, an integer beyond
 * ±2^53 in a NUMERIC column, a blob in a TEXT column), that column becomes
 * STRING in that file only, every value converted losslessly: text as is,
 * integers as exact decimal text, reals as the shortest decimal that reads
 * back as the same double (`String(n)`, with `.0` appended to integral values
 * so they read as reals), blobs as upper-case hex as SQLite's `hex()` prints
 * them. The central database stays the record of which stored class a value
 * had. A column's type can therefore differ between devices' files; read
 * them together with DuckDB's `union_by_name = true`, and give the partition
 * column its type (`hive_types = {'device_id': VARCHAR}`) so that numeric
 * device ids stay text.
 *
 * Integers are read as text (`CAST(x AS TEXT)`) and converted to `bigint`,
 * because `SqlConnection` returns integers as JavaScript numbers, which are
 * exact only up to 2^53.
 *
 * ## Reading and memory
 *
 * Rows are read and encoded `ROW_GROUP_ROWS` at a time, each batch one
 * Parquet row group, so a large table is never all in memory as rows. The
 * encoded (compressed) file is held in memory until it is handed to the
 * sink whole. Batches are pages (`LIMIT`/`OFFSET`) in the order of the
 * central primary key after `device_id`, then rowid: the order of the
 * table's `(device_id, …)` primary key index, so no page is sorted, but each
 * skips the earlier ones in the index. For a million rows of one device in
 * one table that costs about 2 s more than a single pass; it grows with the
 * square of the row count. Keyset paging on the key would be one pass, but
 * it skips rows whose key holds a NULL (legal in a rowid table's key) and
 * needs the last key bound back exactly, which `SqlConnection` cannot do for
 * blobs; a row iterator on `SqlConnection` would make it one pass.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { ByteWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from "hyparquet-writer";
import { errorMessage } from "../errors.ts";
import { openSqlConnection, type SqlConnection } from "../platform/sqlite.ts";
import { deviceDir, pathSegment, type ParquetSink } from "./parquet-sink.ts";

/** Rows per SQLite batch and per Parquet row group. */
export const ROW_GROUP_ROWS = 32_768;

/** The one file each table of a device is written to. */
const PART_FILE = "part-00000.parquet";

/** Tables that hold litefleet's or SQLite's own bookkeeping, never exported. */
const INTERNAL_TABLE = /^(_litefleet|sqlite_)/i;

/** What `exportDevice` wrote. */
export interface ExportResult {
  /** Parquet files written (tables with at least one row for the device). */
  readonly files: number;
  /** Rows written, over all files. */
  readonly rows: number;
  /** Bytes written, over all files. */
  readonly bytes: number;
}

/**
 * Replaces the export of `deviceId`: checks every table, deletes the
 * device's files from `sink` (`removeDevice`), then writes the device's rows
 * (`WHERE device_id = ?`) of each table to
 * `device_id=<deviceId>/<table>/part-00000.parquet`, skipping tables where it
 * has no rows. All tables are read in one read transaction, so the files
 * show one snapshot of the central database. A failure part way leaves the
 * device's export incomplete until the next `exportDevice` for it.
 *
 * @example
 * ```ts
 * const sink = createParquetSink("/srv/lake", { cwd: "/", env: {} });
 * const { files, rows } = await exportDevice("/srv/central.db", "edge-1", ["readings", "events"], sink);
 * ```
 *
 * @param central path of the central database (opened read-only)
 * @param deviceId the device whose rows are exported
 * @param tables the merged tables to export
 * @param sink where the files go
 * @returns the number of files, rows and bytes written
 * @throws {TypeError} when the device id or a table name cannot be a path segment (`pathSegment`)
 * @throws {RangeError} when a table is litefleet or SQLite bookkeeping (`_litefleet*`, `sqlite_*`)
 * @throws {Error} when the database cannot be opened, or a table is missing,
 * has no `device_id` column or is a WITHOUT ROWID table; nothing is deleted then
 */
export async function exportDevice(
  central: string,
  deviceId: string,
  tables: readonly string[],
  sink: ParquetSink,
): Promise<ExportResult> {
  const dir = deviceDir(deviceId);
  let db: SqlConnection;
  try {
    db = openSqlConnection(central, { readonly: true });
  } catch (cause) {
    throw new Error(`Cannot open central database '${central}': ${errorMessage(cause)}`, { cause });
  }
  try {
    // One read transaction: OFFSET pages see the same rows, and all files one snapshot.
    db.exec("BEGIN");
    const described = tables.map((table) => describeTable(db, central, table));
    await sink.removeDevice(deviceId);
    let files = 0;
    let rows = 0;
    let bytes = 0;
    for (const table of described) {
      const file = await encodeTable(db, table, deviceId);
      if (file === undefined) continue;
      await sink.write(`${dir}/${table.name}/${PART_FILE}`, file.bytes);
      files++;
      rows += file.rows;
      bytes += file.bytes.byteLength;
    }
    return { files, rows, bytes };
  } finally {
    // Closing ends the read transaction.
    db.close();
  }
}

/** SQLite column affinity, from the declared type. */
type Affinity = "INTEGER" | "TEXT" | "BLOB" | "REAL" | "NUMERIC";

/** The Parquet types an export uses. */
type ParquetType = "INT64" | "DOUBLE" | "STRING" | "BYTE_ARRAY";

/** A central table, checked. */
interface TableInfo {
  readonly name: string;
  /** Columns after `device_id`, in table order. */
  readonly columns: readonly { readonly name: string; readonly affinity: Affinity }[];
  /** `ORDER BY` terms giving a total order: the primary key after `device_id`, then the rowid. */
  readonly order: string;
}

function describeTable(db: SqlConnection, central: string, table: string): TableInfo {
  if (INTERNAL_TABLE.test(table)) {
    throw new RangeError(
      `Cannot export table '${table}': tables starting with '_litefleet' or 'sqlite_' are bookkeeping, not device data`,
    );
  }
  pathSegment("table name", table);
  const what = `table '${table}' of central database '${central}'`;
  const kind = db.get<{ type: string; wr: number }>(
    "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?",
    table,
  );
  if (kind === undefined || kind.type !== "table") throw new Error(`Cannot export ${what}: no such table`);
  if (kind.wr !== 0) throw new Error(`Cannot export ${what}: it is a WITHOUT ROWID table`);

  const all = db.all<{ name: string; type: string; pk: number }>(
    "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid",
    table,
  );
  if (!all.some((c) => c.name === "device_id")) throw new Error(`Cannot export ${what}: it has no 'device_id' column`);
  const names = new Set(all.map((c) => c.name.toLowerCase()));
  // A device column may be called `rowid`; then only an unshadowed alias names the real rowid.
  const rowid = ["rowid", "_rowid_", "oid"].find((alias) => !names.has(alias));
  if (rowid === undefined) {
    throw new Error(`Cannot export ${what}: columns named 'rowid', '_rowid_' and 'oid' hide its rowid`);
  }
  const key = all.filter((c) => c.pk > 0 && c.name !== "device_id").sort((a, b) => a.pk - b.pk);
  return {
    name: table,
    columns: all.filter((c) => c.name !== "device_id").map((c) => ({ name: c.name, affinity: affinityOf(c.type) })),
    // A legacy rowid table may hold NULLs in its key; the rowid breaks those ties.
    order: [...key.map((c) => quoteIdentifier(c.name)), rowid].join(", "),
  };
}

/** SQLite's affinity rules, in their order (https://sqlite.org/datatype3.html, 3.1). */
function affinityOf(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes("INT")) return "INTEGER";
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return "TEXT";
  if (t === "" || t.includes("BLOB")) return "BLOB";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "REAL";
  return "NUMERIC";
}

/** Storage classes seen in a column, as bits. */
const SAFE_INTEGER = 1; // within ±2^53, exact as a double
const BIG_INTEGER = 2;
const REAL = 4;
const TEXT = 8;
const BLOB = 16;

/** The storage classes each Parquet type holds without loss. */
const HOLDS: Readonly<Record<ParquetType, number>> = {
  INT64: SAFE_INTEGER | BIG_INTEGER,
  DOUBLE: SAFE_INTEGER | REAL,
  STRING: TEXT,
  BYTE_ARRAY: BLOB,
};

/** The Parquet types tried for each affinity, in order; STRING with conversion when none fits. */
const CANDIDATES: Readonly<Record<Affinity, readonly ParquetType[]>> = {
  INTEGER: ["INT64"],
  TEXT: ["STRING"],
  BLOB: ["BYTE_ARRAY", "STRING", "INT64", "DOUBLE"],
  REAL: ["DOUBLE"],
  NUMERIC: ["DOUBLE"],
};

/**
 * A SQL expression giving the storage classes of column `q` as bits. Each
 * class is a distinct power of two, so the sum of the distinct codes is
 * their bitwise OR; NULL when there are no non-NULL values.
 */
function classesExpression(q: string): string {
  return `sum(DISTINCT CASE typeof(${q})
    WHEN 'integer' THEN CASE WHEN ${q} BETWEEN -9007199254740992 AND 9007199254740992 THEN ${SAFE_INTEGER} ELSE ${BIG_INTEGER} END
    WHEN 'real' THEN ${REAL} WHEN 'text' THEN ${TEXT} WHEN 'blob' THEN ${BLOB} END)`;
}

/** How one column is read from SQLite and written to Parquet. */
interface ColumnPlan {
  readonly name: string;
  readonly type: ParquetType;
  /** The SQL expression selected for the column. */
  readonly select: string;
  /** Turns a selected value into the value written. */
  readonly convert: (value: unknown) => unknown;
}

function planColumn(name: string, affinity: Affinity, classes: number): ColumnPlan {
  const q = quoteIdentifier(name);
  const type = CANDIDATES[affinity].find((t) => (classes & ~HOLDS[t]) === 0);
  switch (type) {
    case "INT64":
      return { name, type, select: `CAST(${q} AS TEXT)`, convert: (v) => (v === null ? null : BigInt(v as string)) };
    case "DOUBLE":
    case "STRING":
    case "BYTE_ARRAY":
      return { name, type, select: q, convert: (v) => v };
    case undefined:
      return {
        name,
        type: "STRING",
        select: `CASE WHEN typeof(${q}) = 'integer' THEN CAST(${q} AS TEXT) ELSE ${q} END`,
        convert: toText,
      };
  }
}

/** Lossless text for a value of a column that fell back to STRING (see the module doc). */
function toText(value: unknown): string | null {
  if (typeof value === "number") {
    const text = String(value);
    return /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex").toUpperCase();
  }
  return value as string | null;
}

/** Encodes the device's rows of one table; undefined when it has none. */
async function encodeTable(
  db: SqlConnection,
  table: TableInfo,
  deviceId: string,
): Promise<{ bytes: Uint8Array; rows: number } | undefined> {
  const from = `FROM ${quoteIdentifier(table.name)} WHERE device_id = ?`;
  const profile = db.get<Record<string, number | null>>(
    `SELECT count(*) AS n${table.columns.map((c, i) => `, ${classesExpression(quoteIdentifier(c.name))} AS p${i}`).join("")} ${from}`,
    deviceId,
  );
  if (profile === undefined || profile["n"] === 0) return undefined;
  const plans = table.columns.map((c, i) => planColumn(c.name, c.affinity, profile[`p${i}`] ?? 0));

  const writer = new ByteWriter();
  const parquet = new ParquetWriter({
    writer,
    schema: schemaFromColumnData({
      columnData: plans.map((p) => ({ name: p.name, data: [], type: p.type, nullable: true })),
    }),
  });
  const page = `SELECT ${plans.map((p, i) => `${p.select} AS c${i}`).join(", ")} ${from} ORDER BY ${table.order} LIMIT ${ROW_GROUP_ROWS} OFFSET ?`;
  let rows = 0;
  for (;;) {
    const batch = db.all<Record<string, unknown>>(page, deviceId, rows);
    if (batch.length === 0) break;
    const columnData: ColumnSource[] = plans.map((p, i) => ({
      name: p.name,
      data: batch.map((row) => p.convert(row[`c${i}`] ?? null)),
    }));
    await parquet.write({ columnData, rowGroupSize: batch.length });
    rows += batch.length;
    if (batch.length < ROW_GROUP_ROWS) break;
  }
  await parquet.finish();
  return { bytes: writer.getBytes(), rows };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
