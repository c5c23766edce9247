/**
 * A fleet of simulated devices for aggregation tests and the aggregate
 * benchmark: each device is a real SQLite database in WAL mode, replicated
 * by the real capture and uploader (in this process, no agent process per
 * device) to `<fleet>/<device>/app.db`.
 *
 * Device schema: `readings(id INTEGER PRIMARY KEY, sensor TEXT, value REAL,
 * at INTEGER)` and the rowid table `notes(body TEXT)`.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { nullLogger } from "../../src/log.ts";
import { txid } from "../../src/ltx/txid.ts";
import { createReplicaClient } from "../../src/replica/registry.ts";
import type { ReplicaSpec } from "../../src/replica/spec.ts";
import { deviceReplica } from "../../src/aggregate/discover.ts";
import { mulberry32 } from "./prng.ts";
import { flush, testUploader } from "./uploader.ts";

const CAPTURE = {
  busyTimeoutMs: 2000,
  minCheckpointPageCount: 1000,
  truncatePageN: 100_000,
  checkpointIntervalMs: 60_000,
};

/** One simulated device. */
export interface SimulatedDevice {
  readonly id: string;
  readonly dbPath: string;
  /** Runs `write` on the device's database, then captures and uploads it. */
  change(write: (db: Database) => void): Promise<void>;
}

/**
 * Creates `count` devices (`dev-000`, `dev-001`, …) with `rows` random
 * readings each, replicated to `fleet`.
 */
export async function createSimulatedFleet(
  dir: string,
  options: { fleet: ReplicaSpec; count: number; rows: number; seed: number; env?: Record<string, string | undefined> },
): Promise<SimulatedDevice[]> {
  const random = mulberry32(options.seed);
  const devices: SimulatedDevice[] = [];
  for (let i = 0; i < options.count; i++) {
    const id = `dev-${String(i).padStart(3, "0")}`;
    const home = join(dir, id);
    mkdirSync(home, { recursive: true });
    const dbPath = join(home, "app.db");
    const spec = deviceReplica(options.fleet, id, "app.db");
    const device: SimulatedDevice = {
      id,
      dbPath,
      async change(write) {
        const db = new Database(dbPath, { create: true });
        try {
          db.exec("PRAGMA journal_mode = wal");
          write(db);
        } finally {
          db.close();
        }
        const store = LocalStore.open(join(home, "state"));
        const client = await createReplicaClient(spec, { env: options.env ?? {} });
        const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0) });
        try {
          cap.sync();
          await flush(testUploader({ name: "fleet", client, store }));
        } finally {
          cap.close();
        }
      },
    };
    await device.change((db) => {
      db.exec(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL, at INTEGER); CREATE TABLE notes (body TEXT);",
      );
      const insert = db.prepare("INSERT INTO readings (sensor, value, at) VALUES (?, ?, ?)");
      db.transaction(() => {
        for (let r = 0; r < options.rows; r++)
          insert.run(`s${Math.floor(random() * 8)}`, random() * 100, 1_795_000_000 + r);
      })();
      db.run("INSERT INTO notes (body) VALUES (?)", [`hello from ${id}`]);
    });
    devices.push(device);
  }
  return devices;
}
