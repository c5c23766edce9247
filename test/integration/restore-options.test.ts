/**
 * `restore --integrity-check`, `--dry-run` and `--parallelism` (issue #14,
 * item 4), through the CLI against real replicas: a directory, and s3rver
 * where downloads in parallel matter.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { runCli } from "../harness/cli.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

/** Database images after each of `count` inserts (rows of `bytes` characters). */
function images(count: number, bytes = 20): Uint8Array[] {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    db.run("INSERT INTO t (v) VALUES (?)", [`${i}:`.padEnd(bytes, "x")]);
    out.push(new Uint8Array(db.serialize()));
  }
  db.close();
  return out;
}

/** A file replica of `states` (TXID 1 = the first image, one level-0 file per later image). */
async function fileReplica(path: string, states: readonly Uint8Array[]): Promise<FileReplicaClient> {
  const client = new FileReplicaClient({ type: "file", path });
  await client.init();
  await writeLtxChain(
    client,
    states.map((image, i) => ({ image, timestamp: Date.UTC(2026, 10, 22, 10, 0, i) })),
    { pageSize: 4096 },
  );
  return client;
}

describe("restore --integrity-check", () => {
  test("full and quick refuse a database SQLite finds damaged (exit 3, no output); none restores it and says so", async () => {
    await using dir = await makeTempDir("lf-integrity-");
    const [good] = images(1, 3000) as [Uint8Array];
    // Page 2 (the table's root) zeroed: the LTX checksums are computed over
    // the damaged image, so only SQLite's own check can find it.
    const bad = new Uint8Array(good);
    bad.fill(0, 4096, 8192);
    const replica = join(dir.path, "replica");
    await fileReplica(replica, [bad]);
    for (const mode of ["full", "quick"]) {
      const out = join(dir.path, `${mode}.db`);
      const res = await runCli(["restore", "--integrity-check", mode, "-o", out, replica]);
      expect(res.code).toBe(3);
      expect(res.stderr).toContain(mode === "full" ? "integrity_check failed" : "quick_check failed");
      expect(existsSync(out) || existsSync(`${out}.tmp`)).toBe(false);
    }
    const out = join(dir.path, "none.db");
    const res = await runCli(["restore", "-integrity-check", "none", "-json", "-o", out, replica]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ restored: true, integrityCheck: "none" });
    const text = await runCli(["restore", "--integrity-check", "none", "-o", join(dir.path, "none2.db"), replica]);
    expect(text.stderr).toContain("integrity check skipped");
  });

  test("every mode restores a good replica; the default is full; a bad mode is a usage error", async () => {
    await using dir = await makeTempDir("lf-integrity-");
    const replica = join(dir.path, "replica");
    await fileReplica(replica, images(3));
    for (const [args, mode] of [
      [[], "full"],
      [["--integrity-check", "quick"], "quick"],
      [["--integrity-check", "none"], "none"],
    ] as const) {
      const out = join(dir.path, `${mode}.db`);
      const res = await runCli(["restore", ...args, "--json", "-o", out, replica]);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout).integrityCheck).toBe(mode);
      expect(integrityCheck(out)).toBe("ok");
    }
    const bad = await runCli(["restore", "--integrity-check", "slow", "-o", join(dir.path, "x.db"), replica]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Cannot parse --integrity-check 'slow': expected none, quick or full");
  });
});

describe("restore --dry-run", () => {
  test("prints the plan (levels, TXIDs, bytes, target time, output) and writes nothing", async () => {
    await using dir = await makeTempDir("lf-dry-run-");
    const replica = join(dir.path, "replica");
    const client = await fileReplica(replica, images(4));
    const outDir = join(dir.path, "out");
    await Bun.write(join(outDir, "keep"), "x");
    const before = readdirSync(outDir);
    const out = join(outDir, "app.db");

    const text = await runCli(["restore", "--dry-run", "-o", out, replica]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("Restore plan (dry run: nothing written)");
    expect(text.stdout).toContain(`output:    ${out} (does not exist)`);
    expect(text.stdout).toContain("txid:      0000000000000001 - 0000000000000004");
    expect(text.stdout).toContain("timestamp: 2026-11-22T10:00:03.000Z");
    expect(text.stdout).toContain("level 0:   4 files");
    expect(text.stdout).toContain("0000000000000003-0000000000000003.ltx");

    const json = await runCli(["restore", "-dry-run", "--json", "--txid", "2", "-o", out, replica]);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    const listed = (await Array.fromAsync(client.listLtxFiles(0))).slice(0, 2);
    expect(plan).toEqual({
      dryRun: true,
      format: "ltx",
      source: client.location,
      output: out,
      outputExists: false,
      txid: "0000000000000002",
      minTxid: "0000000000000001",
      maxTxid: "0000000000000002",
      timestamp: "2026-11-22T10:00:01.000Z",
      files: 2,
      bytes: listed.reduce((n, f) => n + f.size, 0),
      levels: [{ level: 0, files: 2, bytes: listed.reduce((n, f) => n + f.size, 0) }],
      plan: listed.map((f) => ({
        level: 0,
        name: `${f.minTxid.toString(16).padStart(16, "0")}-${f.maxTxid.toString(16).padStart(16, "0")}.ltx`,
        minTxid: f.minTxid.toString(16).padStart(16, "0"),
        maxTxid: f.maxTxid.toString(16).padStart(16, "0"),
        size: f.size,
      })),
    });
    expect(readdirSync(outDir)).toEqual(before);

    // An existing output is reported, not refused, and left as it was.
    await Bun.write(out, "mine");
    const exists = await runCli(["restore", "--dry-run", "--json", "-o", out, replica]);
    expect(exists.code).toBe(0);
    expect(JSON.parse(exists.stdout).outputExists).toBe(true);
    expect(readFileSync(out, "utf8")).toBe("mine");
  });

  test("exits as a restore would: 1 for no backup and for a TXID that is no restore point; 0 with --if-replica-exists", async () => {
    await using dir = await makeTempDir("lf-dry-run-");
    const empty = join(dir.path, "empty");
    await new FileReplicaClient({ type: "file", path: empty }).init();
    const out = join(dir.path, "app.db");
    const none = await runCli(["restore", "--dry-run", "-o", out, empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("holds no LTX files");
    const skip = await runCli(["restore", "--dry-run", "--if-replica-exists", "-o", out, empty]);
    expect(skip.code).toBe(0);
    const replica = join(dir.path, "replica");
    await fileReplica(replica, images(2));
    const past = await runCli(["restore", "--dry-run", "--txid", "9", "-o", out, replica]);
    expect(past.code).toBe(1);
    expect(past.stderr).toContain("it is past the end of the replica");
    expect(existsSync(out)).toBe(false);
  });
});

describe("restore --parallelism", () => {
  test("1 and 8 give byte-identical databases over S3 (s3rver); a bad value is a usage error", async () => {
    await using dir = await makeTempDir("lf-parallel-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const client = new S3ReplicaClient(
      { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
      { env },
    );
    await client.init();
    await writeLtxChain(
      client,
      images(60, 300).map((image, i) => ({ image, timestamp: 1_700_000_000_000 + i })),
      { pageSize: 4096 },
    );
    const source = `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`;
    const hashes: string[] = [];
    for (const n of ["1", "8"]) {
      const out = join(dir.path, `p${n}.db`);
      const res = await runCli(["restore", "-parallelism", n, "--json", "-o", out, source], { env });
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout).files).toBe(60);
      hashes.push(new Bun.CryptoHasher("sha256").update(readFileSync(out)).digest("hex"));
    }
    expect(hashes[0]).toBe(hashes[1] as string);
    const bad = await runCli(["restore", "--parallelism", "0", "-o", join(dir.path, "x.db"), source], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Cannot parse --parallelism '0'");
  });
});
