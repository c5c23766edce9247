/**
 * The telemetry workload: an indexed `readings` table that receives one
 * transaction of a few rows every second, identical for every database.
 *
 * Rows are a pure function of the seed and the transaction number, so every
 * database (and every run with the same seed) gets the same bytes. The rows
 * are written by a separate process (`workload-writer.ts`) so that the
 * bench process's own CPU is not mixed up with anything measured.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { fileURLToPath } from "node:url";
import type { Subprocess } from "bun";
import { mulberry32, randomSeed } from "../test/harness/prng.ts";
import type { TrackChild } from "./process-guard.ts";

/** Settings of the workload. */
export interface WorkloadSettings {
  /** Rows inserted by each transaction. */
  readonly rowsPerTransaction: number;
  /** Time between transactions, in ms. */
  readonly intervalMs: number;
  /** PRNG seed for row values. */
  readonly seed: number;
  /** SQLite busy timeout of the writer, in ms. */
  readonly busyTimeoutMs: number;
  /** `PRAGMA wal_autocheckpoint` of the writer (SQLite's default is 1000 pages; 0 disables). */
  readonly walAutocheckpoint: number;
}

/**
 * The telemetry workload every benchmark applies: one transaction of 10
 * rows per second per database.
 */
export const TELEMETRY_WORKLOAD: WorkloadSettings = {
  rowsPerTransaction: 10,
  intervalMs: 1000,
  // Env LITEFLEET_SEED overrides it, as for the tests.
  seed: randomSeed(),
  busyTimeoutMs: 5000,
  // SQLite's default: the application checkpoints as any app would.
  walAutocheckpoint: 1000,
};

/** One row of `readings` (without `id`, which SQLite assigns). */
export interface Reading {
  readonly device: string;
  readonly sensor: string;
  readonly ts: number;
  readonly value: number;
}

/** Schema of every workload database. */
export const READINGS_SCHEMA = [
  "CREATE TABLE readings(id INTEGER PRIMARY KEY, device TEXT, sensor TEXT, ts INTEGER, value REAL)",
  "CREATE INDEX readings_sensor_ts ON readings(sensor, ts)",
] as const;

const SENSORS = ["temperature", "humidity", "pressure", "co2", "voltage", "current", "vibration", "light"] as const;
const DEVICES = ["gw-0001/a", "gw-0001/b", "gw-0001/c"] as const;
/** Logical clock of the rows: a fixed epoch, so values do not depend on when the run happens. */
const EPOCH_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/**
 * Returns the rows of transaction number `tx` (0-based). Pure: the same
 * `(settings.seed, tx)` always gives the same rows.
 */
export function readingsForTransaction(settings: WorkloadSettings, tx: number): Reading[] {
  const rand = mulberry32((settings.seed ^ Math.imul(tx + 1, 0x9e3779b1)) >>> 0);
  const rows: Reading[] = [];
  for (let i = 0; i < settings.rowsPerTransaction; i++) {
    rows.push({
      device: DEVICES[Math.floor(rand() * DEVICES.length)] ?? DEVICES[0],
      sensor: SENSORS[Math.floor(rand() * SENSORS.length)] ?? SENSORS[0],
      ts: EPOCH_MS + tx * settings.intervalMs + i,
      value: Math.round(rand() * 1_000_000) / 1000,
    });
  }
  return rows;
}

/** Creates a new database at `path` in WAL mode with {@linkcode READINGS_SCHEMA}. */
export function createWorkloadDatabase(path: string): void {
  const db = new Database(path, { create: true, strict: true });
  try {
    db.run("PRAGMA journal_mode = WAL");
    db.transaction(() => {
      for (const sql of READINGS_SCHEMA) db.run(sql);
    })();
  } finally {
    db.close();
  }
}

/** Returns the number of rows in `readings` of the database at `path` (opened read-only). */
export function countReadings(path: string): number {
  const db = new Database(path, { readonly: true, strict: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM readings").get()?.n ?? 0;
  } finally {
    db.close();
  }
}

/** Returns the result of `PRAGMA integrity_check` (`"ok"` when the database is sound). */
export function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true, strict: true });
  try {
    return db
      .query<{ integrity_check: string }, []>("PRAGMA integrity_check")
      .all()
      .map((r) => r.integrity_check)
      .join("; ");
  } finally {
    db.close();
  }
}

/** What the writer process reports when it finishes. */
export interface WriterResult {
  /** Transactions committed to every database. */
  readonly transactions: number;
  /** Rows committed, per database path. */
  readonly rowsByDb: Readonly<Record<string, number>>;
  /** Ticks that started more than one interval late (the machine could not keep up). */
  readonly lateTicks: number;
}

/** A running writer process. */
export interface WriterProcess {
  readonly process: Subprocess<"ignore", "pipe", "inherit">;
  /** Resolves when the first transaction is about to start. */
  readonly started: Promise<void>;
  /** Resolves with the writer's report once it exits. */
  readonly finished: Promise<WriterResult>;
}

/** Path of the writer's entry point. */
export const WRITER_ENTRY = fileURLToPath(new URL("./workload-writer.ts", import.meta.url));

/** Arguments passed to the writer as one JSON argv entry. */
export interface WriterArgs {
  readonly settings: WorkloadSettings;
  readonly transactions: number;
  readonly dbPaths: readonly string[];
}

/**
 * Starts `workload-writer.ts` in a separate `bun` process, committing
 * `transactions` transactions to every database in `dbPaths`.
 */
export function spawnWriter(args: WriterArgs, track: TrackChild): WriterProcess {
  const proc = track(
    Bun.spawn([process.execPath, WRITER_ENTRY, JSON.stringify(args)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  let resolveStarted: () => void = () => {};
  let rejectStarted: (err: Error) => void = () => {};
  const started = new Promise<void>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  const finished = (async () => {
    let result: WriterResult | undefined;
    let buffered = "";
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const event = JSON.parse(line) as { event: string } & Partial<WriterResult>;
        if (event.event === "started") resolveStarted();
        if (event.event === "done") result = event as WriterResult;
      }
    }
    const code = await proc.exited;
    if (code !== 0 || result === undefined) {
      const err = new Error(
        `Cannot run the workload: the writer exited with code ${code}${result ? "" : " without a report"}`,
      );
      rejectStarted(err);
      throw err;
    }
    return result;
  })();
  finished.catch(() => {});
  return { process: proc, started, finished };
}
