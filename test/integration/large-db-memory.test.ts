/**
 * Memory is bounded by the page index and a part, not by the database
 * (issue #13): the real agent process replicates a 256 MiB database from
 * scratch to a file replica, the CLI restores it, and neither process's
 * peak resident set (VmHWM) may exceed the agent's idle resident set by
 * 48 MiB or more.
 *
 * "Idle" is measured, not assumed: the same agent process replicating a
 * tiny database (so SQLite, LZ4, the encoder and the file replica are all
 * loaded and have run) while the large database does not exist yet, its
 * VmRSS read once the tiny database's first file is in the replica. The
 * large database (random blobs, which LZ4 cannot shrink, so every byte of
 * it goes through the encoder, the spool, the upload and the decoder) is
 * then renamed into place; the agent's first sync of it is a full snapshot.
 * The restore runs in its own process through test/fixtures/peak-rss-fixture.ts,
 * which reports its own VmHWM after the command finishes; a tiny restore
 * run the same way shows the restore's own baseline in the log.
 */
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent } from "../harness/agent-process.ts";
import { runMeasured, sameFileContent } from "../harness/peak-rss.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const BOUND_MIB = 48;
const ROWS = 64 * 1024; // one 4000-byte blob per 4 KiB page: 256 MiB

/** A field of /proc/<pid>/status in KiB. */
function procStatusKib(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`No ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

function makeLargeDatabase(path: string): void {
  const db = new Database(path, { create: true });
  db.run("PRAGMA journal_mode = wal");
  db.run("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
  db.run(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
     INSERT INTO blobs (id, data) SELECT i, randomblob(4000) FROM n`,
  );
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

/** The names of the finished LTX files of every level under a file replica. */
function replicaFiles(dir: string): string[] {
  const root = join(dir, "ltx");
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((level) =>
    readdirSync(join(root, level))
      .filter((n) => n.endsWith(".ltx"))
      .map((n) => `${level}/${n}`),
  );
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("memory with a 256 MiB database", () => {
  test("replicating it from scratch and restoring it stay under idle RSS + 48 MiB", async () => {
    await using dir = await makeTempDir("litefleet-large-");
    const tiny = join(dir.path, "tiny.db");
    const big = join(dir.path, "big.db");
    const built = join(dir.path, "big.build");
    const tinyReplica = join(dir.path, "replica-tiny");
    const bigReplica = join(dir.path, "replica-big");
    const t = new Database(tiny, { create: true });
    t.run("PRAGMA journal_mode = wal");
    t.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    t.run("INSERT INTO t (v) VALUES ('hello')");
    t.close();
    makeLargeDatabase(built);

    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        'status: { addr: "" }',
        "dbs:",
        `  - path: ${tiny}`,
        "    monitor-interval: 100ms",
        "    replicas:",
        `      - { type: file, path: ${tinyReplica}, sync-interval: 100ms }`,
        `  - path: ${big}`,
        "    monitor-interval: 100ms",
        "    replicas:",
        `      - { type: file, path: ${bigReplica}, sync-interval: 100ms }`,
      ].join("\n"),
    );
    const agent = startAgent(cfg);
    let idleKib: number;
    let agentPeakKib: number;
    try {
      await agent.waitForLog("waiting for the database to be created");
      await waitFor("the tiny database's first upload", () => replicaFiles(tinyReplica).length > 0);
      // A few more ticks of the idle loop before sampling.
      await Bun.sleep(1000);
      idleKib = procStatusKib(agent.proc.pid, "VmRSS");

      renameSync(built, big);
      // Done when the replica holds a file covering the whole database and
      // the agent has nothing left to upload (no newer snapshot pending).
      const bigBytes = Bun.file(big).size;
      await waitFor("the large database in the replica", () => {
        const files = replicaFiles(bigReplica);
        return files.some((f) => Bun.file(join(bigReplica, "ltx", f)).size >= bigBytes * 0.9);
      });
      await Bun.sleep(1500);
      agentPeakKib = procStatusKib(agent.proc.pid, "VmHWM");
    } finally {
      await agent.stop();
    }

    const tinyOut = join(dir.path, "tiny-restored.db");
    const tinyRun = await runMeasured(["restore", "-o", tinyOut, `file://${tinyReplica}`]);
    expect(tinyRun.code).toBe(0);
    const out = join(dir.path, "big-restored.db");
    const restore = await runMeasured(["restore", "-o", out, `file://${bigReplica}`]);
    if (restore.code !== 0) console.error(restore.stderr);
    expect(restore.code).toBe(0);
    expect(sameFileContent(out, big)).toBe(true);

    const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
    console.log(
      `large-db-memory: agent idle RSS ${mib(idleKib)} MiB, agent peak ${mib(agentPeakKib)} MiB; ` +
        `restore peak ${mib(restore.peakKib)} MiB (tiny restore ${mib(tinyRun.peakKib)} MiB); ` +
        `bound ${mib(idleKib) + BOUND_MIB} MiB`,
    );
    expect(agentPeakKib).toBeLessThan(idleKib + BOUND_MIB * 1024);
    expect(restore.peakKib).toBeLessThan(idleKib + BOUND_MIB * 1024);
  }, 120_000);
});
