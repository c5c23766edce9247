/**
 * A full disk under the agent's state directory (issue #11): the real agent
 * process, its state directory on a small tmpfs that the test fills and
 * frees, a writer that keeps committing, an MQTT broker watching. While the
 * disk is full the failure is reported (log, `status --json`, `/metrics`,
 * an MQTT event and the retained status); nothing already written is
 * corrupted; once space returns replication resumes by itself within the
 * disk-full retry bound, SIGTERM exits 0, and the replica restores the
 * writer's last commit.
 *
 * Needs root (to mount a tmpfs); skipped with the reason otherwise.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentStatus } from "../../src/protocol/agent-status.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { listAllLtxFiles } from "../../src/restore/planner.ts";
import { freePort, startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { watchDevice } from "../harness/device-watch.ts";
import { startMqttBroker, type MqttBroker } from "../harness/mqtt-broker.ts";
import { fileHash, imageHash } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const DEVICE = "gw-full";

/** Mounts a tmpfs of `bytes` at `dir`; returns why it cannot, or undefined. */
function mountTmpfs(dir: string, bytes: number): string | undefined {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  mkdirSync(dir, { recursive: true });
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { stderr: "pipe" });
  return r.exitCode === 0 ? undefined : `mount -t tmpfs failed: ${r.stderr.toString().trim()}`;
}

const probe = await makeTempDir("disk-full-probe-");
const cannot = mountTmpfs(join(probe.path, "fs"), 1 << 20);
if (cannot === undefined) Bun.spawnSync(["umount", join(probe.path, "fs")]);
await probe[Symbol.asyncDispose]();
if (cannot !== undefined) console.log(`disk-full.test.ts skipped: ${cannot}`);

let broker: MqttBroker;
beforeAll(async () => {
  if (cannot === undefined) broker = await startMqttBroker();
});
afterAll(async () => {
  if (cannot === undefined) await broker.stop();
});

async function until<T>(
  what: string,
  find: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Restores the latest state of `replicaDir` into `out` and expects the image hash `expected`. */
async function expectRestores(replicaDir: string, out: string, expected: string): Promise<void> {
  expect((await runCli(["restore", "-o", out, replicaDir])).code).toBe(0);
  expect(fileHash(out)).toBe(expected);
}

/** A database beside a state directory on its own small tmpfs. */
interface SmallDisk {
  readonly dir: string;
  readonly state: string;
  readonly db: string;
  readonly replicaDir: string;
  readonly statusAddr: string;
  readonly app: Database;
  /** Fills the state directory's file system to the last byte (file `filler` in it); returns its path. */
  fill(): string;
  status(): Promise<AgentStatus>;
}

async function withSmallDisk(prefix: string, bytes: number, body: (disk: SmallDisk) => Promise<void>): Promise<void> {
  await using dir = await makeTempDir(prefix);
  const state = join(dir.path, "state");
  expect(mountTmpfs(state, bytes)).toBeUndefined();
  try {
    const db = join(dir.path, "app.db");
    const statusAddr = `127.0.0.1:${await freePort()}`;
    const app = new Database(db, { create: true });
    app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
    await body({
      dir: dir.path,
      state,
      db,
      replicaDir: join(dir.path, "replica"),
      statusAddr,
      app,
      fill() {
        const filler = join(state, "filler");
        try {
          writeFileSync(filler, new Uint8Array(bytes));
        } catch (err) {
          expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
        }
        return filler;
      },
      status: async () => JSON.parse((await runCli(["status", "--json", "--addr", statusAddr])).stdout) as AgentStatus,
    });
  } finally {
    Bun.spawnSync(["umount", "-l", state]);
  }
}

describe("disk full", () => {
  test.skipIf(cannot !== undefined)(
    "is reported everywhere, corrupts nothing, and replication resumes by itself once space returns",
    () =>
      withSmallDisk("disk-full-", 6 << 20, async ({ dir, state, db, replicaDir, statusAddr, app, fill, status }) => {
        const metricsAddr = `127.0.0.1:${await freePort()}`;
        const protocol = broker.kind === "mosquitto" ? "5" : '"3.1.1"';
        const cfg = join(dir, "litefleet.yml");
        writeFileSync(
          cfg,
          [
            `device: { id: ${DEVICE} }`,
            `status: { addr: "${statusAddr}" }`,
            `metrics: { addr: "${metricsAddr}" }`,
            "mqtt:",
            `  url: ${broker.url}`,
            `  protocol: ${protocol}`,
            "  status-interval: 1s",
            `  state-dir: ${join(dir, "fleet-state")}`,
            "dbs:",
            `  - path: ${db}`,
            "    monitor-interval: 100ms",
            `    meta-path: ${join(state, "meta")}`,
            "    replica:",
            `      path: ${replicaDir}`,
            "      sync-interval: 200ms",
          ].join("\n"),
        );
        const topics = deviceTopics("litefleet/v1", DEVICE);
        const {
          client: operator,
          events,
          statuses,
        } = await watchDevice(broker.url, topics, { protocolVersion: broker.kind === "mosquitto" ? 5 : 4 });
        const agent = startAgent(cfg);
        try {
          await agent.waitForLog("capture started");
          for (let i = 0; i < 10; i++) app.run("INSERT INTO t (v) VALUES (randomblob(4000))");
          await until(
            "the first rows in the replica",
            async () => ((await status()).dbs[0]?.replicas[0]?.pending.files === 0 ? true : undefined),
            10_000,
          );

          // Fill the state directory's file system, then keep writing.
          const filler = fill();
          for (let i = 0; i < 40; i++) {
            app.run("INSERT INTO t (v) VALUES (randomblob(20000))");
            await Bun.sleep(20);
          }
          const full = await until(
            "status to report the full disk",
            async () => {
              const s = (await status()).dbs[0];
              return s?.diskFull === true && s.captureError !== null ? s : undefined;
            },
            10_000,
          );
          expect(full.captureError).toMatch(/ENOSPC|no space left/);
          const metrics = await (await fetch(`http://${metricsAddr}/metrics`)).text();
          expect(metrics).toMatch(/^litefleet_disk_full\{db="[^"]+"\} 1$/m);
          expect(metrics).toMatch(/^litefleet_capture_failing\{db="[^"]+"\} 1$/m);
          const event = await until("a sync.error event", () => events.find((e) => e.event === "sync.error"), 10_000);
          expect(event.data["diskFull"]).toBe(true);
          await until(
            "the retained status in error",
            () =>
              statuses.find((s) => s.dbs?.[0]?.state === "error" && /ENOSPC|no space/.test(s.dbs[0].lastError ?? "")),
            10_000,
          );
          expect(agent.log()).toContain("disk full");

          // Space returns: the agent resumes on its own (no sync command).
          rmSync(filler);
          const freedAt = Date.now();
          for (let i = 0; i < 5; i++) app.run("INSERT INTO t (v) VALUES (randomblob(500))");
          const expected = imageHash(app);
          await until(
            "replication to resume and catch up",
            async () => {
              const s = (await status()).dbs[0];
              const r = s?.replicas[0];
              return s && r && s.captureError === null && !s.diskFull && r.pending.files === 0 && r.txid === s.txid
                ? true
                : undefined;
            },
            40_000,
          );
          expect(Date.now() - freedAt).toBeLessThan(35_000);
          expect(agent.log()).toContain("sync recovered");
          app.close();
          expect((await runCli(["sync", "--addr", statusAddr])).code).toBe(0);
          await agent.stop(); // exit 0

          // Nothing corrupted, nothing lost.
          const client = new FileReplicaClient({ type: "file", path: replicaDir });
          for (const f of await listAllLtxFiles(client))
            verifyLtxFile(await client.readLtxFile(f), { path: `${f.level}/${f.minTxid}` });
          await expectRestores(replicaDir, join(dir, "restored.db"), expected);
        } finally {
          await agent.kill().catch(() => {});
          await operator.endAsync();
        }
      }),
    90_000,
  );

  test.skipIf(cannot !== undefined)(
    "captures waiting on a full disk still go out: batches of one capture are hard links, nothing copied (chaos seed 45)",
    () =>
      withSmallDisk(
        "disk-full-batch-",
        4 << 20,
        async ({ dir, state, db, replicaDir, statusAddr, app, fill, status }) => {
          const cfg = join(dir, "litefleet.yml");
          writeFileSync(
            cfg,
            [
              `status: { addr: "${statusAddr}" }`,
              "dbs:",
              `  - path: ${db}`,
              "    monitor-interval: 100ms",
              `    meta-path: ${join(state, "meta")}`,
              "    replica:",
              `      path: ${replicaDir}`,
              // Captures wait in the spool: nothing is due on time for an hour.
              "      min-interval: 1h",
              "      max-interval: 1h",
            ].join("\n"),
          );
          const agent = startAgent(cfg);
          try {
            await agent.waitForLog("capture started");
            for (let i = 0; i < 30; i++) {
              app.run("INSERT INTO t (v) VALUES (randomblob(3000))");
              await Bun.sleep(40);
            }
            await until(
              "captures waiting in the spool",
              async () => (((await status()).dbs[0]?.replicas[0]?.pending.files ?? 0) > 3 ? true : undefined),
              10_000,
            );
            // Every commit captured (the capture itself needs room) before the disk fills.
            let last: string | null | undefined;
            await until(
              "capture to settle",
              async () => {
                const now = (await status()).dbs[0]?.txid;
                const settled = now !== undefined && now === last;
                last = now;
                if (!settled) await Bun.sleep(300);
                return settled ? true : undefined;
              },
              10_000,
            );
            // The disk fills up to the last byte and stays full.
            fill();
            const expected = imageHash(app);
            const sync = await runCli(["sync", "--addr", statusAddr, "--timeout", "60"]);
            expect(sync.stderr).toBe("");
            expect(sync.code).toBe(0);
            expect(agent.log()).toContain("disk full: batching captures one by one");
            app.close();
            await agent.stop();
            await expectRestores(replicaDir, join(dir, "restored.db"), expected);
          } finally {
            await agent.kill().catch(() => {});
          }
        },
      ),
    90_000,
  );

  test.skipIf(cannot !== undefined)(
    "an agent restarted while its state disk is full starts, and replicates once space returns (chaos, issue #12)",
    () =>
      withSmallDisk(
        "disk-full-start-",
        4 << 20,
        async ({ dir, state, db, replicaDir, statusAddr, app, fill, status }) => {
          const cfg = join(dir, "litefleet.yml");
          writeFileSync(
            cfg,
            [
              `status: { addr: "${statusAddr}" }`,
              "dbs:",
              `  - path: ${db}`,
              "    monitor-interval: 100ms",
              `    meta-path: ${join(state, "meta")}`,
              "    replica:",
              `      path: ${replicaDir}`,
            ].join("\n"),
          );
          let agent = startAgent(cfg);
          try {
            await agent.waitForLog("capture started");
            app.run("INSERT INTO t (v) VALUES (randomblob(3000))");
            expect((await runCli(["sync", "--addr", statusAddr, "--timeout", "30s"])).code).toBe(0);
            await agent.kill();
            const filler = fill();
            agent = startAgent(cfg);
            await agent.waitForLog("capture started");
            for (let i = 0; i < 5; i++) app.run("INSERT INTO t (v) VALUES (randomblob(3000))");
            await until(
              "status to report the full disk",
              async () => ((await status()).dbs[0]?.diskFull ? true : undefined),
              10_000,
            );
            rmSync(filler);
            const expected = imageHash(app);
            expect((await runCli(["sync", "--addr", statusAddr, "--timeout", "40s"])).code).toBe(0);
            app.close();
            await agent.stop();
            await expectRestores(replicaDir, join(dir, "restored.db"), expected);
          } finally {
            await agent.kill().catch(() => {});
          }
        },
      ),
    90_000,
  );
});
