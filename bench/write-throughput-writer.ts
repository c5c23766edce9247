/**
 * The application of the `write-throughput` benchmark (spawned by
 * `write-throughput.ts`): commits one small transaction (one row) after the
 * other, as fast as SQLite lets it, for `seconds`, in WAL mode, and prints
 * `{"commits": N, "seconds": S, "maxCommitMs": M}` on stdout.
 *
 * Usage: `bun bench/write-throughput-writer.ts <db> <seconds> <synchronous>`
 *
 * @module
 */

import { Database } from "bun:sqlite";

const [path, secondsArg, synchronous = "NORMAL"] = process.argv.slice(2);
if (path === undefined || secondsArg === undefined) {
  process.stderr.write("usage: bun bench/write-throughput-writer.ts <db> <seconds> [NORMAL|FULL]\n");
  process.exit(2);
}
const db = new Database(path, { strict: true });
db.run("PRAGMA busy_timeout = 5000");
db.run("PRAGMA journal_mode = WAL");
db.run(`PRAGMA synchronous = ${synchronous}`);
const insert = db.prepare<void, [number, number]>("INSERT INTO readings(ts, value) VALUES (?, ?)");
const commit = db.transaction((ts: number) => insert.run(ts, Math.random()));
const start = performance.now();
const end = start + Number(secondsArg) * 1000;
let commits = 0;
let maxCommitMs = 0;
for (let now = start; now < end; ) {
  commit(commits);
  commits++;
  const after = performance.now();
  if (after - now > maxCommitMs) maxCommitMs = after - now;
  now = after;
}
const seconds = (performance.now() - start) / 1000;
db.close();
process.stdout.write(`${JSON.stringify({ commits, seconds, maxCommitMs })}\n`);
