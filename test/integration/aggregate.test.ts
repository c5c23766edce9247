/**
 * `litefleet aggregate` end to end: 24 simulated devices replicate to
 * s3rver (real capture and uploader); the aggregate of the fleet equals the
 * union of the device databases with their `device_id`; after inserts,
 * updates, deletes, a dropped table and a drifted schema on some devices, a
 * second run fetches only the new LTX files (counted at the server) and the
 * central database follows every change; sharding splits the fleet exactly.
 *
 * @module
 */

import { DuckDBInstance } from "@duckdb/node-api";
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inShard } from "../../src/aggregate/discover.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { createSimulatedFleet, type SimulatedDevice } from "../harness/simulated-fleet.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

/** The rows of `table` on each device, as the central table should hold them. */
function expectedRows(devices: readonly SimulatedDevice[], table: string, columns: string): unknown[] {
  const rows: unknown[] = [];
  for (const d of devices) {
    const db = new Database(d.dbPath, { readonly: true });
    try {
      const exists = db.query("SELECT 1 FROM sqlite_master WHERE name = ?").get(table);
      if (exists) rows.push(...db.query(`SELECT ? AS device_id, ${columns} FROM ${table} ORDER BY rowid`).all(d.id));
    } finally {
      db.close();
    }
  }
  return rows;
}

function centralRows(path: string, table: string, columns: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.query(`SELECT device_id, ${columns} FROM ${table} ORDER BY device_id, ${table === "notes" ? "_rowid" : "id"}`).all();
  } finally {
    db.close();
  }
}

describe("litefleet aggregate", () => {
  test("24 devices: union with device_id; the second run fetches only new files and follows inserts, updates, deletes and drift", async () => {
    await using dir = await makeTempDir("lf-aggregate-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const fleetUrl = `s3://fleet/plant-7?endpoint=${s3.endpoint}&region=us-east-1`;
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "s3", bucket: "fleet", path: "plant-7", endpoint: s3.endpoint, region: "us-east-1" },
      count: 24,
      rows: 40,
      seed: 7,
      env,
    });
    const out = join(dir.path, "central.db");
    const run = async () => {
      const before = s3.requests.length;
      const res = await runCli(["aggregate", "--fleet", fleetUrl, "--db", "app.db", "--out", out, "--json"], { env });
      const requests = s3.requests.slice(before);
      return { res, gets: requests.filter((r) => r.kind === "GetObject").length, report: JSON.parse(res.stdout || "{}") };
    };

    const first = await run();
    expect(first.res.stderr).toBe("");
    expect(first.res.code).toBe(0);
    expect(first.report.devices).toHaveLength(24);
    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(expectedRows(devices, "readings", "id, sensor, value, at"));
    expect(centralRows(out, "notes", "body")).toEqual(expectedRows(devices, "notes", "body"));

    // Nothing changed: nothing is downloaded.
    const idle = await run();
    expect(idle.gets).toBe(0);
    expect(idle.report.devices.every((d: { cache: { mode: string } }) => d.cache.mode === "unchanged")).toBe(true);

    // Changes on five devices; the others stay as they were.
    const changed = devices.slice(3, 8);
    await changed[0]!.change((db) => db.exec("INSERT INTO readings (sensor, value, at) VALUES ('new', 1.5, 1)"));
    await changed[1]!.change((db) => db.exec("UPDATE readings SET value = -1 WHERE id % 3 = 0"));
    await changed[2]!.change((db) => db.exec("DELETE FROM readings WHERE id > 10; DELETE FROM notes"));
    await changed[3]!.change((db) => db.exec("ALTER TABLE readings ADD COLUMN unit TEXT; UPDATE readings SET unit = 'C'"));
    await changed[4]!.change((db) => db.exec("DROP TABLE notes"));
    const second = await run();
    expect(second.res.code).toBe(0);
    const modes = Object.fromEntries(second.report.devices.map((d: { device: string; cache: { mode: string } }) => [d.device, d.cache.mode]));
    for (const d of devices) expect({ device: d.id, mode: modes[d.id] }).toEqual({ device: d.id, mode: changed.includes(d) ? "incremental" : "unchanged" });
    // Only the new level-0 files were fetched: one per changed device.
    expect(second.gets).toBe(changed.length);
    expect(second.report.files).toBe(changed.length);

    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(expectedRows(devices, "readings", "id, sensor, value, at"));
    expect(centralRows(out, "notes", "body")).toEqual(expectedRows(devices, "notes", "body"));
    // Drift rule: the added column exists centrally; devices without it hold NULL.
    const central = new Database(out, { readonly: true });
    const units = central.query("SELECT device_id, count(*) AS n, count(unit) AS with_unit FROM readings GROUP BY device_id").all() as { device_id: string; n: number; with_unit: number }[];
    central.close();
    for (const u of units) expect(u.with_unit).toBe(u.device_id === changed[3]!.id ? u.n : 0);
  }, 120_000);

  test("a primary key that differs from the central table's is reported, and the device's rows stay", async () => {
    await using dir = await makeTempDir("lf-aggregate-drift-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), { fleet: { type: "file", path: fleet }, count: 2, rows: 5, seed: 1 });
    const out = join(dir.path, "central.db");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    await devices[1]!.change((db) => db.exec("DROP TABLE notes; CREATE TABLE notes (body TEXT PRIMARY KEY); INSERT INTO notes VALUES ('keyed')"));
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain("Not merged (schema): dev-001: notes: its primary key (body) differs from the central table's (_rowid)");
    expect(centralRows(out, "notes", "body")).toEqual([
      { device_id: "dev-000", body: "hello from dev-000" },
      { device_id: "dev-001", body: "hello from dev-001" },
    ]);
  }, 60_000);

  test("a damaged cached copy is detected by its checksum and rebuilt from the replica", async () => {
    await using dir = await makeTempDir("lf-aggregate-cache-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), { fleet: { type: "file", path: fleet }, count: 2, rows: 50, seed: 5 });
    const out = join(dir.path, "central.db");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    const cached = join(`${out}.cache`, "dev-001.db");
    const bytes = readFileSync(cached);
    bytes[bytes.length - 100]! ^= 0xff;
    writeFileSync(cached, bytes);
    await devices[1]!.change((db) => db.exec("UPDATE readings SET value = 0"));
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--json"]);
    expect(res.code).toBe(0);
    const modes = (JSON.parse(res.stdout) as { devices: { device: string; cache: { mode: string } }[] }).devices.map((d) => d.cache.mode);
    expect(modes).toEqual(["unchanged", "full"]);
    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(expectedRows(devices, "readings", "id, sensor, value, at"));
  }, 60_000);

  test("--parquet on a later run exports every device, and DuckDB reads the same rows as the central database", async () => {
    await using dir = await makeTempDir("lf-aggregate-parquet-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), { fleet: { type: "file", path: fleet }, count: 4, rows: 30, seed: 9 });
    const out = join(dir.path, "central.db");
    const lake = join(dir.path, "lake");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    // Nothing changed on the devices, yet every device is exported: none was before.
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--parquet", lake, "--json"]);
    expect(res.code).toBe(0);
    expect((JSON.parse(res.stdout) as { devices: { parquetFiles?: number }[] }).devices.map((d) => d.parquetFiles)).toEqual([2, 2, 2, 2]);
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const reader = await duck.runAndReadAll(
      `SELECT device_id, count(*)::INTEGER AS n, round(sum(value), 6) AS total FROM read_parquet('${lake}/*/readings/*.parquet', hive_partitioning = true) GROUP BY device_id ORDER BY device_id`,
    );
    const central = new Database(out, { readonly: true });
    const want = central.query("SELECT device_id, count(*) AS n, round(sum(value), 6) AS total FROM readings GROUP BY device_id ORDER BY device_id").all();
    central.close();
    expect(reader.getRowObjects()).toEqual(want as never);
    expect(want).toHaveLength(devices.length);
    // And a third run, with nothing new, exports nothing again.
    const idle = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--parquet", lake, "--json"]);
    expect((JSON.parse(idle.stdout) as { devices: { parquetFiles?: number }[] }).devices.every((d) => d.parquetFiles === undefined)).toBe(true);
  }, 60_000);

  test("--shard i/N splits the fleet exactly, by a stable hash", async () => {
    await using dir = await makeTempDir("lf-aggregate-shard-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), { fleet: { type: "file", path: fleet }, count: 10, rows: 2, seed: 3 });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await runCli(["aggregate", "--fleet", fleet, "--out", join(dir.path, `shard-${i}.db`), "--shard", `${i}/3`, "--json"]);
      expect(res.code).toBe(0);
      const ids = (JSON.parse(res.stdout) as { devices: { device: string }[] }).devices.map((d) => d.device);
      for (const id of ids) expect(inShard(id, { index: i, count: 3 })).toBe(true);
      seen.push(...ids);
    }
    expect(seen.sort()).toEqual(devices.map((d) => d.id));
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", "x.db", "--shard", "3/3"])).code).toBe(2);
  }, 60_000);
});
