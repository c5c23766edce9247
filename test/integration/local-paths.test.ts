/**
 * A local path that cannot be used is named, with what to do, through the
 * real CLI (issue #12): no "unable to open database file", no "ENOENT: …
 * x.db.tmp", no "EACCES: EACCES:". A missing directory, a directory where
 * a database should be, a read-only file system (a read-only tmpfs; needs
 * root) and permission denied (the CLI run as uid 65534 with setpriv;
 * needs root) each exit 1 with `Error: Cannot …` and a `Try:` line.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HistoryStore } from "../../src/fleet/history/history-store.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { CLI_ENTRY, runCli, type CliRun } from "../harness/cli.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

/** What users must never see again: SQLite's and Node's raw messages, or a code said twice. */
const RAW = /unable to open database file|disk I\/O error|Out of memory|\b(E[A-Z]+): \1:|^Error: E[A-Z]+:/m;

/** Exit 1 with an `Error: Cannot …` line containing `message` and a `Try:` line containing `hint`. */
function expectExplained(run: CliRun, message: string, hint: string): void {
  expect(run.stderr).not.toMatch(RAW);
  expect(run.stderr).toContain(`Error: Cannot ${message}`);
  expect(run.stderr).toContain(`Try: ${hint}`);
  expect(run.code).toBe(1);
}

/** A file replica holding one snapshot, and a live WAL-mode database with a table. */
async function setUp(dir: string): Promise<{ replica: string; live: string }> {
  const replica = join(dir, "replica");
  const mem = new Database(":memory:");
  mem.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
  const image = new Uint8Array(mem.serialize());
  mem.close();
  const client = new FileReplicaClient({ type: "file", path: replica });
  await client.init();
  await writeLtxChain(client, [{ image, timestamp: Date.now() }], { pageSize: 4096 });
  const live = join(dir, "live.db");
  const db = new Database(live, { create: true });
  db.exec("PRAGMA journal_mode = wal; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')");
  db.close();
  return { replica, live };
}

/** A config replicating `db` to the file replica `replica`, without a status server. */
function config(dir: string, db: string, replica: string): string {
  const path = join(dir, `litefleet-${readdirSync(dir).length}.yml`);
  writeFileSync(
    path,
    ['status: { addr: "" }', "dbs:", `  - path: ${db}`, "    replica:", `      path: ${replica}`, ""].join("\n"),
  );
  return path;
}

describe("local paths that cannot be used (issue #12)", () => {
  test("restore -o into a missing directory names the directory and mkdir -p, before any download", async () => {
    await using dir = await makeTempDir("lf-paths-");
    const { replica } = await setUp(dir.path);
    const out = join(dir.path, "missing", "deeper", "x.db");
    const res = await runCli(["restore", "-o", out, replica]);
    expectExplained(
      res,
      `restore to '${out}': the directory '${join(dir.path, "missing")}' does not exist`,
      `create it (mkdir -p '${join(dir.path, "missing", "deeper")}')`,
    );
    expect(res.stderr).not.toContain("Restoring");
    expect(existsSync(join(dir.path, "missing"))).toBe(false);
  });

  test("verify: a database in a missing directory, a missing database, a directory", async () => {
    await using dir = await makeTempDir("lf-paths-");
    const { replica } = await setUp(dir.path);
    const inMissing = join(dir.path, "nodir", "app.db");
    expectExplained(
      await runCli(["verify", inMissing, replica]),
      `open database '${inMissing}': the directory '${join(dir.path, "nodir")}' does not exist`,
      "create it (mkdir -p",
    );
    const missing = join(dir.path, "nothere.db");
    expectExplained(
      await runCli(["verify", missing, replica]),
      `open database '${missing}': '${missing}' does not exist`,
      "correct the path",
    );
    const directory = join(dir.path, "isdir.db");
    mkdirSync(directory);
    expectExplained(
      await runCli(["verify", directory, replica]),
      `open database '${directory}': '${directory}' is a directory, not a file`,
      "give the path of the file itself",
    );
  });

  test("replicate: a database path that is a directory", async () => {
    await using dir = await makeTempDir("lf-paths-");
    const directory = join(dir.path, "isdir.db");
    mkdirSync(directory);
    const res = await runCli(["replicate", "--config", config(dir.path, directory, join(dir.path, "replica"))]);
    expectExplained(
      res,
      `open database '${directory}': '${directory}' is a directory, not a file`,
      "give the path of the file itself",
    );
  });

  const roCannot = readOnlyMountProblem();
  if (roCannot !== undefined) console.log(`local-paths.test.ts: read-only file system test skipped: ${roCannot}`);
  test.skipIf(roCannot !== undefined)(
    "a read-only file system: restore output, verify's -wal/-shm, replicate's state directory, an empty file replica",
    async () => {
      await using dir = await makeTempDir("lf-paths-ro-");
      const { replica, live } = await setUp(dir.path);
      const ro = join(dir.path, "ro");
      mkdirSync(ro);
      expect(spawnOk(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", ro])).toBe(true);
      try {
        copyFileSync(live, join(ro, "live.db"));
        mkdirSync(join(ro, "empty-replica"));
        expect(spawnOk(["mount", "-o", "remount,ro", ro])).toBe(true);

        const out = join(ro, "x.db");
        const restored = await runCli(["restore", "-o", out, replica]);
        expectExplained(
          restored,
          `restore to '${out}': the file system holding '${ro}' is read-only (EROFS)`,
          "remount it read-write, or choose a path on a writable file system",
        );

        const db = join(ro, "live.db");
        const verified = await runCli(["verify", db, replica]);
        expectExplained(
          verified,
          `open database '${db}': SQLite cannot create its '-wal' and '-shm' files (or the database) in '${ro}': the file system holding '${ro}' is read-only (EROFS)`,
          "remount it read-write",
        );

        // The agent's state directory beside the database (a raw error from the agent, explained by the CLI).
        const replicated = await runCli(["replicate", "--config", config(dir.path, db, join(dir.path, "replica2"))]);
        expectExplained(
          replicated,
          `create directory '${join(ro, ".live.db-litefleet")}': the file system holding '${ro}' is read-only (EROFS)`,
          "remount it read-write",
        );

        const empty = join(ro, "empty-replica");
        const fromEmpty = await runCli([
          "restore",
          "--config",
          config(dir.path, live, empty),
          "-o",
          join(dir.path, "y.db"),
          live,
        ]);
        expect(fromEmpty.stderr).toContain(
          `Error: Cannot open replica '${empty}': read-only file system, mkdir '${join(empty, "ltx")}' (EROFS)`,
        );
        expect(fromEmpty.stderr).toContain(`Try: Remount the file system holding '${empty}' read-write`);
        expect(fromEmpty.stderr).not.toMatch(RAW);
        expect(fromEmpty.code).toBe(1);
      } finally {
        spawnOk(["umount", "-l", ro]);
      }
    },
  );

  const nobodyCannot = runAsNobodyProblem();
  if (nobodyCannot !== undefined) console.log(`local-paths.test.ts: permission test skipped: ${nobodyCannot}`);
  test.skipIf(nobodyCannot !== undefined)(
    "permission denied (uid 65534): restore output, a database, a file replica directory",
    async () => {
      await using dir = await makeTempDir("lf-paths-perm-");
      chmodSync(dir.path, 0o755);
      const { replica, live } = await setUp(dir.path);
      const rootOnly = join(dir.path, "root-only");
      mkdirSync(rootOnly, { mode: 0o755 });
      const secret = join(dir.path, "secret.db");
      copyFileSync(live, secret);
      chmodSync(secret, 0o600);

      const out = join(rootOnly, "x.db");
      const restored = await runAsNobody(["restore", "-o", out, replica]);
      expectExplained(
        restored,
        `restore to '${out}': permission denied on '${rootOnly}' (EACCES)`,
        `check that the user running litefleet (uid 65534) may create files in '${rootOnly}'`,
      );

      const verified = await runAsNobody(["verify", secret, replica]);
      expectExplained(
        verified,
        `open database '${secret}': permission denied on '${secret}' (EACCES)`,
        `check that the user running litefleet (uid 65534) may read '${secret}'`,
      );

      const db = join(rootOnly, "app.db");
      copyFileSync(live, db);
      const beside = await runAsNobody(["verify", db, replica]);
      expectExplained(
        beside,
        `open database '${db}': SQLite cannot create its '-wal' and '-shm' files (or the database) in '${rootOnly}'`,
        `check that the user running litefleet (uid 65534) may create files in '${rootOnly}'`,
      );

      const unwritable = join(rootOnly, "replica");
      const writable = join(dir.path, "anyone");
      mkdirSync(writable);
      chmodSync(writable, 0o777);
      const fromReplica = await runAsNobody([
        "restore",
        "--config",
        config(dir.path, live, unwritable),
        "-o",
        join(writable, "y.db"),
        live,
      ]);
      expect(fromReplica.stderr).toContain(
        `Error: Cannot open replica '${unwritable}': permission denied, mkdir '${unwritable}' (EACCES)`,
      );
      expect(fromReplica.stderr).toContain(`Try: Check that the user running litefleet can write to '${unwritable}'`);
      expect(fromReplica.stderr).not.toMatch(RAW);
      expect(fromReplica.code).toBe(1);
    },
  );

  test.skipIf(nobodyCannot !== undefined)(
    "a database the user may read but not write: refused at open naming it, not at the first write (uid 65534)",
    async () => {
      await using dir = await makeTempDir("lf-paths-rodb-");
      chmodSync(dir.path, 0o777);
      const db = join(dir.path, "app.db");
      const app = new Database(db, { create: true });
      app.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      app.close();
      chmodSync(db, 0o644);
      const sqlite = join(import.meta.dir, "../../src/platform/sqlite.ts");
      const script = `const { openSqlConnection } = await import(${JSON.stringify(sqlite)});
try { openSqlConnection(${JSON.stringify(db)}); console.log("opened"); } catch (e) { console.log(e.name + ": " + e.message + " | " + e.hint); }`;
      const r = Bun.spawnSync([...AS_NOBODY, process.execPath, "-e", script], {
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: process.env.PATH, HOME: "/tmp" },
      });
      expect(r.stdout.toString().trim()).toBe(
        `LocalFileError: Cannot open database '${db}': permission denied on '${db}' (EACCES) | check that the user running litefleet (uid 65534) may read and write '${db}'`,
      );
    },
  );

  test.skipIf(nobodyCannot !== undefined)(
    "fleet history --history reads a stopped dashboard's file in a directory it cannot write (uid 65534)",
    async () => {
      await using dir = await makeTempDir("lf-paths-hist-");
      chmodSync(dir.path, 0o755);
      const file = join(dir.path, "fleet-history.db");
      const store = HistoryStore.open(file);
      store.append([{ device: "gw-1", db: null, ts: 1_000, kind: "state", state: "ok" }]);
      store.close();
      chmodSync(file, 0o644);
      // No -shm (no dashboard has it open), no -wal: read as an immutable file.
      expect(existsSync(`${file}-shm`) || existsSync(`${file}-wal`)).toBe(false);
      const read = await runAsNobody(["fleet", "history", "gw-1", "--history", file, "--json"]);
      expect(read.stderr).toBe("");
      expect(read.code).toBe(0);
      expect(JSON.parse(read.stdout).entries).toEqual([{ ts: 1_000, kind: "state", db: null, state: "ok" }]);
    },
  );
});

function spawnOk(cmd: string[]): boolean {
  return Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

/** Why a read-only tmpfs cannot be mounted here, or undefined. */
function readOnlyMountProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  return Bun.which("mount") === null ? "no mount command" : undefined;
}

/** `setpriv` runs the CLI as uid/gid 65534, which root's files refuse (root itself is never refused). */
const AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** Why the CLI cannot be run as uid 65534 here, or undefined. */
function runAsNobodyProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "switching to uid 65534 needs root";
  if (Bun.which("setpriv") === null) return "no setpriv command";
  const r = Bun.spawnSync([...AS_NOBODY, process.execPath, "-e", `await import(${JSON.stringify(CLI_ENTRY)})`], {
    stderr: "pipe",
    env: { PATH: process.env.PATH, HOME: "/tmp" },
  });
  return r.exitCode === 0
    ? undefined
    : `bun and ${CLI_ENTRY} are not usable by uid 65534: ${r.stderr.toString().trim().slice(0, 200)}`;
}

/** Runs `litefleet <args>` as uid 65534. */
async function runAsNobody(args: string[]): Promise<CliRun> {
  const proc = Bun.spawn([...AS_NOBODY, process.execPath, CLI_ENTRY, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH, HOME: "/tmp" },
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
