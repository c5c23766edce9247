/**
 * Bad input never yields a silently wrong database or overwrites anything:
 * corrupt objects in the bucket, bad config, missing bucket, wrong
 * credentials, unreachable endpoint, an existing output file.
 */
import { Database } from "bun:sqlite";
import { beforeAll, afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { flush, testUploader } from "../harness/uploader.ts";
import { nullLogger } from "../../src/log.ts";
import { txid } from "../../src/ltx/txid.ts";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { makeTempDir, type TempDir } from "../harness/temp-dir.ts";

let s3: S3Server;
let dir: TempDir;
let url: string;
let env: Record<string, string>;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: ["fleet"] });
  dir = await makeTempDir("bad-input-");
  url = `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`;
  env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
  // Three TXIDs: a snapshot and two increments.
  const dbPath = join(dir.path, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  const store = LocalStore.open(join(dir.path, "state"));
  const client = new S3ReplicaClient(
    { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
    { env },
  );
  const cap = DbCapture.open(dbPath, {
    store,
    capture: { busyTimeoutMs: 1000, minCheckpointPageCount: 1000, truncatePageN: 0, checkpointIntervalMs: 60_000 },
    log: nullLogger(),
    floorTxid: txid(0),
  });
  const up = testUploader({ name: "s3", client, store });
  for (let i = 0; i < 3; i++) {
    app.run("INSERT INTO t (v) VALUES (?)", ["row".repeat(500)]);
    cap.sync();
    await flush(up);
  }
  cap.close();
  app.close();
});

afterAll(async () => {
  await s3.stop();
  await dir[Symbol.asyncDispose]();
});

async function tamper(key: string, change: (b: Uint8Array) => Uint8Array): Promise<() => Promise<void>> {
  const client = new S3ReplicaClient(
    { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
    { env },
  );
  const ltxKey = { level: 0, minTxid: txid(BigInt(`0x${key}`)), maxTxid: txid(BigInt(`0x${key}`)) };
  const original = await client.readLtxFile(ltxKey);
  expect(original.length).toBeGreaterThan(120);
  await client.writeLtxFile(ltxKey, change(original.slice()), { timestamp: new Date() });
  return async () => {
    await client.writeLtxFile(ltxKey, original, { timestamp: new Date() });
  };
}

describe("restore from a damaged bucket", () => {
  test("restores cleanly before tampering", async () => {
    const out = join(dir.path, "clean.db");
    const r = await runCli(["restore", "-o", out, url], { env });
    expect(r.code).toBe(0);
  });

  const cases: Array<[string, (b: Uint8Array) => Uint8Array]> = [
    // Byte 110 is the first byte of page 1's LZ4 block (after the 100-byte
    // header, the 6-byte page header and the 4-byte block size).
    ["a flipped bit in page data", (b) => ((b[110] = (b[110] ?? 0) ^ 0x10), b)],
    ["a flipped bit in the header", (b) => ((b[30] = (b[30] ?? 0) ^ 0x01), b)],
    ["a truncated object", (b) => b.subarray(0, b.length - 40)],
    ["a zero-length object", () => new Uint8Array(0)],
  ];
  for (const [name, change] of cases) {
    test(`${name} fails with the object named and exit code 3`, async () => {
      const restore = await tamper("0000000000000002", change);
      try {
        const out = join(dir.path, `bad-${name.replaceAll(" ", "-")}.db`);
        const r = await runCli(["restore", "-o", out, url], { env });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain("0000000000000002-0000000000000002.ltx");
        expect(r.stderr).toContain("s3://fleet/dev1/app.db");
        expect(existsSync(out)).toBe(false);
        expect(existsSync(`${out}.tmp`)).toBe(false);
      } finally {
        await restore();
      }
    });
  }
});

describe("replica access errors", () => {
  test("a missing bucket is named, exit code 1", async () => {
    const r = await runCli(["restore", "-o", join(dir.path, "x.db"), `s3://nobucket/db?endpoint=${s3.endpoint}`], {
      env,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nobucket");
    expect(r.stderr).toContain("does not exist");
  });

  test("wrong credentials give a hint and never print the secret", async () => {
    const r = await runCli(["restore", "-o", join(dir.path, "x.db"), url], {
      env: { LITEFLEET_ACCESS_KEY_ID: "WRONGKEY", LITEFLEET_SECRET_ACCESS_KEY: "super-secret-value" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/credential|access key/i);
    expect(r.stderr).not.toContain("super-secret-value");
  });

  test("an unreachable endpoint is named", async () => {
    const r = await runCli(["restore", "-o", join(dir.path, "x.db"), "s3://fleet/db?endpoint=http://127.0.0.1:9"], {
      env,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("127.0.0.1:9");
  });
});

describe("nothing is overwritten", () => {
  test("restore refuses an existing output and leaves it byte for byte", async () => {
    const out = join(dir.path, "existing.db");
    writeFileSync(out, "precious");
    const r = await runCli(["restore", "-o", out, url], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("exists");
    expect(readFileSync(out, "utf8")).toBe("precious");
    const skip = await runCli(["restore", "--if-db-not-exists", "-o", out, url], { env });
    expect(skip.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("precious");
  });

  test("--if-replica-exists skips an empty replica", async () => {
    const out = join(dir.path, "none.db");
    const r = await runCli(["restore", "--if-replica-exists", "-o", out, `s3://fleet/empty?endpoint=${s3.endpoint}`], {
      env,
    });
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(false);
  });
});

describe("bad config", () => {
  test("an unknown key is named with its path and a suggestion", async () => {
    const cfg = join(dir.path, "bad.yml");
    writeFileSync(
      cfg,
      `dbs:\n  - path: ${join(dir.path, "app.db")}\n    replica:\n      type: s3\n      bukket: fleet\n`,
    );
    const r = await runCli(["replicate", "--config", cfg], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("dbs[0].replica.bukket");
    expect(r.stderr).toContain("bucket");
    expect(r.stderr).toContain(cfg);
  });
});
