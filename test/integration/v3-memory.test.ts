/**
 * Restoring and migrating a Litestream v0.3 replica read the objects in
 * pieces (issue #13): a v0.3 replica of a 64 MiB database (random blobs,
 * which LZ4 cannot shrink: a snapshot of one 64 MiB frame in 4 MiB
 * blocks, as Litestream v0.3 writes it) plus one WAL segment of a 4 MiB
 * transaction is restored, then migrated to a v0.5 file replica, each by
 * the CLI in its own process (test/fixtures/peak-rss-fixture.ts reports its
 * VmHWM). Neither may peak more than 48 MiB above a run of the same command
 * on a tiny replica, whatever the database size.
 *
 * The replica is built here, not by the Litestream binary (which would
 * take minutes to upload 64 MiB): the snapshot is the database file after
 * a TRUNCATE checkpoint, compressed with pierrec/lz4's defaults
 * (test/harness/lz4-frame-build.ts); the segment is the `-wal` file SQLite
 * wrote for the next transaction (segment 0 at offset 0 starts with the WAL
 * header, as v0.3 writes it).
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeLz4Frame, writeLz4FrameFile } from "../harness/lz4-frame-build.ts";
import { runMeasured, sameFileContent } from "../harness/peak-rss.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const BOUND_MIB = 48;
const GENERATION = "0123456789abcdef";

/**
 * Builds `<dir>/replica` (a v0.3 replica: a snapshot of `rows` 4000-byte
 * blobs, then a segment updating `updates` of them) and `<dir>/expected.db`
 * (the database after the segment).
 */
function makeV3Replica(dir: string, rows: number, updates: number): { replica: string; expected: string } {
  const db = join(dir, "source.db");
  const replica = join(dir, "replica");
  const gen = join(replica, "generations", GENERATION);
  mkdirSync(join(gen, "snapshots"), { recursive: true });
  mkdirSync(join(gen, "wal"), { recursive: true });
  const conn = new Database(db, { create: true });
  conn.run("PRAGMA journal_mode = wal");
  conn.run("PRAGMA wal_autocheckpoint = 0");
  conn.run("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
  conn.run(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
     INSERT INTO blobs (id, data) SELECT i, randomblob(4000) FROM n`,
  );
  conn.run("PRAGMA wal_checkpoint(TRUNCATE)");
  writeLz4FrameFile(db, join(gen, "snapshots", "00000000.snapshot.lz4"));
  conn.run(`UPDATE blobs SET data = randomblob(4000) WHERE id % ${Math.ceil(rows / updates)} = 0`);
  const wal = new Uint8Array(readFileSync(`${db}-wal`));
  writeFileSync(join(gen, "wal", "00000000_00000000.wal.lz4"), encodeLz4Frame(wal));
  conn.close(); // checkpoints the WAL into the file: the expected result
  const expected = join(dir, "expected.db");
  copyFileSync(db, expected);
  return { replica, expected };
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

describe("memory with a 64 MiB Litestream v0.3 replica", () => {
  test("restore and migrate stay under a tiny replica's run + 48 MiB", async () => {
    await using dir = await makeTempDir("litefleet-v3-mem-");
    mkdirSync(join(dir.path, "tiny"));
    mkdirSync(join(dir.path, "big"));
    const tiny = makeV3Replica(join(dir.path, "tiny"), 4, 1);
    const big = makeV3Replica(join(dir.path, "big"), 16 * 1024, 1024);

    const results: Record<string, { tiny: number; big: number }> = {};
    for (const kind of ["restore", "migrate"] as const) {
      const args = (r: { replica: string }, name: string) =>
        kind === "restore"
          ? ["restore", "-o", join(dir.path, `${name}-restored.db`), r.replica]
          : ["migrate", "--from", r.replica, "--to", join(dir.path, `${name}-v5`)];
      const t = await runMeasured(args(tiny, "tiny"));
      if (t.code !== 0) console.error(t.stderr);
      expect(t.code).toBe(0);
      const b = await runMeasured(args(big, "big"));
      if (b.code !== 0) console.error(b.stderr);
      expect(b.code).toBe(0);
      results[kind] = { tiny: t.peakKib, big: b.peakKib };
    }
    expect(sameFileContent(join(dir.path, "big-restored.db"), big.expected)).toBe(true);
    // The migrated replica restores to the same database.
    const again = join(dir.path, "big-v5-restored.db");
    const r = await runMeasured(["restore", "-o", again, `file://${join(dir.path, "big-v5")}`]);
    expect(r.code).toBe(0);
    expect(sameFileContent(again, big.expected)).toBe(true);
    expect(readdirSync(join(dir.path, "big-v5", "ltx")).length).toBeGreaterThan(0);

    console.log(
      `v3-memory: restore peak ${mib(results.restore!.big)} MiB (tiny ${mib(results.restore!.tiny)} MiB); ` +
        `migrate peak ${mib(results.migrate!.big)} MiB (tiny ${mib(results.migrate!.tiny)} MiB); bound +${BOUND_MIB} MiB`,
    );
    for (const { tiny: t, big: b } of Object.values(results)) expect(b).toBeLessThan(t + BOUND_MIB * 1024);
  }, 180_000);
});
