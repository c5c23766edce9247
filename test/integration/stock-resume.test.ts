/**
 * Issue #14, handing a database back to stock Litestream v0.5: after
 * litefleet stops, the newest L0 file of its replica must be one stock
 * resumes from incrementally (a single-TXID file whose WAL fields and page
 * match the live WAL: the handover tip). Checked with the model of stock's
 * resume (`test/harness/stock-litestream-resume.ts`) against the real agent
 * in its own process, a file replica and real SQLite, round trip included:
 * stock's next L0 file restores with litefleet to the live database, and
 * litefleet continues on top of it.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import {
  capturesMergedAtStop,
  expectStockRoundTrip,
  isMerged,
  l0Names,
  setupStockSide as setup,
} from "../harness/stock-handover.ts";
import { stockResume } from "../harness/stock-litestream-resume.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

function l0Header(replica: string, name: string) {
  return decodeHeader(readFileSync(join(replica, "ltx", "0", name)).subarray(0, HEADER_SIZE), { path: name });
}

describe("handing over to stock Litestream v0.5 (issue #14)", () => {
  test("after a graceful stop over merged batches, stock resumes incrementally at the agent's WAL position; its next file restores, and litefleet continues on top", async () => {
    await using dir = await makeTempDir("stock-resume-");
    const s = setup(dir.path, ["min-interval: 1h", "max-interval: 1h"]);
    const log = await capturesMergedAtStop(s);
    expect(log).toContain("handover tip written");
    const names = l0Names(s.replica);
    const tip = names.at(-1) as string;
    expect(isMerged(tip)).toBe(false);
    // The round's batch merged several captures: a `min-max` file stock cannot open.
    expect(isMerged(names.at(-2))).toBe(true);
    const h = l0Header(s.replica, tip);
    const resume = stockResume(s.db, s.replica);
    expect(resume).toMatchObject({ decision: "incremental", offset: Number(h.walOffset + h.walSize) });
    expect(resume.offset).toBeGreaterThan(32 + 4096 + 24);
    await expectStockRoundTrip(s, dir.path, resume);

    // Back to litefleet: a takeover continues on top of what stock wrote (docs/OPERATIONS.md).
    expect((await runCli(["takeover", "--config", s.cfg, "--agent-stopped"])).code).toBe(0);
    s.insert(10);
    const once = await runCli(["replicate", "-once", "-config", s.cfg]);
    expect(once.code).toBe(0);
    const out = join(dir.path, "after-litefleet.db");
    expect((await runCli(["restore", "-o", out, s.replica])).code).toBe(0);
    expect(fileHash(out)).toBe(imageHash(s.app));
    s.app.close();
  }, 60_000);

  test("replicate --once on a replica another writer continued exits 1 at once, naming the conflict", async () => {
    await using dir = await makeTempDir("stock-resume-");
    const s = setup(dir.path, ["min-interval: 1h", "max-interval: 1h"]);
    await capturesMergedAtStop(s);
    // Stock Litestream writes on top; this device's litefleet state is not taken over.
    await expectStockRoundTrip(s, dir.path, stockResume(s.db, s.replica));
    s.insert(10);
    const started = performance.now();
    const once = await runCli(["replicate", "--once", "--config", s.cfg]);
    // The upload loop slept a minute (its conflict recheck) when the stop came first.
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(once.code).toBe(1);
    expect(once.stderr).toContain("A second agent replicates to the same place");
    s.app.close();
  }, 90_000);

  test("without the handover (kill -9 after a merged upload) stock cannot resume; replicate --once writes it", async () => {
    await using dir = await makeTempDir("stock-resume-");
    const s = setup(dir.path, ["min-interval: 1s", "max-interval: 1s"]);
    const agent = startAgent(s.cfg);
    await agent.waitForLog("capture started");
    // Writes every 150 ms, batches every second: kill as soon as the newest upload is a merged batch.
    const deadline = Date.now() + 20_000;
    while (!isMerged(l0Names(s.replica).at(-1))) {
      if (Date.now() > deadline) throw new Error(`no merged batch uploaded:\n${agent.log()}`);
      s.insert(10);
      await Bun.sleep(150);
    }
    await agent.kill();
    const stuck = stockResume(s.db, s.replica);
    expect(stuck).toMatchObject({ decision: "error", reason: expect.stringContaining("no such file") });

    const once = await runCli(["replicate", "--once", "--config", s.cfg]);
    // Either the captures still pending at the kill went up as one single-TXID file, or the
    // newest upload was merged and --once wrote the handover tip: both leave an N-N tip.
    expect(once.code).toBe(0);
    expect(isMerged(l0Names(s.replica).at(-1))).toBe(false);
    const resume = stockResume(s.db, s.replica);
    expect(resume.decision).toBe("incremental");
    await expectStockRoundTrip(s, dir.path, resume);
    s.app.close();
  }, 60_000);

  test("the WAL restarted by the application between stop and stock's start: stock continues from offset 32", async () => {
    await using dir = await makeTempDir("stock-resume-");
    const s = setup(dir.path, ["min-interval: 1h", "max-interval: 1h"]);
    await capturesMergedAtStop(s);
    s.app.exec("PRAGMA wal_checkpoint(RESTART)");
    s.insert(1); // restarts the WAL (new salts) over its first frames only
    const resume = stockResume(s.db, s.replica);
    expect(resume).toMatchObject({ decision: "incremental", offset: 32 });
    await expectStockRoundTrip(s, dir.path, resume);
    s.app.close();
  }, 60_000);

  test("a TRUNCATE checkpoint between stop and stock's start: stock takes a snapshot (its own rule)", async () => {
    await using dir = await makeTempDir("stock-resume-");
    const s = setup(dir.path, ["min-interval: 1h", "max-interval: 1h"]);
    await capturesMergedAtStop(s);
    s.app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    s.insert(1);
    expect(stockResume(s.db, s.replica)).toMatchObject({
      decision: "snapshot",
      reason: "wal truncated by another process",
    });
    s.app.close();
  }, 60_000);

  test("replicate --once fails loudly when the replica cannot be written, and refuses --exec", async () => {
    await using dir = await makeTempDir("stock-resume-");
    // The final upload gives up after a second instead of the default 30 s.
    const s = setup(dir.path, ["min-interval: 1h", "max-interval: 1h"], { top: ["shutdown-sync-timeout: 1s"] });
    s.insert(5);
    s.app.close();
    // A regular file where the replica directory should be: every write fails.
    writeFileSync(s.replica, "not a directory");
    const run = await runCli(["replicate", "--once", "--config", s.cfg]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("--once");
    const usage = await runCli(["replicate", "--once", "--exec", "true", "--config", s.cfg]);
    expect({ code: usage.code, err: usage.stderr.includes("Cannot combine --once with --exec") }).toEqual({
      code: 2,
      err: true,
    });
  }, 30_000);
});
