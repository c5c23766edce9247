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
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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
    return db
      .query(`SELECT device_id, ${columns} FROM ${table} ORDER BY device_id, ${table === "notes" ? "_rowid" : "id"}`)
      .all();
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
      return {
        res,
        gets: requests.filter((r) => r.kind === "GetObject").length,
        report: JSON.parse(res.stdout || "{}"),
      };
    };

    const first = await run();
    expect(first.res.stderr).toBe("");
    expect(first.res.code).toBe(0);
    expect(first.report.devices).toHaveLength(24);
    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(
      expectedRows(devices, "readings", "id, sensor, value, at"),
    );
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
    await changed[3]!.change((db) =>
      db.exec("ALTER TABLE readings ADD COLUMN unit TEXT; UPDATE readings SET unit = 'C'"),
    );
    await changed[4]!.change((db) => db.exec("DROP TABLE notes"));
    const second = await run();
    expect(second.res.code).toBe(0);
    const modes = Object.fromEntries(
      second.report.devices.map((d: { device: string; cache: { mode: string } }) => [d.device, d.cache.mode]),
    );
    for (const d of devices)
      expect({ device: d.id, mode: modes[d.id] }).toEqual({
        device: d.id,
        mode: changed.includes(d) ? "incremental" : "unchanged",
      });
    // Only the new level-0 files were fetched: one per changed device.
    expect(second.gets).toBe(changed.length);
    expect(second.report.files).toBe(changed.length);

    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(
      expectedRows(devices, "readings", "id, sensor, value, at"),
    );
    expect(centralRows(out, "notes", "body")).toEqual(expectedRows(devices, "notes", "body"));
    // Drift rule: the added column exists centrally; devices without it hold NULL.
    const central = new Database(out, { readonly: true });
    const units = central
      .query("SELECT device_id, count(*) AS n, count(unit) AS with_unit FROM readings GROUP BY device_id")
      .all() as { device_id: string; n: number; with_unit: number }[];
    central.close();
    for (const u of units) expect(u.with_unit).toBe(u.device_id === changed[3]!.id ? u.n : 0);
  }, 120_000);

  test("schema drift is reported on stderr one line each, with --json too (issue #15): a primary key that differs (the device's rows stay), a column added", async () => {
    await using dir = await makeTempDir("lf-aggregate-drift-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 2,
      rows: 5,
      seed: 1,
    });
    const out = join(dir.path, "central.db");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    await devices[0]!.change((db) => db.exec("ALTER TABLE notes ADD COLUMN mood TEXT; ALTER TABLE notes ADD COLUMN n"));
    await devices[1]!.change((db) =>
      db.exec("DROP TABLE notes; CREATE TABLE notes (body TEXT PRIMARY KEY); INSERT INTO notes VALUES ('keyed')"),
    );
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--json"]);
    expect(res.code).toBe(0);
    expect(res.stderr.split("\n").filter((l) => l.startsWith("Not merged") || l.startsWith("Schema drift"))).toEqual([
      "Schema drift: dev-000: app.db: notes: columns mood, n added to the central table (other devices' rows hold NULL there)",
      "Not merged (schema): dev-001: app.db: notes: its primary key (body) differs from the central table's (_rowid)",
    ]);
    // The same in the report.
    const merges = (JSON.parse(res.stdout) as { devices: { device: string; merge: unknown }[] }).devices.map((d) => [
      d.device,
      d.merge,
    ]);
    expect(merges).toMatchObject([
      ["dev-000", { skipped: [], added: [{ table: "notes", columns: ["mood", "n"] }] }],
      ["dev-001", { skipped: [{ table: "notes" }], added: [] }],
    ]);
    expect(centralRows(out, "notes", "body")).toEqual([
      { device_id: "dev-000", body: "hello from dev-000" },
      { device_id: "dev-001", body: "hello from dev-001" },
    ]);
    // Without --json: the same lines after the summary (for a device merged in this run); drift
    // already merged is not reported again.
    await devices[0]!.change((db) => db.exec("INSERT INTO notes (body, mood) VALUES ('again', 'ok')"));
    await devices[1]!.change((db) => db.exec("INSERT INTO notes VALUES ('more')"));
    const again = await runCli(["aggregate", "--fleet", fleet, "--out", out]);
    expect(again.stderr).toContain(
      "Not merged (schema): dev-001: app.db: notes: its primary key (body) differs from the central table's (_rowid)",
    );
    expect(again.stderr).not.toContain("Schema drift:");
  }, 60_000);

  test("a damaged cached copy is detected by its checksum and rebuilt from the replica", async () => {
    await using dir = await makeTempDir("lf-aggregate-cache-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 2,
      rows: 50,
      seed: 5,
    });
    const out = join(dir.path, "central.db");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    const cached = join(`${out}.cache`, "dev-001.db");
    const bytes = readFileSync(cached);
    bytes[bytes.length - 100]! ^= 0xff;
    writeFileSync(cached, bytes);
    await devices[1]!.change((db) => db.exec("UPDATE readings SET value = 0"));
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--json"]);
    expect(res.code).toBe(0);
    const modes = (JSON.parse(res.stdout) as { devices: { device: string; cache: { mode: string } }[] }).devices.map(
      (d) => d.cache.mode,
    );
    expect(modes).toEqual(["unchanged", "full"]);
    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(
      expectedRows(devices, "readings", "id, sensor, value, at"),
    );
  }, 60_000);

  test("--parquet on a later run exports every device, and DuckDB reads the same rows as the central database", async () => {
    await using dir = await makeTempDir("lf-aggregate-parquet-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 4,
      rows: 30,
      seed: 9,
    });
    const out = join(dir.path, "central.db");
    const lake = join(dir.path, "lake");
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).code).toBe(0);
    // Nothing changed on the devices, yet every device is exported: none was before.
    const res = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--parquet", lake, "--json"]);
    expect(res.code).toBe(0);
    expect(
      (JSON.parse(res.stdout) as { devices: { parquetFiles?: number }[] }).devices.map((d) => d.parquetFiles),
    ).toEqual([2, 2, 2, 2]);
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const reader = await duck.runAndReadAll(
      `SELECT device_id, count(*)::INTEGER AS n, round(sum(value), 6) AS total FROM read_parquet('${lake}/*/readings/*.parquet', hive_partitioning = true) GROUP BY device_id ORDER BY device_id`,
    );
    const central = new Database(out, { readonly: true });
    const want = central
      .query(
        "SELECT device_id, count(*) AS n, round(sum(value), 6) AS total FROM readings GROUP BY device_id ORDER BY device_id",
      )
      .all();
    central.close();
    expect(reader.getRowObjects()).toEqual(want as never);
    expect(want).toHaveLength(devices.length);
    // And a third run, with nothing new, exports nothing again.
    const idle = await runCli(["aggregate", "--fleet", fleet, "--out", out, "--parquet", lake, "--json"]);
    expect(
      (JSON.parse(idle.stdout) as { devices: { parquetFiles?: number }[] }).devices.every(
        (d) => d.parquetFiles === undefined,
      ),
    ).toBe(true);
    // Drift (issue #15): one device gains a column, so its new file has a column the others' lack. The
    // query of docs/AGGREGATE.md, as written there, matches columns by name across files.
    await devices[2]!.change((db) =>
      db.exec("ALTER TABLE readings ADD COLUMN unit TEXT; UPDATE readings SET unit = 'C'"),
    );
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out, "--parquet", lake])).code).toBe(0);
    const documented = await duck.runAndReadAll(
      `SELECT device_id, avg(value) AS avg, count(unit)::INTEGER AS units FROM read_parquet('${lake}/*/readings/*.parquet', hive_partitioning = true, union_by_name = true) GROUP BY 1 ORDER BY 1`,
    );
    const check = new Database(out, { readonly: true });
    const wantDrift = check
      .query("SELECT device_id, avg(value) AS avg, count(unit) AS units FROM readings GROUP BY 1 ORDER BY 1")
      .all();
    check.close();
    expect(documented.getRowObjects()).toEqual(wantDrift as never);
    expect((wantDrift as { units: number }[]).map((r) => r.units > 0)).toEqual([false, false, true, false]);
    duck.closeSync();
  }, 60_000);

  test("--shard i/N splits the fleet exactly, by a stable hash", async () => {
    await using dir = await makeTempDir("lf-aggregate-shard-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 10,
      rows: 2,
      seed: 3,
    });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await runCli([
        "aggregate",
        "--fleet",
        fleet,
        "--out",
        join(dir.path, `shard-${i}.db`),
        "--shard",
        `${i}/3`,
        "--json",
      ]);
      expect(res.code).toBe(0);
      const ids = (JSON.parse(res.stdout) as { devices: { device: string }[] }).devices.map((d) => d.device);
      for (const id of ids) expect(inShard(id, { index: i, count: 3 })).toBe(true);
      seen.push(...ids);
    }
    expect(seen.sort()).toEqual(devices.map((d) => d.id));
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", "x.db", "--shard", "3/3"])).code).toBe(2);
  }, 60_000);
});

/** Replaces every LTX file of `device` in a file fleet with bytes that are no LTX file. */
function damage(fleet: string, device: string): void {
  const ltx = join(fleet, device, "app.db", "ltx");
  for (const level of readdirSync(ltx)) {
    for (const name of readdirSync(join(ltx, level)).filter((n) => n.endsWith(".ltx"))) {
      writeFileSync(join(ltx, level, name), "not an LTX file");
    }
  }
}

describe("litefleet aggregate finds nothing, or fails, out loud (issue #12)", () => {
  test("a mistyped or empty S3 prefix is an error naming the prefix and what is there (exit 2, nothing written)", async () => {
    await using dir = await makeTempDir("lf-aggregate-none-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "s3", bucket: "fleet", path: "plant-7", endpoint: s3.endpoint, region: "us-east-1" },
      count: 2,
      rows: 3,
      seed: 2,
      env,
    });
    const out = join(dir.path, "central.db");
    const aggregate = (prefix: string) =>
      runCli(
        [
          "aggregate",
          "--fleet",
          `s3://fleet/${prefix}?endpoint=${s3.endpoint}&region=us-east-1`,
          "--out",
          out,
          "--json",
        ],
        { env },
      );

    const typo = await aggregate("plant7");
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe("");
    expect(typo.stderr).toBe(
      "Error: Cannot aggregate 's3://fleet/plant7': no devices found (looked for '<device>/app.db/0000/…' under it): the prefix is empty\n" +
        "Try: check --fleet: it is the prefix holding one folder per device (for replicas at s3://bucket/plant-7/<device>/app.db, --fleet s3://bucket/plant-7)\n",
    );
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.cache`)).toBe(false);

    await s3.seedObject("fleet", "notes/readme.txt", new TextEncoder().encode("hi"));
    const stray = await aggregate("notes");
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("the prefix holds no folders, only 1 file ('readme.txt')");

    // One device's replica given as the fleet.
    const replica = await aggregate("plant-7/dev-000/app.db");
    expect(replica.code).toBe(2);
    // The first state is the level-9 snapshot (issue #13), so the replica's one folder is 0009/.
    expect(replica.stderr).toContain("its one folder holds no replica of 'app.db' ('<folder>/app.db/0000/…'): '0009'");
    expect(replica.stderr).toContain(
      "Try: 's3://fleet/plant-7/dev-000/app.db' looks like one device's replica (it holds 0009/): give --fleet the prefix two levels up",
    );

    expect((await aggregate("plant-7")).code).toBe(0);
  }, 60_000);

  test("a missing fleet directory, and a --db that no device has, are errors (exit 2) with one message", async () => {
    await using dir = await makeTempDir("lf-aggregate-none-");
    const fleet = join(dir.path, "fleet");
    const out = join(dir.path, "central.db");
    const missing = await runCli(["aggregate", "--fleet", fleet, "--out", out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `Error: Cannot aggregate '${fleet}': no devices found (looked for '<device>/app.db/ltx/…' under it): the directory does not exist`,
    );
    mkdirSync(fleet);
    expect((await runCli(["aggregate", "--fleet", fleet, "--out", out])).stderr).toContain("the directory is empty");

    await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 3,
      rows: 3,
      seed: 4,
    });
    const wrongDb = await runCli(["aggregate", "--fleet", fleet, "--db", "ap.db", "--out", out]);
    expect(wrongDb.code).toBe(2);
    expect(wrongDb.stderr).toBe(
      `Error: Cannot aggregate '${fleet}': no devices found: none of its 3 folders holds a replica of 'ap.db' ('<folder>/ap.db/ltx/…'): 'dev-000', 'dev-001', 'dev-002'\n` +
        "Try: check --db (the database's name inside each device's folder) and --fleet (the prefix holding one folder per device)\n",
    );
  }, 60_000);

  test("every device failing exits 1 and says 0 of N; some failing exits 4 and merges the others", async () => {
    await using dir = await makeTempDir("lf-aggregate-fail-");
    const fleet = join(dir.path, "fleet");
    const devices = await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 3,
      rows: 4,
      seed: 6,
    });
    const out = join(dir.path, "central.db");

    damage(fleet, "dev-001");
    const some = await runCli(["aggregate", "--fleet", fleet, "--out", out]);
    expect(some.code).toBe(4);
    expect(some.stderr).toContain("Error: device 'dev-001': ");
    expect(some.stderr).toContain(`Aggregated 2 of 3 devices into ${out} in `);
    expect(some.stderr).toContain("; 1 failed: dev-001; 2 full, 0 incremental, 0 unchanged;");
    const merged = devices.filter((d) => d.id !== "dev-001");
    expect(centralRows(out, "readings", "id, sensor, value, at")).toEqual(
      expectedRows(merged, "readings", "id, sensor, value, at"),
    );

    damage(fleet, "dev-000");
    damage(fleet, "dev-002");
    const all = await runCli(["aggregate", "--fleet", join(dir.path, "fleet"), "--out", join(dir.path, "other.db")]);
    expect(all.code).toBe(1);
    expect(all.stderr).toContain("Aggregated 0 of 3 devices into ");
    expect(all.stderr).toContain("; 3 failed: dev-000, dev-001, dev-002; 0 full");
    const json = await runCli(["aggregate", "--fleet", fleet, "--out", join(dir.path, "other.db"), "--json"]);
    expect(json.code).toBe(1);
    expect(
      (JSON.parse(json.stdout) as { devices: { error?: string }[] }).devices.every((d) => d.error !== undefined),
    ).toBe(true);
  }, 60_000);

  test("a shard that holds none of the devices found is not an error", async () => {
    await using dir = await makeTempDir("lf-aggregate-shard0-");
    const fleet = join(dir.path, "fleet");
    await createSimulatedFleet(join(dir.path, "devices"), {
      fleet: { type: "file", path: fleet },
      count: 1,
      rows: 1,
      seed: 8,
    });
    const shards = [0, 1, 2, 3].map((i) => ({ i, has: inShard("dev-000", { index: i, count: 4 }) }));
    const empty = shards.find((x) => !x.has)!;
    const res = await runCli([
      "aggregate",
      "--fleet",
      fleet,
      "--out",
      join(dir.path, "c.db"),
      "--shard",
      `${empty.i}/4`,
    ]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(`Aggregated 0 of 0 devices in shard ${empty.i}/4 (1 found) into `);
  }, 60_000);
});
