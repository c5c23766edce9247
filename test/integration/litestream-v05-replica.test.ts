/**
 * A replica written by stock Litestream v0.5.16 (`../shared/fixtures/litestream-v05/`: one level-9
 * snapshot, one L0 file per TXID, every file NoChecksum) restores with litefleet to every TXID,
 * byte for byte the database stock `litestream restore -txid N` made, and to the latest TXID without
 * `--txid`. The first step of issue #14 (stock Litestream v0.5 compatibility): reading what stock
 * Litestream writes.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../harness/cli.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const FIXTURE = fileURLToPath(new URL("../../../shared/fixtures/litestream-v05/", import.meta.url));

describe("a stock Litestream v0.5.16 replica", () => {
  test("restores to each TXID exactly as stock restore did, and to the latest without --txid", async () => {
    await using dir = await makeTempDir("litestream-v05-");
    const replica = join(dir.path, "replica");
    cpSync(join(FIXTURE, "replica"), replica, { recursive: true });
    for (const txid of [1, 2, 3, 4]) {
      const out = join(dir.path, `txid-${txid}.db`);
      const run = await runCli(["restore", "-o", out, "--txid", String(txid), `file://${replica}`]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: 0,
        stderr: expect.stringContaining("integrity ok"),
      });
      expect(Buffer.compare(readFileSync(out), readFileSync(join(FIXTURE, `expected-txid-${txid}.db`)))).toBe(0);
    }
    const latest = join(dir.path, "latest.db");
    const run = await runCli(["restore", "-o", latest, replica]);
    expect(run.code).toBe(0);
    expect(Buffer.compare(readFileSync(latest), readFileSync(join(FIXTURE, "expected-txid-4.db")))).toBe(0);
  });
});
