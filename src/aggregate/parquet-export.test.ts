import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { DuckDBBlobValue, DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { exportDevice, ROW_GROUP_ROWS } from "./parquet-export.ts";
import { createParquetSink, type ParquetSink } from "./parquet-sink.ts";

const TABLES = ["readings", "events"] as const;

/** 2^62 + 1: exact as an int64, not as a double. */
const NEAR_2_62 = 4611686018427387905n;

let instance: DuckDBInstance;
let duck: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  duck = await instance.connect();
});

afterAll(() => {
  duck.closeSync();
  instance.closeSync();
});

/**
 * A central database as `litefleet aggregate` lays it out: `readings` comes
 * from a device table with `id INTEGER PRIMARY KEY`, `events` from a rowid
 * table (hence `_rowid`); each keyed by `(device_id, <device key>)`. Device `1001` drifted: text and a real in INTEGER
 * columns, a blob in a TEXT column, an int64 beyond 2^53 in a NUMERIC column.
 * `edge-b` has no events.
 */
function buildCentral(path: string): void {
  const db = new Database(path, { create: true });
  db.exec(`
    CREATE TABLE readings (device_id TEXT NOT NULL, id INTEGER, temp REAL, label TEXT, raw BLOB, big INTEGER, qty INTEGER, extra,
      PRIMARY KEY (device_id, id));
    CREATE TABLE events (device_id TEXT NOT NULL, kind TEXT, payload BLOB, level NUMERIC, _rowid INTEGER,
      PRIMARY KEY (device_id, _rowid));
    CREATE TABLE _litefleet_aggregate (device_id TEXT PRIMARY KEY, txid INTEGER);
    INSERT INTO _litefleet_aggregate VALUES ('edge-a', 7), ('edge-b', 9), ('1001', 3);
  `);
  const reading = db.prepare("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
  reading.run("edge-a", 1, 21.5, "kitchen", bytes(0, 255, 16), NEAR_2_62, 3, null);
  reading.run("edge-b", 1, -0.125, "hall", bytes(), 9007199254740993n, 7, 42);
  reading.run("edge-a", 2, null, null, null, -9223372036854775808n, null, null);
  reading.run("1001", 1, 0.1, "über", bytes(0xde, 0xad, 0xbe, 0xef), 4611686018427387904n, "twelve", "abc");
  reading.run("edge-b", 3, 1e300, "x", null, null, 8, 43);
  reading.run("1001", 2, 2.5, bytes(0xab, 1), null, 5, 12, 7);
  reading.run("1001", 3, null, "y", null, null, 2.5, null);
  // A JS 3.0 would be bound as an integer; the drifted column needs a real.
  db.exec("UPDATE readings SET extra = 3.0 WHERE device_id = '1001' AND id = 3");
  const event = db.prepare("INSERT INTO events VALUES (?, ?, ?, ?, ?)");
  event.run("edge-a", "boot", bytes(1), 1, 1);
  event.run("1001", "boot", bytes(), 9223372036854775807n, 1);
  event.run("edge-a", "alarm", null, 2.5, 2);
  event.run("edge-a", "note", bytes(255), null, 3);
  db.close();
}

/** Runs a DuckDB query and returns its rows with blobs as `Uint8Array`. */
async function query(sql: string): Promise<{ names: string[]; types: string[]; rows: unknown[][] }> {
  const reader = await duck.runAndReadAll(sql);
  return {
    names: reader.columnNames(),
    types: reader.columnTypes().map(String),
    rows: reader.getRows().map((row) => row.map((v) => (v instanceof DuckDBBlobValue ? new Uint8Array(v.bytes) : v))),
  };
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `read_parquet` over a glob, reading the hive partition as text. */
function readParquet(glob: string, extra = ""): string {
  return `read_parquet(${literal(glob)}, hive_partitioning = true, hive_types = {'device_id': VARCHAR}${extra})`;
}

/** The rows of one device's file, in file order, with their DuckDB column types. */
async function readDeviceFile(
  dir: string,
  device: string,
  table: string,
): Promise<{ types: Record<string, string>; rows: Record<string, unknown>[] }> {
  const glob = join(dir, `device_id=${device}`, table, "*.parquet");
  const { names, types, rows } = await query(
    `SELECT * EXCLUDE (file_row_number) FROM ${readParquet(glob, ", file_row_number = true")} ORDER BY file_row_number`,
  );
  return {
    types: Object.fromEntries(names.map((n, i) => [n, types[i] ?? ""])),
    rows: rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]]))),
  };
}

/** The device's rows in the central database, in rowid order (here also key order), integers as bigint. */
function centralRows(path: string, table: string, device: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true, safeIntegers: true });
  try {
    return db.query(`SELECT * FROM "${table}" WHERE device_id = ? ORDER BY rowid`).all(device) as Record<
      string,
      unknown
    >[];
  } finally {
    db.close();
  }
}

/** What a central value must read back as from a Parquet column of `type` (see the module doc). */
function exported(value: unknown, type: string): unknown {
  if (value === null) return null;
  if (type === "VARCHAR") {
    if (typeof value === "bigint" || typeof value === "string") return String(value);
    if (typeof value === "number") return Number.isInteger(value) ? `${value}.0` : String(value);
    return Buffer.from(value as Uint8Array)
      .toString("hex")
      .toUpperCase();
  }
  if (type === "DOUBLE" && typeof value === "bigint") {
    expect(BigInt(Number(value))).toBe(value);
    return Number(value);
  }
  if (type === "BLOB") return new Uint8Array(value as Uint8Array);
  return value;
}

/** Every file under `dir`, relative, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** A file's bytes and identity, to tell an untouched file from a rewritten one. */
async function snapshot(path: string): Promise<{ bytes: Uint8Array; mtimeMs: number; ino: number }> {
  const s = await stat(path);
  return { bytes: new Uint8Array(await readFile(path)), mtimeMs: s.mtimeMs, ino: s.ino };
}

describe("exportDevice", () => {
  test("exportDevice() writes each device's tables as hive-partitioned Parquet that DuckDB reads back value for value", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const central = join(tmp.path, "central.db");
    buildCentral(central);
    const out = join(tmp.path, "lake");
    const sink = createParquetSink("lake", { cwd: tmp.path, env: {} });
    expect(sink.location).toBe(out);

    const results = [];
    for (const device of ["edge-a", "edge-b", "1001"]) results.push(await exportDevice(central, device, TABLES, sink));
    expect(results.map(({ files, rows }) => ({ files, rows }))).toEqual([
      { files: 2, rows: 5 },
      { files: 1, rows: 2 },
      { files: 2, rows: 4 },
    ]);
    const files = await listFiles(out);
    expect(files).toEqual([
      "device_id=1001/events/part-00000.parquet",
      "device_id=1001/readings/part-00000.parquet",
      "device_id=edge-a/events/part-00000.parquet",
      "device_id=edge-a/readings/part-00000.parquet",
      "device_id=edge-b/readings/part-00000.parquet",
    ]);
    const sizes = await Promise.all(files.map(async (f) => (await stat(join(out, f))).size));
    expect(results.reduce((n, r) => n + r.bytes, 0)).toBe(sizes.reduce((a, b) => a + b, 0));

    // All devices at once, as an analyst would read them.
    for (const table of TABLES) {
      const counts = await query(
        `SELECT device_id, count(*) FROM ${readParquet(join(out, "*", table, "*.parquet"), ", union_by_name = true")} GROUP BY ALL ORDER BY ALL`,
      );
      const expected = ["1001", "edge-a", "edge-b"]
        .map((d) => [d, BigInt(centralRows(central, table, d).length)])
        .filter(([, n]) => n !== 0n);
      expect(counts.rows).toEqual(expected);
    }

    // Per file: the chosen types, and every value against the central database.
    const expectedTypes: Record<string, Record<string, string>> = {
      "edge-a/readings": {
        id: "BIGINT",
        temp: "DOUBLE",
        label: "VARCHAR",
        raw: "BLOB",
        big: "BIGINT",
        qty: "BIGINT",
        extra: "BLOB",
      },
      "edge-b/readings": {
        id: "BIGINT",
        temp: "DOUBLE",
        label: "VARCHAR",
        raw: "BLOB",
        big: "BIGINT",
        qty: "BIGINT",
        extra: "BIGINT",
      },
      "1001/readings": {
        id: "BIGINT",
        temp: "DOUBLE",
        label: "VARCHAR",
        raw: "BLOB",
        big: "BIGINT",
        qty: "VARCHAR",
        extra: "VARCHAR",
      },
      "edge-a/events": { kind: "VARCHAR", payload: "BLOB", level: "DOUBLE", _rowid: "BIGINT" },
      "1001/events": { kind: "VARCHAR", payload: "BLOB", level: "VARCHAR", _rowid: "BIGINT" },
    };
    for (const [key, columns] of Object.entries(expectedTypes)) {
      const [device = "", table = ""] = key.split("/");
      const file = await readDeviceFile(out, device, table);
      expect({ key, types: file.types }).toEqual({ key, types: { ...columns, device_id: "VARCHAR" } });
      const expectedRows = centralRows(central, table, device).map((row) =>
        Object.fromEntries(Object.entries(row).map(([name, v]) => [name, exported(v, file.types[name] ?? "")])),
      );
      expect({ key, rows: file.rows }).toEqual({ key, rows: expectedRows });
    }

    // The lossless renderings, spelled out.
    const drifted = await readDeviceFile(out, "1001", "readings");
    expect(drifted.rows.map((r) => [r["label"], r["qty"], r["extra"], r["big"]])).toEqual([
      ["über", "twelve", "abc", 4611686018427387904n],
      ["AB01", "12", "7", 5n],
      ["y", "2.5", "3.0", null],
    ]);
    const a = await readDeviceFile(out, "edge-a", "readings");
    expect(a.rows.map((r) => r["big"])).toEqual([NEAR_2_62, -9223372036854775808n]);
    expect((await readDeviceFile(out, "1001", "events")).rows[0]?.["level"]).toBe("9223372036854775807");
  });

  test("exportDevice() again replaces that device's files only", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const central = join(tmp.path, "central.db");
    buildCentral(central);
    const out = join(tmp.path, "lake");
    const sink = createParquetSink(out, { cwd: "/", env: {} });
    for (const device of ["edge-a", "edge-b", "1001"]) await exportDevice(central, device, TABLES, sink);
    const others = [
      "device_id=1001/events/part-00000.parquet",
      "device_id=1001/readings/part-00000.parquet",
      "device_id=edge-b/readings/part-00000.parquet",
    ];
    const before = await Promise.all(others.map((f) => snapshot(join(out, f))));

    const db = new Database(central);
    db.exec(`
      DELETE FROM events WHERE device_id = 'edge-a';
      UPDATE readings SET label = 'pantry' WHERE device_id = 'edge-a' AND id = 1;
    `);
    db.close();
    expect(await exportDevice(central, "edge-a", TABLES, sink)).toMatchObject({ files: 1, rows: 2 });

    expect(await listFiles(out)).toEqual([
      "device_id=1001/events/part-00000.parquet",
      "device_id=1001/readings/part-00000.parquet",
      "device_id=edge-a/readings/part-00000.parquet",
      "device_id=edge-b/readings/part-00000.parquet",
    ]);
    expect(await Promise.all(others.map((f) => snapshot(join(out, f))))).toEqual(before);
    const a = await readDeviceFile(out, "edge-a", "readings");
    expect(a.rows.map((r) => r["label"])).toEqual(["pantry", null]);
  });

  test("exportDevice() pages through more rows than a row group, in key order, else rowid order", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const central = join(tmp.path, "central.db");
    const n = ROW_GROUP_ROWS * 2 + 5;
    const db = new Database(central, { create: true });
    // `loose` had its own `rowid` column on the device, so `rowid` in SQL means that column here.
    db.exec(`
      CREATE TABLE keyed (device_id TEXT NOT NULL, id INTEGER, v INTEGER, PRIMARY KEY (device_id, id));
      CREATE TABLE loose (device_id TEXT NOT NULL, rowid INTEGER, v INTEGER);
      CREATE TABLE pair (device_id TEXT NOT NULL, a INTEGER, b TEXT, PRIMARY KEY (device_id, b, a));
      INSERT INTO pair VALUES ('edge-a', 1, 'y'), ('edge-a', 2, 'x'), ('edge-a', 1, 'x'), ('edge-a', 0, 'z');
    `);
    const keyed = db.prepare("INSERT INTO keyed VALUES (?, ?, ?)");
    const loose = db.prepare("INSERT INTO loose VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= n; i++) {
        // 7919 is prime and does not divide n: ids 1..n in scrambled insertion order.
        const id = ((i * 7919) % n) + 1;
        keyed.run("edge-a", id, id * 2);
        loose.run("edge-a", n - i, i);
        if (i % 1000 === 0) keyed.run("edge-b", id, 0);
      }
    })();
    db.close();
    const out = join(tmp.path, "lake");

    const sink = createParquetSink(out, { cwd: "/", env: {} });
    const result = await exportDevice(central, "edge-a", ["keyed", "loose", "pair"], sink);

    expect(result).toMatchObject({ files: 3, rows: 2 * n + 4 });
    const keyedFile = literal(join(out, "device_id=edge-a/keyed/part-00000.parquet"));
    expect(
      (
        await query(
          `SELECT count(*), bool_and(id = file_row_number + 1 AND v = 2 * id) FROM read_parquet(${keyedFile}, file_row_number = true)`,
        )
      ).rows,
    ).toEqual([[BigInt(n), true]]);
    const looseFile = literal(join(out, "device_id=edge-a/loose/part-00000.parquet"));
    expect(
      (
        await query(
          `SELECT count(*), bool_and(v = file_row_number + 1 AND rowid = ${n} - v) FROM read_parquet(${looseFile}, file_row_number = true)`,
        )
      ).rows,
    ).toEqual([[BigInt(n), true]]);
    expect((await readDeviceFile(out, "edge-a", "pair")).rows.map((r) => [r["b"], r["a"]])).toEqual([
      ["x", 1n],
      ["x", 2n],
      ["y", 1n],
      ["z", 0n],
    ]);
    const groups = await query(
      `SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(${keyedFile}) ORDER BY 1`,
    );
    expect(groups.rows).toEqual([
      [0n, BigInt(ROW_GROUP_ROWS)],
      [1n, BigInt(ROW_GROUP_ROWS)],
      [2n, 5n],
    ]);
  });

  test("exportDevice() reads every table from one snapshot while the central database changes", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const central = join(tmp.path, "central.db");
    buildCentral(central);
    const writer = new Database(central);
    writer.exec("PRAGMA journal_mode = WAL");
    const local = createParquetSink(join(tmp.path, "lake"), { cwd: "/", env: {} });
    // A sink that lets the aggregator merge a change while the first file is being stored.
    let merged = false;
    const sink: ParquetSink = {
      location: local.location,
      removeDevice: (deviceId) => local.removeDevice(deviceId),
      async write(relPath, bytes) {
        if (!merged) {
          writer.exec(`
            INSERT INTO events VALUES ('edge-a', 'late', NULL, NULL, 4);
            DELETE FROM events WHERE device_id = 'edge-a' AND _rowid = 1;
          `);
          merged = true;
        }
        await local.write(relPath, bytes);
      },
    };
    try {
      expect(await exportDevice(central, "edge-a", TABLES, sink)).toMatchObject({ files: 2, rows: 5 });
    } finally {
      writer.close();
    }
    const events = await readDeviceFile(local.location, "edge-a", "events");
    expect(events.rows.map((r) => r["kind"])).toEqual(["boot", "alarm", "note"]);
  });

  test("exportDevice() refuses bookkeeping, missing and WITHOUT ROWID tables before deleting anything", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const central = join(tmp.path, "central.db");
    buildCentral(central);
    const db = new Database(central);
    db.exec(`
      CREATE TABLE keyed (device_id TEXT NOT NULL, id INTEGER, PRIMARY KEY (device_id, id)) WITHOUT ROWID;
      CREATE TABLE loose (id INTEGER);
    `);
    db.close();
    const out = join(tmp.path, "lake");
    const sink = createParquetSink(out, { cwd: "/", env: {} });
    await exportDevice(central, "edge-a", TABLES, sink);
    const files = await listFiles(out);

    await expect(exportDevice(central, "edge-a", ["readings", "_litefleet_aggregate"], sink)).rejects.toThrow(
      new RangeError(
        "Cannot export table '_litefleet_aggregate': tables starting with '_litefleet' or 'sqlite_' are bookkeeping, not device data",
      ),
    );
    await expect(exportDevice(central, "edge-a", ["sqlite_master"], sink)).rejects.toBeInstanceOf(RangeError);
    await expect(exportDevice(central, "edge-a", ["readings", "nope"], sink)).rejects.toThrow(
      `Cannot export table 'nope' of central database '${central}': no such table`,
    );
    await expect(exportDevice(central, "edge-a", ["keyed"], sink)).rejects.toThrow(
      `Cannot export table 'keyed' of central database '${central}': it is a WITHOUT ROWID table`,
    );
    await expect(exportDevice(central, "edge-a", ["loose"], sink)).rejects.toThrow(
      `Cannot export table 'loose' of central database '${central}': it has no 'device_id' column`,
    );
    await expect(exportDevice(central, "edge-a", ["a/b"], sink)).rejects.toBeInstanceOf(TypeError);
    await expect(exportDevice(central, "../edge-a", TABLES, sink)).rejects.toThrow(
      "Cannot use device id '../edge-a' in a Parquet export path: it must be a non-empty name without '/', '\\', '=' or control characters, and not '.' or '..'",
    );
    const missing = join(tmp.path, "missing.db");
    await expect(exportDevice(missing, "edge-a", TABLES, sink)).rejects.toThrow(
      `Cannot open central database '${missing}': `,
    );

    expect(await listFiles(out)).toEqual(files);
  });
});

describe("createParquetSink", () => {
  test("createParquetSink() writes only under a device directory", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const sink = createParquetSink(`file://${tmp.path}/lake`, { cwd: "/", env: {} });
    await sink.write("device_id=a/t/part-00000.parquet", new Uint8Array([1, 2, 3]));
    expect(await readFile(join(tmp.path, "lake/device_id=a/t/part-00000.parquet"))).toEqual(Buffer.from([1, 2, 3]));

    for (const bad of [
      "t/part.parquet",
      "device_id=a",
      "device_id=/t/x",
      "device_id=a/../b/x",
      "device_id=a//x",
      "/device_id=a/t/x",
    ]) {
      await expect(sink.write(bad, new Uint8Array(1))).rejects.toThrow(
        new TypeError(
          `Cannot write Parquet file '${bad}' to '${tmp.path}/lake': the path must be 'device_id=<id>/<name>/…' with plain path segments`,
        ),
      );
    }
    expect(await listFiles(join(tmp.path, "lake"))).toEqual(["device_id=a/t/part-00000.parquet"]);
  });

  test("createParquetSink() removeDevice deletes that device only, and nothing is no error", async () => {
    await using tmp = await makeTempDir("litefleet-parquet-");
    const sink = createParquetSink(tmp.path, { cwd: "/", env: {} });
    for (const f of [
      "device_id=a/t/part-00000.parquet",
      "device_id=a/u/part-00000.parquet",
      "device_id=ab/t/part-00000.parquet",
    ]) {
      await sink.write(f, new Uint8Array([7]));
    }
    await writeFile(join(tmp.path, "README"), "not a device");
    await sink.removeDevice("a");
    await sink.removeDevice("never-exported");
    expect(await listFiles(tmp.path)).toEqual(["README", "device_id=ab/t/part-00000.parquet"]);
  });
});
