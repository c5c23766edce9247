/**
 * Issue #13: the first state of a database is uploaded once. `litefleet
 * replicate` in its own process replicates a few-MiB database from scratch
 * to a file replica: the replica then holds one compressed copy of it (the
 * level-9 snapshot `1-1`, no L0 file repeating the same pages), later
 * captures continue in level 0 from TXID 2, and every state restores byte
 * for byte.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent } from "../../harness/agent-process.ts";
import { runCli } from "../../harness/cli.ts";
import { fileHash, imageHash } from "../../harness/sqlite-image.ts";
import { makeTempDir } from "../../harness/temp-dir.ts";

interface ListedFile {
  level: number;
  min_txid: string;
  max_txid: string;
  size: number;
}

async function listFiles(replica: string): Promise<ListedFile[]> {
  return JSON.parse((await runCli(["ltx", "--json", replica])).stdout) as ListedFile[];
}

describe("first sync (issue #13)", () => {
  test("uploads the database once (≤ 1.05× one compressed copy), and every state restores", async () => {
    await using dir = await makeTempDir("first-sync-");
    const db = join(dir.path, "app.db");
    const replica = join(dir.path, "replica");
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(
      cfg,
      [
        'status: { addr: "" }',
        "dbs:",
        `  - path: ${db}`,
        "    monitor-interval: 50ms",
        "    replica:",
        `      path: ${replica}`,
        "      sync-interval: 50ms",
      ].join("\n"),
    );
    const app = new Database(db, { create: true });
    app.exec(
      "PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, s TEXT);",
    );
    // About 4 MiB: half incompressible, half text that compresses well.
    app.run(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) " +
        "INSERT INTO t (v, s) SELECT randomblob(1000), printf('%.1000c', char(65 + i % 26)) FROM n",
    );

    let agent = startAgent(cfg);
    await agent.waitForLog("capture started");
    await agent.stop();
    const first = await listFiles(replica);
    const snapshots = first.filter((f) => f.level === 9);
    // The first state goes up once, as the level-9 snapshot; the graceful stop adds the
    // one-page handover tip `2-2` so stock Litestream could resume (issue #14).
    expect(first.map((f) => [f.level, f.min_txid.slice(-1), f.max_txid.slice(-1)])).toEqual([
      [0, "2", "2"],
      [9, "1", "1"],
    ]);
    const copy = snapshots[0]?.size ?? 0;
    expect(copy).toBeGreaterThan(2_000_000);
    expect(first.reduce((n, f) => n + f.size, 0)).toBeLessThanOrEqual(copy * 1.05);
    // The state at TXID 1 (with the agent's own bookkeeping tables).
    const firstImage = imageHash(app);

    // Later changes continue in level 0 from TXID 2.
    app.run("UPDATE t SET s = 'changed' WHERE id % 50 = 0");
    agent = startAgent(cfg);
    await agent.waitForLog("capture started");
    await agent.stop();
    const after = await listFiles(replica);
    const l0 = after.filter((f) => f.level === 0);
    expect(l0[0]?.min_txid).toBe("0000000000000002");
    expect(l0.reduce((n, f) => n + f.size, 0)).toBeLessThan(copy / 10);

    const latest = join(dir.path, "latest.db");
    expect((await runCli(["restore", "-o", latest, replica])).code).toBe(0);
    expect(fileHash(latest)).toBe(imageHash(app));
    const initial = join(dir.path, "initial.db");
    expect((await runCli(["restore", "-o", initial, "--txid", "0000000000000001", replica])).code).toBe(0);
    expect(fileHash(initial)).toBe(firstImage);
    app.close();
  }, 60_000);
});
