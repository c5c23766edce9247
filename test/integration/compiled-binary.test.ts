/**
 * The single binary: `bun build --compile` the CLI, then replicate, restore
 * and aggregate (with Parquet) with it (proves the embedded LZ4 wasm, the
 * lazily loaded Parquet writer and everything else work outside the source
 * tree). The release build splits lazily imported modules into chunks of
 * their own (`--splitting`, issue #13): the second test runs the ones the
 * first does not reach (S3 backend, v0.3 reader, operator commands).
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../harness/temp-dir.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { compiledBinary } from "../harness/compiled-binary.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { copyV3Replica, V3_FIXTURE } from "../fixtures/litestream-v3/fixture.ts";

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
    expect(version.stdout.toString()).toMatch(
      /^litefleet \d+\.\d+\.\d+ \(commit [0-9a-z-]+, linux-(x64|arm64), sqlite 3\./,
    );

    const dbPath = join(dir.path, "app.db");
    const app = new Database(dbPath, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
    for (let i = 0; i < 50; i++) app.run("INSERT INTO t (v) VALUES (?)", [`row ${i} `.repeat(40)]);
    const replica = join(dir.path, "replica");
    const agent = Bun.spawn([bin, "replicate", dbPath, `file://${replica}`], {
      stderr: "pipe",
      env: { PATH: process.env.PATH },
    });
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
    const aggregate = Bun.spawnSync([
      bin,
      "aggregate",
      "--fleet",
      fleet,
      "--out",
      join(dir.path, "central.db"),
      "--parquet",
      lake,
    ]);
    expect(aggregate.stderr.toString()).toContain("Aggregated 1 of 1 device into");
    expect(aggregate.exitCode).toBe(0);
    expect(existsSync(join(lake, "device_id=dev-1", "t", "part-00000.parquet"))).toBe(true);
  }, 120_000);

  test("loads its lazily imported chunks: S3 replica, v0.3 restore, fleet keygen", async () => {
    await using dir = await makeTempDir("bin-lazy-");
    await using s3 = await startS3Server({ buckets: ["bkt"] });
    const bin = await compiledBinary();
    const env = {
      PATH: process.env.PATH,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };

    const dbPath = join(dir.path, "app.db");
    const app = new Database(dbPath, { create: true });
    app.exec(
      "PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('s3');",
    );
    const url = `s3://bkt/app.db?endpoint=${s3.endpoint}`;
    const agent = Bun.spawn([bin, "replicate", dbPath, url], { stderr: "pipe", env });
    let log = "";
    const reader = (async () => {
      for await (const chunk of agent.stderr) log += new TextDecoder().decode(chunk);
    })();
    await waitFor(() => log.includes("capture started") || agent.exitCode !== null, "capture to start");
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    await reader;
    // The image as the agent left it (with its own bookkeeping tables).
    const expected = imageHash(app);
    app.close();
    const out = join(dir.path, "from-s3.db");
    // Not spawnSync: the s3rver runs in this process and must keep answering.
    const restore = Bun.spawn([bin, "restore", "-o", out, url], { env, stderr: "pipe" });
    expect(await new Response(restore.stderr).text()).toContain("integrity ok");
    expect(await restore.exited).toBe(0);
    expect(fileHash(out)).toBe(expected);

    const v3Out = join(dir.path, "v3.db");
    const generation = "9cd3a38054c3329e";
    const v3 = Bun.spawnSync([bin, "restore", "-o", v3Out, "--generation", generation, copyV3Replica(dir.path)], {
      env,
    });
    expect(v3.stderr.toString()).toContain("Litestream v0.3 replica");
    expect(
      Buffer.compare(readFileSync(v3Out), readFileSync(join(V3_FIXTURE, "expected", `gen-${generation}.db`))),
    ).toBe(0);

    const keygen = Bun.spawnSync([bin, "fleet", "keygen", "--out", join(dir.path, "operator.key")], { env });
    expect({ code: keygen.exitCode, stdout: keygen.stdout.toString() }).toEqual({
      code: 0,
      stdout: expect.stringContaining("operator-keys:"),
    });
  }, 120_000);
});
