/**
 * The linux-arm64 binary, as `cross-compile/build.ts` builds it, run under
 * qemu user-mode emulation: `version`, then `replicate` to a file replica and
 * to s3rver at once while this (x64) process writes to the database, then
 * `restore` from each replica, byte for byte against the live image.
 *
 * Needs `qemu-aarch64-static` and the arm64 glibc under /usr/aarch64-linux-gnu
 * (Debian: `apt-get install qemu-user-static libc6-arm64-cross`, which
 * .ci/run does when it can); without them the test is skipped and says why.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildBinary } from "../../cross-compile/build.ts";
import { fileLevelDir, s3LevelPrefix } from "../../src/replica/layout.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const QEMU = Bun.which("qemu-aarch64-static");
const SYSROOT = "/usr/aarch64-linux-gnu";
const S3_PREFIX = "arm64/app.db";
const skipReason =
  QEMU === null ? "qemu-aarch64-static is not on PATH" : !existsSync(SYSROOT) ? `${SYSROOT} is missing` : undefined;
if (skipReason !== undefined) {
  console.log(`arm64 smoke test skipped: ${skipReason} (Debian: apt-get install qemu-user-static libc6-arm64-cross)`);
}

/** Spawns the arm64 binary under qemu with `args`; stdout and stderr piped. */
function spawnArm64(bin: string, args: string[], env: Record<string, string> = {}) {
  return Bun.spawn([QEMU ?? "qemu-aarch64-static", "-L", SYSROOT, bin, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** Runs the arm64 binary to completion. */
async function runArm64(bin: string, args: string[], env: Record<string, string> = {}) {
  const proc = spawnArm64(bin, args, env);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

async function waitFor(cond: () => boolean, what: string, context: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}:\n${context()}`);
    await Bun.sleep(50);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Level-0 LTX files in a file replica. */
function fileReplicaL0(dir: string): number {
  const l0 = fileLevelDir(dir, 0);
  return existsSync(l0) ? readdirSync(l0).filter((n) => n.endsWith(".ltx")).length : 0;
}

describe.skipIf(skipReason !== undefined)("linux-arm64 binary under qemu", () => {
  test("reports its target, replicates to a file replica and s3rver, restores byte for byte", async () => {
    await using dir = await makeTempDir("arm64-smoke-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const creds = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };

    const built = await buildBinary("linux-arm64", { outDir: dir.path });
    const bin = built.path;

    const startups: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const v = await runArm64(bin, ["version"]);
      startups.push(performance.now() - t0);
      expect(v.stderr).toBe("");
      expect(v.code).toBe(0);
      expect(v.stdout).toMatch(/^litefleet \d+\.\d+\.\d+ \(commit [0-9a-z-]+, linux-arm64, sqlite 3\.\d+\.\d+\)\n$/);
    }
    console.log(
      `arm64 under qemu: 'litefleet version' took ${startups.map((t) => t.toFixed(0)).join(", ")} ms (median ${median(startups).toFixed(0)} ms); binary ${(built.bytes / 2 ** 20).toFixed(1)} MiB`,
    );

    const dbPath = join(dir.path, "app.db");
    const replicaDir = join(dir.path, "replica");
    const cfg = join(dir.path, "litefleet.yml");
    await writeFile(
      cfg,
      [
        "logging:",
        "  level: debug",
        "status:",
        '  addr: ""',
        "dbs:",
        `  - path: ${dbPath}`,
        "    monitor-interval: 200ms",
        "    replicas:",
        "      - name: file",
        "        type: file",
        `        path: ${replicaDir}`,
        "        sync-interval: 1s",
        "      - name: s3",
        `        url: s3://fleet/${S3_PREFIX}?endpoint=${s3.endpoint}`,
        "        sync-interval: 1s",
        "",
      ].join("\n"),
    );

    const app = new Database(dbPath, { create: true });
    // The emulated agent holds its checkpoint locks longer than a native one would.
    app.exec(
      "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
    );
    for (let i = 0; i < 50; i++) app.run("INSERT INTO t (v) VALUES (?)", [`before ${i} `.repeat(40)]);

    const agent = spawnArm64(bin, ["replicate", "--config", cfg], creds);
    let log = "";
    const collected = (async () => {
      for await (const chunk of agent.stderr) log += new TextDecoder().decode(chunk);
    })();
    const s3L0 = () =>
      s3.requests.filter((r) => r.kind === "PutObject" && r.key?.startsWith(s3LevelPrefix(S3_PREFIX, 0)) === true)
        .length;
    const agentLog = () =>
      `${log}(exit code ${agent.exitCode}; file replica L0 files: ${fileReplicaL0(replicaDir)}; ` +
      `s3 requests: ${s3.requests.map((r) => `${r.kind} ${r.key ?? ""}`).join(", ")})`;
    try {
      await waitFor(() => log.includes("capture started") || agent.exitCode !== null, "capture to start", agentLog);
      expect(agent.exitCode).toBeNull();

      // Writes while the agent runs, until both replicas have taken a
      // level-0 upload on their 1 s schedule (not only the shutdown upload).
      for (let i = 0; i < 100; i++) app.run("INSERT INTO t (v) VALUES (?)", [`during ${i} `.repeat(30)]);
      await waitFor(() => fileReplicaL0(replicaDir) > 0 && s3L0() > 0, "a level-0 upload to both replicas", agentLog);
      for (let i = 0; i < 40; i++) app.run("UPDATE t SET v = ? WHERE id = ?", [`changed ${i}`, i + 1]);
      app.run("DELETE FROM t WHERE id > 140");
    } catch (err) {
      agent.kill("SIGKILL");
      await agent.exited;
      app.close();
      throw err;
    }
    const expected = imageHash(app);

    agent.kill("SIGTERM");
    const code = await agent.exited;
    await collected;
    app.close();
    if (code !== 0) console.error(log);
    expect(code).toBe(0);

    for (const replica of ["file", "s3"]) {
      const out = join(dir.path, `restored-${replica}.db`);
      const r = await runArm64(bin, ["restore", "--config", cfg, "--replica", replica, "-o", out, dbPath], creds);
      if (r.code !== 0) console.error(r.stderr);
      expect(r.stderr).toContain("integrity ok");
      expect(r.code).toBe(0);
      expect({ replica, hash: fileHash(out) }).toEqual({ replica, hash: expected });
    }
  }, 170_000);
});
