/**
 * The single binary: `bun build --compile` the CLI, then replicate, restore
 * and aggregate (with Parquet) with it (proves the embedded LZ4 wasm, the
 * lazily loaded Parquet writer and everything else work outside the source
 * tree).
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../harness/temp-dir.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { compiledBinary } from "../harness/compiled-binary.ts";

async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

describe("compiled binary", () => {
  test("replicates, restores byte for byte, and aggregates with Parquet", async () => {
    await using dir = await makeTempDir("bin-");
    // The release build (same flags and embedded build info as `npm run build`),
    // shared with piped-output.test.ts.
    const bin = await compiledBinary();
    const version = Bun.spawnSync([bin, "version"]);
    expect(version.stdout.toString()).toMatch(/^litefleet \d+\.\d+\.\d+ \(commit [0-9a-z-]+, linux-(x64|arm64), sqlite 3\./);

    const dbPath = join(dir.path, "app.db");
    const app = new Database(dbPath, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
    for (let i = 0; i < 50; i++) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i} `.repeat(40)]);
    const replica = join(dir.path, "replica");
    const agent = Bun.spawn([bin, "replicate", dbPath, `file://${replica}`], { stderr: "pipe", env: { PATH: process.env.PATH } });
    let log = "";
    const reader = (async () => {
      for await (const chunk of agent.stderr) log += new TextDecoder().decode(chunk);
    })();
    await waitFor(() => log.includes("capture started"), "capture to start");
    for (let i = 0; i < 20; i++) app.run("UPDATE t SET v = ? WHERE id = ?", [`changed ${i}`, i + 1]);
    const expected = imageHash(app);
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    await reader;
    app.close();

    const out = join(dir.path, "restored.db");
    const restore = Bun.spawnSync([bin, "restore", "-o", out, replica]);
    expect(restore.stderr.toString()).toContain("integrity ok");
    expect(restore.exitCode).toBe(0);
    expect(fileHash(out)).toBe(expected);

    // The same replica as a one-device fleet, aggregated with Parquet export:
    // the lazily loaded Parquet writer is in the binary too.
    const fleet = join(dir.path, "fleet");
    mkdirSync(join(fleet, "dev-1"), { recursive: true });
    renameSync(replica, join(fleet, "dev-1", "app.db"));
    const lake = join(dir.path, "lake");
    const aggregate = Bun.spawnSync([bin, "aggregate", "--fleet", fleet, "--out", join(dir.path, "central.db"), "--parquet", lake]);
    expect(aggregate.stderr.toString()).toContain("Aggregated 1 of 1 device into");
    expect(aggregate.exitCode).toBe(0);
    expect(existsSync(join(lake, "device_id=dev-1", "t", "part-00000.parquet"))).toBe(true);
  }, 120_000);
});
