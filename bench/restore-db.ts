/**
 * Makes the database of the restore-speed benchmark (docs/BENCHMARKS.md,
 * "Issue #13: restore speed"): WAL mode, 4096-byte pages, rows of 1–4 KB
 * blobs, half random and half compressible, until the file reaches the
 * size asked, then a TRUNCATE checkpoint. Sizes and the compressible half
 * are seeded; the random half is `crypto.getRandomValues`, so it does not
 * compress whatever the seed.
 *
 * Usage: `bun bench/restore-db.ts OUT.db MEGABYTES`
 *
 * @module
 */

import { Database } from "bun:sqlite";
const [path, mbArg] = process.argv.slice(2);
const target = Number(mbArg) * 1e6;
const db = new Database(path!, { create: true });
db.exec(
  "PRAGMA page_size=4096; PRAGMA journal_mode=wal; CREATE TABLE t (id INTEGER PRIMARY KEY, kind INT, body BLOB, note TEXT)",
);
const ins = db.prepare("INSERT INTO t (kind, body, note) VALUES (?, ?, ?)");
let seed = 12345;
function rnd(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed;
}
const words = ["sensor", "temperature", "humidity", "gateway", "reading", "ok", "alarm", "battery"];
let i = 0;
while (true) {
  db.exec("BEGIN");
  for (let k = 0; k < 2000; k++, i++) {
    const n = 1000 + (rnd() % 3000);
    const b = new Uint8Array(n);
    if (i % 2 === 0) crypto.getRandomValues(b);
    else for (let j = 0; j < n; j++) b[j] = j % 64 < 48 ? 65 + (j % 7) : rnd() & 0xff;
    const note = Array.from({ length: 8 }, () => words[rnd() % words.length]).join(" ");
    ins.run(i % 5, b, note);
  }
  db.exec("COMMIT");
  const pages = (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
  if (pages * 4096 >= target) break;
}
db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
console.log(path, (db.query("PRAGMA page_count").get() as { page_count: number }).page_count * 4096);
db.close();
