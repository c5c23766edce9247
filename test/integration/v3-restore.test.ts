/**
 * Litestream v0.3 import, end to end: the real Litestream v0.3.13 binary
 * replicates a scripted workload (a WAL restart after a checkpoint, then a
 * second generation after an offline `wal_checkpoint(TRUNCATE)`) to a file
 * replica and to s3rver; `litefleet restore` (latest and two timestamps)
 * must be byte-identical to `litestream restore` of the same replica and
 * pass `integrity_check`; after `litefleet migrate --history` into the same
 * S3 prefix, restoring the LTX files gives the same databases.
 *
 * s3rver needs the harness's delimiter-listing fix (`s3rver-list-fix.ts`)
 * for Litestream's own generation listing; litefleet lists without a
 * delimiter.
 *
 * Skips, with the reason printed, when the binary is missing.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { litestreamRestore, litestreamV3Missing, runV3Workload } from "../fixtures/litestream-v3/workload.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const skipReason = litestreamV3Missing();
if (skipReason) console.log(`Skipping v3-restore integration tests: ${skipReason}`);

function integrityOk(path: string): boolean {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check === "ok";
  } finally {
    db.close();
  }
}

describe.skipIf(skipReason !== undefined)("litefleet restore of Litestream v0.3.13 replicas", () => {
  test("file replica: latest and two timestamps match litestream restore", async () => {
    await using dir = await makeTempDir("lf-v3-int-");
    const replica = join(dir.path, "replica");
    const { timestamps } = await runV3Workload(dir.path, { type: "file", path: replica });
    expect(timestamps.length).toBeGreaterThanOrEqual(4);
    const targets: (string | undefined)[] = [undefined, timestamps[1], timestamps[3]];
    for (const [i, ts] of targets.entries()) {
      const want = join(dir.path, `want-${i}.db`);
      const got = join(dir.path, `got-${i}.db`);
      await litestreamRestore(`file://${replica}`, want, ts === undefined ? {} : { timestamp: ts });
      const run = await runCli([
        "restore",
        "-o",
        got,
        ...(ts === undefined ? [] : ["--timestamp", ts]),
        `file://${replica}`,
      ]);
      expect(run.stderr).toContain("Litestream v0.3 replica");
      expect(run.code).toBe(0);
      expect(Buffer.compare(readFileSync(got), readFileSync(want))).toBe(0);
      expect(integrityOk(got)).toBe(true);
    }
  }, 120_000);

  test("S3 replica (s3rver): latest and two timestamps match litestream restore", async () => {
    await using dir = await makeTempDir("lf-v3-int-s3-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = {
      LITESTREAM_ACCESS_KEY_ID: s3.accessKeyId,
      LITESTREAM_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const { timestamps, dbPath } = await runV3Workload(
      dir.path,
      { type: "s3", bucket: "fleet", path: "edge/app.db", endpoint: s3.endpoint },
      { env },
    );
    const cfg = join(dir.path, "litestream.yml");
    const targets: (string | undefined)[] = [undefined, timestamps[1], timestamps[3]];
    const url = `s3://fleet/edge/app.db?endpoint=${s3.endpoint}&region=us-east-1`;
    const litefleetEnv = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    for (const [i, ts] of targets.entries()) {
      const want = join(dir.path, `want-${i}.db`);
      const got = join(dir.path, `got-${i}.db`);
      await litestreamRestore(["-config", cfg, dbPath], want, { ...(ts === undefined ? {} : { timestamp: ts }), env });
      const run = await runCli(["restore", "-o", got, ...(ts === undefined ? [] : ["--timestamp", ts]), url], {
        env: litefleetEnv,
      });
      expect(run.stderr).toContain("Litestream v0.3 replica");
      expect(run.code).toBe(0);
      expect(Buffer.compare(readFileSync(got), readFileSync(want))).toBe(0);
      expect(integrityOk(got)).toBe(true);
    }

    // Migrated in place, the LTX files (written last) win and restore the same states.
    const migrated = await runCli(["migrate", "--from", url, "--to", url, "--history"], { env: litefleetEnv });
    expect(migrated.code).toBe(0);
    for (const [i, ts] of targets.entries()) {
      const got = join(dir.path, `migrated-${i}.db`);
      const run = await runCli(["restore", "-o", got, ...(ts === undefined ? [] : ["--timestamp", ts]), url], {
        env: litefleetEnv,
      });
      expect(run.code).toBe(0);
      expect(run.stderr).not.toContain("Litestream v0.3 replica");
      expect(Buffer.compare(readFileSync(got), readFileSync(join(dir.path, `want-${i}.db`)))).toBe(0);
    }
  }, 120_000);
});
