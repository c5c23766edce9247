/**
 * The chaos benchmark's writer process: commits seeded random transactions
 * to one WAL-mode database until SIGTERM, and logs every state it leaves
 * behind as one JSON line (`{seq, hash, content, time}`, the format of
 * `test/fixtures/writer-fixture.ts`): the commit's sequence number (also in
 * the database, table `_test_marker`), the SHA-256 of the logical image and
 * of the content without the agent's `_litefleet_*` tables.
 *
 * It may be killed with SIGKILL at any moment and restarted: on start it
 * logs the state it finds (so a commit whose log line the kill cut off is
 * still known), and it continues from the marker in the database. Commits
 * are mostly small; a few are large (about 2 MiB) and a few are followed by a
 * VACUUM (logged after the next marker update, like the fixture).
 *
 * Usage: bun chaos-writer.ts DB LOG SEED INTERVAL_MS
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { appendFileSync } from "node:fs";
import { mulberry32 } from "../test/harness/prng.ts";
import { contentHash, imageHash } from "../test/harness/sqlite-image.ts";

const [dbPath, logPath, seedText, intervalText] = process.argv.slice(2);
if (!dbPath || !logPath || !seedText || !intervalText) {
  process.stderr.write("usage: chaos-writer.ts DB LOG SEED INTERVAL_MS\n");
  process.exit(2);
}
const rand = mulberry32(Number(seedText));
const intervalMs = Number(intervalText);
let stopping = false;
process.on("SIGTERM", () => void (stopping = true));
// Stop when the seed process that started this writer is gone (killed by
// the benchmark's timeout or Ctrl-C), instead of writing on as an orphan.
const parent = process.ppid;

const db = new Database(dbPath, { create: true });
db.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 10000;");
db.transaction(() => {
  db.exec("CREATE TABLE IF NOT EXISTS _test_marker (id INTEGER PRIMARY KEY, seq INTEGER)");
  db.exec("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL, note TEXT)");
  db.exec("CREATE INDEX IF NOT EXISTS readings_sensor ON readings (sensor)");
})();
let seq = (db.query("SELECT seq FROM _test_marker WHERE id = 1").get() as { seq: number } | null)?.seq ?? 0;
record();

function record(): void {
  appendFileSync(
    logPath as string,
    `${JSON.stringify({ seq, hash: imageHash(db), content: contentHash(db), time: Date.now() })}\n`,
  );
}

function text(n: number): string {
  let s = "";
  while (s.length < n) s += Math.floor(rand() * 1e16).toString(36);
  return s.slice(0, n);
}

function commit(body: () => void): void {
  db.transaction(() => {
    body();
    seq++;
    db.run("INSERT INTO _test_marker (id, seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq", [seq]);
  })();
  record();
}

while (!stopping && process.ppid === parent) {
  const op = rand();
  if (op < 0.01) {
    // A large transaction: about 2 MiB of new pages.
    commit(() => {
      const stmt = db.prepare("INSERT INTO readings (sensor, value, note) VALUES (?, ?, ?)");
      for (let k = 0; k < 500; k++) stmt.run(`big-${k % 7}`, rand(), text(4000));
    });
  } else if (op < 0.015) {
    commit(() => void db.run("DELETE FROM readings WHERE sensor LIKE 'big-%'"));
    db.exec("VACUUM");
    commit(() => undefined);
  } else {
    commit(() => {
      const kind = rand();
      const n = 1 + Math.floor(rand() * 20);
      if (kind < 0.6) {
        const stmt = db.prepare("INSERT INTO readings (sensor, value, note) VALUES (?, ?, ?)");
        for (let k = 0; k < n; k++)
          stmt.run(`s${Math.floor(rand() * 10)}`, rand() * 100, text(Math.floor(rand() * 300)));
      } else if (kind < 0.85) {
        db.run("UPDATE readings SET value = value + 1, note = ? WHERE id % ? = 0", [
          text(50),
          2 + Math.floor(rand() * 10),
        ]);
      } else {
        db.run("DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE id % 7 = ? LIMIT ?)", [
          Math.floor(rand() * 7),
          n,
        ]);
      }
    });
  }
  await Bun.sleep(intervalMs * (0.5 + rand()));
}
db.close();
