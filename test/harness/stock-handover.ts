/**
 * Shared steps of the tests that hand a database between litefleet and
 * stock Litestream v0.5 (issue #14): a live database with its agent config,
 * captures the stop merges, the level-0 names of a file replica, and the
 * round trip of stock's incremental write restored with litefleet.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { txid } from "../../src/ltx/txid.ts";
import type { ReplicaClient } from "../../src/replica/client.ts";
import { startAgent } from "./agent-process.ts";
import { runCli } from "./cli.ts";
import { fileHash, imageHash, integrityCheck } from "./sqlite-image.ts";
import { stockNextL0, stockNextL0Via, type StockResume } from "./stock-litestream-resume.ts";

/** A live database (WAL mode, `readings`), the file replica beside it, and an agent config for them. */
export interface Setup {
  db: string;
  /** The file replica directory (unused when `url` names another replica). */
  replica: string;
  cfg: string;
  app: Database;
  insert(n: number): void;
}

/**
 * Creates `app.db` in `dir` with a config that replicates it every 100 ms
 * to `options.url` (default: the file replica `dir/replica`), `upload`
 * lines added to the replica and `top` lines at the top level.
 */
export function setupStockSide(dir: string, upload: string[], options: { url?: string; top?: string[] } = {}): Setup {
  const db = join(dir, "app.db");
  const replica = join(dir, "replica");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 0");
  app.exec("CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, v BLOB)");
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(
    cfg,
    [
      'status: { addr: "" }',
      "levels: []",
      "logging: { level: debug }",
      ...(options.top ?? []),
      "dbs:",
      `  - path: ${db}`,
      "    monitor-interval: 100ms",
      "    replica:",
      `      url: ${options.url ?? `file://${replica}`}`,
      ...upload.map((l) => `      ${l}`),
    ].join("\n"),
  );
  let rows = 0;
  const insert = (n: number) =>
    app.transaction(() => {
      for (let i = 0; i < n; i++)
        app.run("INSERT INTO readings (sensor, v) VALUES (?, randomblob(300))", [`s${rows++}`]);
    })();
  return { db, replica, cfg, app, insert };
}

/**
 * Four captures (each waited for in the agent's log) that one batch merges
 * at the graceful stop (with an upload policy that holds them for an
 * hour). Returns the agent's log.
 */
export async function capturesMergedAtStop(s: Setup, env: Record<string, string> = {}): Promise<string> {
  const agent = startAgent(s.cfg, env);
  await agent.waitForLog("capture started");
  for (let i = 0; i < 4; i++) {
    s.insert(20);
    await agent.waitForLog(`txid=${i + 2} `);
  }
  return agent.stop();
}

/** The replica's level-0 file names, oldest first. */
export function l0Names(replica: string): string[] {
  const dir = join(replica, "ltx", "0");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith(".ltx"))
    .sort();
}

/** True for a file name `min-max` with min < max (a merged batch). */
export function isMerged(name: string | undefined): boolean {
  if (name === undefined) return false;
  const [min, max] = name.replace(".ltx", "").split("-");
  return min !== max;
}

/** A live database with a `readings` table that has a `sensor` column, and its replica. */
export interface StockSide {
  /** The database path. */
  readonly db: string;
  /** The application's connection (WAL mode). */
  readonly app: Database;
  /** Inserts `n` rows into `readings`. */
  insert(n: number): void;
  /** Where stock writes: a file replica directory, or a client of the replica. */
  readonly replica: string | ReplicaClient;
  /** The replica as `litefleet restore` takes it; default: `replica` when it is a directory. */
  readonly source?: string;
  /** The environment `litefleet restore` needs (credentials). */
  readonly env?: Record<string, string>;
}

/** Stock's incremental write of what changed since, then litefleet's restore: byte-identical and intact. */
export async function expectStockRoundTrip(s: StockSide, dir: string, resume: StockResume): Promise<void> {
  s.insert(15);
  s.app.run("UPDATE readings SET sensor = 'x' WHERE id % 5 = 0");
  const written =
    typeof s.replica === "string"
      ? stockNextL0(s.db, s.replica, resume)
      : await stockNextL0Via(s.db, s.replica, resume);
  expect(written).toBe(txid(resume.txid + 1n));
  const out = join(dir, `restored-${resume.txid}.db`);
  const source = s.source ?? (typeof s.replica === "string" ? s.replica : undefined);
  if (source === undefined) throw new TypeError("Cannot restore: a client replica needs a 'source'");
  const run = await runCli(["restore", "-o", out, source], s.env ? { env: s.env } : {});
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining("integrity ok") });
  expect(fileHash(out)).toBe(imageHash(s.app));
  expect(integrityCheck(out)).toBe("ok");
}
