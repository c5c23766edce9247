/**
 * End to end, issue #11 item 7: `litefleet replicate` in its own process
 * with a file replica. While the agent is stopped the application changes a
 * few rows, runs its own TRUNCATE checkpoint and writes again; the restarted
 * agent must upload only the changed pages (not the whole database), also
 * when its position file is lost (it then continues from the replica's tip
 * checksum), and the replica must restore to the live database byte for byte.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

interface ListedFile {
  level: number;
  min_txid: string;
  max_txid: string;
  size: number;
}

async function listLevel(replica: string, level: number): Promise<ListedFile[]> {
  const files = JSON.parse((await runCli(["ltx", "--json", replica])).stdout) as ListedFile[];
  return files.filter((f) => f.level === level);
}

function listL0(replica: string): Promise<ListedFile[]> {
  return listLevel(replica, 0);
}

describe("resync after the agent was stopped (issue #11)", () => {
  test("an application TRUNCATE checkpoint while stopped costs only the changed pages, with or without position.json", async () => {
    await using dir = await makeTempDir("resync-e2e-");
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
    app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
    app.run(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t (v) SELECT randomblob(1000) FROM n",
    );

    let agent = startAgent(cfg);
    await agent.waitForLog("capture started");
    await agent.stop();
    // The first state, once: the level-9 snapshot (issue #13).
    const [first] = await listLevel(replica, 9);
    expect(first?.size).toBeGreaterThan(2_500_000);

    for (const lostPosition of [false, true]) {
      app.run("UPDATE t SET v = randomblob(1000) WHERE id % 97 = 0");
      app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
      app.run("INSERT INTO t (v) VALUES (randomblob(1000))");
      if (lostPosition) rmSync(join(dir.path, ".app.db-litefleet", "position.json"));
      const before = new Set((await listL0(replica)).map((f) => f.max_txid));
      agent = startAgent(cfg);
      await agent.waitForLog("capture started");
      const log = await agent.stop();
      expect({ lostPosition, resync: log.includes("resync: sent the pages that differ") }).toEqual({
        lostPosition,
        resync: true,
      });
      const added = (await listL0(replica)).filter((f) => !before.has(f.max_txid));
      const bytes = added.reduce((n, f) => n + f.size, 0);
      // 31 updated rows on about as many pages, one insert, page 1: far below the full file.
      expect({ lostPosition, small: bytes < (first?.size ?? 0) / 10 }).toEqual({ lostPosition, small: true });
      const out = join(dir.path, `restored-${lostPosition}.db`);
      const r = await runCli(["restore", "-o", out, replica]);
      expect(r.code).toBe(0);
      expect(fileHash(out)).toBe(imageHash(app));
    }
    app.close();
  }, 60_000);
});
