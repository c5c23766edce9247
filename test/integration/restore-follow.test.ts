/**
 * `restore --follow` (issue #14, item 4): a read copy kept up to date while
 * a reader process reads it (never a torn or stale state), resumed after a
 * crash in the middle of an apply, bridging a level-0 gap from a compacted
 * level, and the options it refuses.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../../src/agent/capture.ts";
import { ChecksumMismatchError } from "../../src/errors.ts";
import { LocalStore } from "../../src/agent/local-store.ts";
import { runFollow } from "../../src/cli/restore-follow.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { compactLtxFiles } from "../../src/ltx/compactor.ts";
import { decodeLtxFile } from "../../src/ltx/decoder.ts";
import { formatTxid, txid } from "../../src/ltx/txid.ts";
import { nullLogger } from "../../src/log.ts";
import type { LtxFileInfo, ReplicaClient } from "../../src/replica/client.ts";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { listAllLtxFiles } from "../../src/replica/ltx-files.ts";
import { FollowCopy } from "../../src/restore/follow.ts";
import { planRestore } from "../../src/restore/planner.ts";
import { runCli } from "../harness/cli.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";
import { integrityCheck } from "../harness/sqlite-image.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { flush, testUploader } from "../harness/uploader.ts";

const READER = join(import.meta.dir, "../fixtures/follow-reader-fixture.ts");

/** An in-process CLI surface collecting what follow mode prints. */
function collectingIo(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    stdout: (t) => void lines.push(t),
    stderr: (t) => void lines.push(t),
    flush: async () => {},
    env: {},
    cwd: process.cwd(),
    isTty: false,
    onSignal: () => () => {},
  };
}

/** Waits until `cond()` holds (polling), or fails after `ms`. */
async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(20);
  }
}

/** Database images after each of `count` inserts. */
function images(count: number): Uint8Array[] {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    db.run("INSERT INTO t (v) VALUES (?)", [`${i}`.padEnd(500, "x")]);
    out.push(new Uint8Array(db.serialize()));
  }
  db.close();
  return out;
}

/** The rows of `t` in the database at `path`. */
function rows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT count(*) AS n FROM t").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** `bytes` with page-1 bytes 18-19 and 24-27 (the ones the copy changes) zeroed. */
function withoutCopyHeader(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  out.fill(0, 18, 20);
  out.fill(0, 24, 28);
  return out;
}

describe("restore --follow", () => {
  test("applies what the agent uploads while a reader process reads the copy: never torn, never stale", async () => {
    await using dir = await makeTempDir("lf-follow-");
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "replica") });
    await client.init();
    const dbPath = join(dir.path, "app.db");
    const app = new Database(dbPath, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
    const store = LocalStore.open(join(dir.path, "state"));
    const cap = DbCapture.open(dbPath, {
      store,
      capture: { busyTimeoutMs: 1000, minCheckpointPageCount: 1000, truncatePageN: 0, checkpointIntervalMs: 60_000 },
      log: nullLogger(),
      floorTxid: txid(0),
    });
    const up = testUploader({ name: "r", client, store });
    const insert = app.transaction(() => {
      for (let i = 0; i < 10; i++) app.run("INSERT INTO t (v) VALUES (?)", [`${i}`.padEnd(700, "y")]);
    });
    const copy = join(dir.path, "copy.db");
    const stopFile = join(dir.path, "stop");
    const stop = new AbortController();
    const io = collectingIo();
    let reader: ReturnType<typeof Bun.spawn> | undefined;
    try {
      insert();
      cap.sync();
      await flush(up);
      const files = await listAllLtxFiles(client);
      const follow = runFollow(io, client, {
        output: copy,
        files,
        integrity: "full",
        parallelism: 8,
        intervalMs: 50,
        json: true,
        signal: stop.signal,
      });
      await until(() => io.lines.some((l) => l.includes('"event":"restored"')));
      reader = Bun.spawn([process.execPath, READER, copy, stopFile], { stdout: "pipe", stderr: "inherit" });
      for (let batch = 0; batch < 12; batch++) {
        insert();
        cap.sync();
        await flush(up);
        await Bun.sleep(30);
      }
      const newest = (await listAllLtxFiles(client)).reduce((m, f) => (f.maxTxid > m ? f.maxTxid : m), 0n);
      await until(() => readFileSync(`${copy}-txid`, "utf8") === `${formatTxid(newest as never)}\n`);
      await Bun.write(stopFile, "");
      const report = JSON.parse(await new Response(reader.stdout as ReadableStream).text());
      stop.abort();
      expect(await follow).toBe(0);
      expect(report.errors).toEqual([]);
      expect(report.reads).toBeGreaterThan(10);
      // The reader saw the copy move on (its connection's cache was dropped), ending at 130 rows.
      expect(report.counts.length).toBeGreaterThan(1);
      expect(Math.max(...report.counts)).toBe(130);
      expect(io.lines.filter((l) => l.includes('"event":"applied"')).length).toBeGreaterThan(0);
      expect(integrityCheck(copy)).toBe("ok");
      expect(rows(copy)).toBe(130);
      // Only the journal-mode bytes and the change counter differ from a plain restore.
      const plain = join(dir.path, "plain.db");
      expect((await runCli(["restore", "-o", plain, join(dir.path, "replica")])).code).toBe(0);
      const copyBytes = readFileSync(copy);
      expect(copyBytes[18]).toBe(1);
      expect(copyBytes[19]).toBe(1);
      expect(withoutCopyHeader(copyBytes)).toEqual(withoutCopyHeader(readFileSync(plain)));
    } finally {
      stop.abort();
      reader?.kill();
      cap.close();
      app.close();
    }
  }, 60_000);

  test("resumes after a crash in the middle of an apply: that file is applied again, its result checked", async () => {
    await using dir = await makeTempDir("lf-follow-crash-");
    const replicaDir = join(dir.path, "replica");
    const client = new FileReplicaClient({ type: "file", path: replicaDir });
    await client.init();
    const states = images(6);
    await writeLtxChain(
      client,
      states.slice(0, 2).map((image, i) => ({ image, timestamp: 1_700_000_000_000 + i })),
      { pageSize: 4096 },
    );
    const output = join(dir.path, "copy.db");
    const crash = new Error("crash after the pages");
    const copy = await FollowCopy.create(client, await planRestore(client, {}), {
      output,
      integrity: "full",
      parallelism: 1,
      hooks: {
        afterPages: (info) => {
          if (info.maxTxid === txid(4)) throw crash;
        },
      },
    });
    // TXIDs 3..6 arrive; 3 applies, 4 "crashes" once its pages are written.
    const all = (await writeChainFrom(replicaDir, states)).copied;
    await copy.apply(client, all[2] as never);
    await expect(copy.apply(client, all[3] as never)).rejects.toBe(crash);
    copy.close();
    expect(readFileSync(`${output}-txid`, "utf8")).toBe("0000000000000003\n");
    expect(JSON.parse(readFileSync(`${output}-follow`, "utf8")).applying).toEqual({
      level: 0,
      minTxid: "0000000000000004",
      maxTxid: "0000000000000004",
    });

    // The torn copy fails the pre-apply check, so only a resume that knows it is torn gets past it.
    const stop = new AbortController();
    const io = collectingIo();
    const follow = runFollow(io, client, {
      output,
      files: await listAllLtxFiles(client),
      integrity: "full",
      parallelism: 1,
      intervalMs: 20,
      json: true,
      signal: stop.signal,
    });
    await until(() => readFileSync(`${output}-txid`, "utf8") === "0000000000000006\n");
    stop.abort();
    expect(await follow).toBe(0);
    expect(io.lines[0]).toContain('"torn":true');
    expect(JSON.parse(readFileSync(`${output}-follow`, "utf8")).applying).toBeUndefined();
    expect(integrityCheck(output)).toBe("ok");
    expect(withoutCopyHeader(readFileSync(output))).toEqual(withoutCopyHeader(states[5] as Uint8Array));
  });

  test("a file whose checksum record does not fit the copy is refused before any page lands", async () => {
    await using dir = await makeTempDir("lf-follow-record-");
    const replicaDir = join(dir.path, "replica");
    const client = new FileReplicaClient({ type: "file", path: replicaDir });
    await client.init();
    const states = images(3);
    await writeLtxChain(
      client,
      states.slice(0, 2).map((image, i) => ({ image, timestamp: 1_700_000_000_000 + i })),
      { pageSize: 4096 },
    );
    const output = join(dir.path, "copy.db");
    const copy = await FollowCopy.create(client, await planRestore(client, {}), {
      output,
      integrity: "full",
      parallelism: 1,
    });
    const before = readFileSync(output);
    // TXID 3 arrives with a record that names its bytes but a wrong post-apply checksum.
    const { scratch, files } = await writeChainFrom(replicaDir, states, () => false);
    const third = files[2] as LtxFileInfo;
    const { checksums } = await scratch.statLtxFile(third);
    if (checksums === undefined) throw new Error("the scratch replica's file has no checksum record");
    await client.writeLtxFile(third, await scratch.readLtxFile(third), {
      timestamp: third.createdAt,
      checksums: { ...checksums, postApply: checksums.postApply ^ 1n },
    });
    await expect(copy.apply(client, third)).rejects.toBeInstanceOf(ChecksumMismatchError);
    copy.close();
    expect(readFileSync(output)).toEqual(before);
    expect(readFileSync(`${output}-txid`, "utf8")).toBe("0000000000000002\n");
  });

  test("bridges a level-0 gap from a compacted level", async () => {
    await using dir = await makeTempDir("lf-follow-gap-");
    const replicaDir = join(dir.path, "replica");
    const client = new FileReplicaClient({ type: "file", path: replicaDir });
    await client.init();
    const states = images(7);
    await writeLtxChain(
      client,
      states.slice(0, 3).map((image, i) => ({ image, timestamp: 1_700_000_000_000 + i })),
      { pageSize: 4096 },
    );
    const output = join(dir.path, "copy.db");
    const stop = new AbortController();
    const io = collectingIo();
    const follow = runFollow(io, client, {
      output,
      files: await listAllLtxFiles(client),
      integrity: "none",
      parallelism: 1,
      intervalMs: 20,
      json: true,
      signal: stop.signal,
    });
    await until(() => existsSync(`${output}-txid`));
    // 4..6 only ever reach the replica compacted into level 1; level 0 resumes at 7.
    const { scratch, files } = await writeChainFrom(replicaDir, states, (max) => max === txid(7));
    const decoded = [];
    for (const f of files.slice(3, 6)) decoded.push(decodeLtxFile(await scratch.readLtxFile(f), { path: "in" }));
    const chunks: Uint8Array[] = [];
    compactLtxFiles(decoded, (c) => void chunks.push(new Uint8Array(c)));
    await client.writeLtxFile({ level: 1, minTxid: txid(4), maxTxid: txid(6) }, new Uint8Array(Buffer.concat(chunks)), {
      timestamp: new Date(),
    });
    await until(() => readFileSync(`${output}-txid`, "utf8") === "0000000000000007\n");
    stop.abort();
    expect(await follow).toBe(0);
    expect(io.lines.some((l) => l.includes('"fromTxid":"0000000000000004"'))).toBe(true);
    expect(withoutCopyHeader(readFileSync(output))).toEqual(withoutCopyHeader(states[6] as Uint8Array));
  });

  test("refuses --txid, --timestamp, --dry-run and a v0.3 replica; an output without -txid is not resumed", async () => {
    await using dir = await makeTempDir("lf-follow-usage-");
    const replica = join(dir.path, "replica");
    const client = new FileReplicaClient({ type: "file", path: replica });
    await client.init();
    await writeLtxChain(client, [{ image: images(1)[0] as Uint8Array, timestamp: 1 }], { pageSize: 4096 });
    const out = join(dir.path, "copy.db");
    const txidRun = await runCli(["restore", "-f", "-txid", "1", "-o", out, replica]);
    expect(txidRun.code).toBe(2);
    expect(txidRun.stderr).toContain("Cannot use --follow with --txid");
    const ts = await runCli(["restore", "--follow", "--timestamp", "2026-01-01T00:00:00Z", "-o", out, replica]);
    expect(ts.stderr).toContain("Cannot use --follow with --timestamp");
    expect((await runCli(["restore", "-f", "--dry-run", "-o", out, replica])).code).toBe(2);
    const v3 = await runCli(["restore", "-f", "--generation", "0000000000000001", "-o", out, replica]);
    expect(v3.code).toBe(2);
    expect(v3.stderr).toContain("Cannot follow a Litestream v0.3 replica");
    expect((await runCli(["restore", "-follow-interval", "1s", "-o", out, replica])).code).toBe(2);
    await Bun.write(out, "x");
    const noTxid = await runCli(["restore", "-f", "-o", out, replica]);
    expect(noTxid.code).toBe(1);
    expect(noTxid.stderr).toContain(`'${out}-txid' does not`);
  });
});

/**
 * Writes `states` as TXIDs 1..n into a scratch replica and copies the files
 * the target replica lacks into it; returns every level-0 file, by TXID.
 */
async function writeChainFrom(
  target: string,
  states: readonly Uint8Array[],
  copy: (maxTxid: bigint) => boolean = () => true,
) {
  const scratch = new FileReplicaClient({ type: "file", path: `${target}-scratch` });
  await scratch.init();
  await writeLtxChain(
    scratch,
    states.map((image, i) => ({ image, timestamp: 1_700_000_000_000 + i })),
    { pageSize: 4096 },
  );
  const client: ReplicaClient = new FileReplicaClient({ type: "file", path: target });
  const have = new Set((await listAllLtxFiles(client)).map((f) => f.maxTxid));
  const files = (await listAllLtxFiles(scratch))
    .filter((f) => f.level === 0)
    .sort((a, b) => Number(a.minTxid - b.minTxid));
  for (const f of files) {
    if (have.has(f.maxTxid) || !copy(f.maxTxid)) continue;
    // The checksum record goes with the copy, so the copy's files are checked as the scratch's are.
    const { checksums } = await scratch.statLtxFile(f);
    await client.writeLtxFile(f, await scratch.readLtxFile(f), { timestamp: f.createdAt, checksums });
  }
  return {
    scratch,
    files,
    copied: (await listAllLtxFiles(client)).filter((f) => f.level === 0).sort((a, b) => Number(a.minTxid - b.minTxid)),
  };
}
