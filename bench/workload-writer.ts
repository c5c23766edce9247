/**
 * The workload writer process (spawned by `workload.ts`): commits one
 * transaction every `intervalMs` to each database given, identical rows in
 * each, and prints JSON lines on stdout: `{"event":"started"}` before the
 * first transaction and `{"event":"done", transactions, rowsByDb, lateTicks}`
 * at the end. SIGTERM/SIGINT end it early after the current transaction.
 *
 * Usage: `bun bench/workload-writer.ts '<WriterArgs JSON>'`
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { readingsForTransaction, type Reading, type WriterArgs } from "./workload.ts";

const args = JSON.parse(process.argv[2] ?? "null") as WriterArgs | null;
if (args === null) {
  process.stderr.write("usage: bun bench/workload-writer.ts '<WriterArgs JSON>'\n");
  process.exit(2);
}
const { settings, transactions, dbPaths } = args;

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => (stopping = true));

const targets = dbPaths.map((path) => {
  const db = new Database(path, { strict: true });
  db.run(`PRAGMA busy_timeout = ${settings.busyTimeoutMs}`);
  db.run("PRAGMA journal_mode = WAL");
  db.run(`PRAGMA wal_autocheckpoint = ${settings.walAutocheckpoint}`);
  const insert = db.prepare<void, [string, string, number, number]>(
    "INSERT INTO readings(device, sensor, ts, value) VALUES (?, ?, ?, ?)",
  );
  const commit = db.transaction((rows: Reading[]) => {
    for (const r of rows) insert.run(r.device, r.sensor, r.ts, r.value);
  });
  return { path, db, commit, rows: 0 };
});

process.stdout.write(`${JSON.stringify({ event: "started" })}\n`);
const start = performance.now();
let done = 0;
let lateTicks = 0;
for (let tx = 0; tx < transactions && !stopping; tx++) {
  const due = start + tx * settings.intervalMs;
  const wait = due - performance.now();
  if (wait > 0) await Bun.sleep(wait);
  else if (-wait > settings.intervalMs) lateTicks++;
  if (stopping) break;
  const rows = readingsForTransaction(settings, tx);
  for (const t of targets) {
    t.commit(rows);
    t.rows += rows.length;
  }
  done++;
}
for (const t of targets) t.db.close();
const rowsByDb = Object.fromEntries(targets.map((t) => [t.path, t.rows]));
process.stdout.write(`${JSON.stringify({ event: "done", transactions: done, rowsByDb, lateTicks })}\n`);
