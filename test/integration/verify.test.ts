/**
 * `litefleet verify` end to end: an agent in its own process replicates to a
 * file replica, then verify proves equality (fast path and --full), and
 * detects a corrupted replica and a changed live database.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startAgent } from "../harness/agent-process.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { runCli } from "../harness/cli.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { decodeLtxFile } from "../../src/ltx/decoder.ts";
import { formatLtxFileName } from "../../src/ltx/file-name.ts";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import { createReplicaClient } from "../../src/replica/registry.ts";
import type { LtxFileKey, ReplicaClient } from "../../src/replica/client.ts";
import { listAllLtxFiles, planRestore } from "../../src/restore/planner.ts";
import { parseReplicaUrl } from "../../src/replica/url.ts";
import { TAIL_READ_SIZE, verifyChain } from "../../src/verify/chain.ts";
import { readLiveImage } from "../../src/verify/live-image.ts";
import { fastDbYaml } from "../harness/config.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";

function config(dir: string, db: string, statusAddr = ""): string {
  const cfg = join(dir, "litefleet.yml");
  writeFileSync(cfg, [`status: { addr: "${statusAddr}" }`, ...fastDbYaml(db, join(dir, "replica"))].join("\n"));
  return cfg;
}

/** A database of about `blobs` × 64 KiB, replicated by an agent that is then stopped. */
async function replicatedPair(dir: string, blobs: number): Promise<{ db: string; cfg: string }> {
  const db = join(dir, "app.db");
  const app = new Database(db, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
  for (let i = 0; i < blobs; i++) app.run("INSERT INTO t (v) VALUES (randomblob(65536))");
  app.close();
  const cfg = config(dir, db);
  const agent = startAgent(cfg);
  await agent.waitForLog("capture started");
  const more = new Database(db);
  for (let i = 0; i < 3; i++) {
    more.run("INSERT INTO t (v) VALUES (randomblob(100))");
    await Bun.sleep(150);
  }
  more.close();
  await Bun.sleep(500);
  await agent.stop();
  return { db, cfg };
}

/** Every LTX object of a file replica: level directory → file names. */
function ltxFiles(replica: string): string[] {
  const out: string[] = [];
  for (const level of readdirSync(join(replica, "ltx"))) {
    for (const f of readdirSync(join(replica, "ltx", level)).filter((n) => n.endsWith(".ltx"))) {
      out.push(join(replica, "ltx", level, f));
    }
  }
  return out;
}

/** The path of one file of a file replica. */
function ltxPath(replica: string, f: LtxFileKey): string {
  return join(replica, "ltx", String(f.level), formatLtxFileName(f.minTxid, f.maxTxid));
}

/** Wraps a client and counts the bytes its reads return. */
function countingClient(inner: ReplicaClient): ReplicaClient & { bytesRead: number } {
  const wrapper = {
    bytesRead: 0,
    type: inner.type,
    location: inner.location,
    init: (o?: Parameters<ReplicaClient["init"]>[0]) => inner.init(o),
    listLtxFiles: (level: number, o?: Parameters<ReplicaClient["listLtxFiles"]>[1]) => inner.listLtxFiles(level, o),
    async readLtxFile(
      key: Parameters<ReplicaClient["readLtxFile"]>[0],
      o?: Parameters<ReplicaClient["readLtxFile"]>[1],
    ) {
      const bytes = await inner.readLtxFile(key, o);
      wrapper.bytesRead += bytes.length;
      return bytes;
    },
    async openLtxFile(
      key: Parameters<ReplicaClient["openLtxFile"]>[0],
      o?: Parameters<ReplicaClient["openLtxFile"]>[1],
    ) {
      const chunks = await inner.openLtxFile(key, o);
      return {
        checksums: chunks.checksums,
        async *[Symbol.asyncIterator]() {
          for await (const chunk of chunks) {
            wrapper.bytesRead += chunk.length;
            yield chunk;
          }
        },
      };
    },
    statLtxFile: inner.statLtxFile.bind(inner),
    writeLtxFile: inner.writeLtxFile.bind(inner),
    deleteLtxFiles: inner.deleteLtxFiles.bind(inner),
    deleteAll: inner.deleteAll.bind(inner),
  };
  return wrapper;
}

/** The live database's size, from a page-by-page read. */
function liveBytes(path: string): number {
  const live = readLiveImage(path);
  return live.pages * live.pageSize;
}

/** A copy of the live database, assembled from a page-by-page read. */
function liveCopy(path: string): Uint8Array {
  const pages: Uint8Array[] = [];
  readLiveImage(path, { onPage: (pgno, page) => void (pages[pgno - 1] = page.slice()) });
  return new Uint8Array(Buffer.concat(pages));
}

describe("verify", () => {
  test("passes on an untouched pair, fast and --full, downloading < 10% of the database", async () => {
    await using dir = await makeTempDir("verify-ok-");
    const { db, cfg } = await replicatedPair(dir.path, 48);
    const dbSize = liveBytes(db);
    expect(dbSize).toBeGreaterThan(3_000_000);

    const fast = await runCli(["verify", db, "--config", cfg, "--json"]);
    expect(fast.stderr).toBe("");
    expect(fast.code).toBe(0);
    const proof = JSON.parse(fast.stdout);
    expect(proof).toMatchObject({ ok: true, mode: "fast", agentSynced: false, error: null });
    expect(proof.matchedTxid).toBe(proof.txid);
    expect(proof.liveChecksum).toBe(proof.replicaChecksum);
    expect(proof.bytesFetched).toBeLessThan(dbSize / 10);

    // The same count, measured on the wire of a wrapped client.
    const client = countingClient(
      await createReplicaClient({ type: "file", path: join(dir.path, "replica") }, { env: {} }),
    );
    const plan = await planRestore(client, {});
    const before = client.bytesRead;
    const chain = await verifyChain(client, plan);
    expect(client.bytesRead - before).toBe(chain.bytesFetched);
    // Per file: the header, the last TAIL_READ_SIZE bytes, and the rest of a larger page index.
    const indexes = plan.files.map((f) =>
      decodeLtxFile(readFileSync(ltxPath(join(dir.path, "replica"), f)), { path: "x" }),
    );
    const expected = plan.files.reduce((n, f, i) => {
      const last = indexes[i]!.pageIndex.at(-1);
      const need = f.size - (last ? last.offset + last.size : HEADER_SIZE); // end marker, index, index size, trailer
      return n + HEADER_SIZE + Math.max(Math.min(f.size - HEADER_SIZE, TAIL_READ_SIZE), need);
    }, 0);
    expect(chain.bytesFetched).toBe(expected);
    expect(chain.bytesFetched).toBeLessThan(dbSize / 10);

    const full = await runCli(["verify", db, "--config", cfg, "--full", "--json"]);
    expect(full.code).toBe(0);
    expect(JSON.parse(full.stdout)).toMatchObject({ ok: true, mode: "full", firstDifferingPage: null });

    const text = await runCli(["verify", db, join(dir.path, "replica")]);
    expect(text.code).toBe(0);
    expect(text.stdout).toStartWith(`ok: ${db} equals`);
  }, 60_000);

  test("over S3 the fast path makes only ranged GETs, totalling < 10% of the database", async () => {
    await using dir = await makeTempDir("verify-s3-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const { db } = await replicatedPair(dir.path, 48);
    const dbSize = liveBytes(db);
    // Copy the file replica into S3.
    const from = await createReplicaClient({ type: "file", path: join(dir.path, "replica") }, { env: {} });
    const url = `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`;
    const to = await createReplicaClient(parseReplicaUrl(url, { cwd: dir.path }), { env });
    await to.init();
    for (const f of await listAllLtxFiles(from)) {
      // A copy keeps each file's checksum record.
      const { checksums } = await from.statLtxFile(f);
      await to.writeLtxFile(f, await from.readLtxFile(f), { timestamp: f.createdAt, checksums });
    }
    const start = s3.requests.length;
    const res = await runCli(["verify", db, url, "--json"], { env });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const proof = JSON.parse(res.stdout);
    const gets = s3.requests.slice(start).filter((r) => r.method === "GET" && r.kind === "GetObject");
    // Header, tail, and for files with a page index over TAIL_READ_SIZE bytes the rest of it.
    expect(gets.length).toBeGreaterThanOrEqual(2 * proof.files);
    expect(gets.length).toBeLessThanOrEqual(3 * proof.files);
    let ranged = 0;
    for (const g of gets) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(g.headers.range ?? ""));
      expect(m).not.toBeNull();
      ranged += Number(m?.[2]) - Number(m?.[1]) + 1;
    }
    expect(ranged).toBe(proof.bytesFetched);
    expect(ranged).toBeLessThan(dbSize / 10);
  }, 60_000);

  test("a flipped page in a replica object fails --full with exit 3 naming its TXIDs", async () => {
    await using dir = await makeTempDir("verify-flip-");
    const { db, cfg } = await replicatedPair(dir.path, 4);
    // A large file on the restore path: the level-9 snapshot (the first
    // batch, L0 1-1, holds the same state and restore prefers the snapshot).
    const victim = ltxFiles(join(dir.path, "replica"))
      .filter((f) => statSync(f).size > 8192)
      .sort()
      .at(-1) as string;
    const bytes = new Uint8Array(readFileSync(victim));
    const h = decodeHeader(bytes, { path: victim });
    bytes[HEADER_SIZE + 2000] = (bytes[HEADER_SIZE + 2000] ?? 0) ^ 0xff;
    writeFileSync(victim, bytes);

    const full = await runCli(["verify", db, "--config", cfg, "--full", "--json"]);
    expect(full.code).toBe(3);
    const report = JSON.parse(full.stdout);
    const txid = h.minTxid.toString(16).padStart(16, "0");
    expect(report).toMatchObject({ ok: false, mode: "full", firstBadTxid: txid });
    expect(report.badFile).toContain(victim.split("/").pop() as string);
    expect(full.stderr).toContain(`replica file at TXID ${txid} is bad`);
    expect(full.stderr).toContain("file checksum");
  }, 60_000);

  test("a broken chain (changed pre-apply checksum) fails the fast path with exit 3 naming the TXID", async () => {
    await using dir = await makeTempDir("verify-chain-");
    const { db, cfg } = await replicatedPair(dir.path, 4);
    const l0 = ltxFiles(join(dir.path, "replica"))
      .filter((f) => f.includes("/ltx/0/"))
      .sort();
    const victim = l0[l0.length - 1] as string;
    const bytes = new Uint8Array(readFileSync(victim));
    const h = decodeHeader(bytes, { path: victim });
    expect(h.minTxid).toBeGreaterThan(1n);
    bytes[47] = (bytes[47] ?? 0) ^ 0x01; // low byte of the pre-apply checksum
    writeFileSync(victim, bytes);

    const fast = await runCli(["verify", db, "--config", cfg, "--json"]);
    expect(fast.code).toBe(3);
    const txid = h.minTxid.toString(16).padStart(16, "0");
    expect(JSON.parse(fast.stdout)).toMatchObject({
      ok: false,
      mode: "fast",
      firstBadTxid: txid,
      replicaChecksum: null,
    });
    expect(fast.stderr).toContain(`replica file at TXID ${txid} is bad`);
    expect(fast.stderr).toContain("pre-apply checksum");
    expect(fast.stderr).not.toContain("Try:");
  }, 60_000);

  /** Rewrites the header Commit field (bytes 12..15) of `path`; returns the file's first TXID (hex). */
  function setCommit(path: string, commit: (pageNumbers: readonly number[]) => number): string {
    const bytes = new Uint8Array(readFileSync(path));
    const file = decodeLtxFile(bytes, { path });
    expect(file.header.minTxid).toBeGreaterThan(1n);
    new DataView(bytes.buffer).setUint32(12, commit(file.pageNumbers));
    writeFileSync(path, bytes);
    return file.header.minTxid.toString(16).padStart(16, "0");
  }

  test("a header Commit corrupted to 0x7fffffff fails the fast path with exit 3, as restore and --full do", async () => {
    await using dir = await makeTempDir("verify-commit-");
    const { db, cfg } = await replicatedPair(dir.path, 4);
    const l0 = ltxFiles(join(dir.path, "replica"))
      .filter((f) => f.includes("/ltx/0/"))
      .sort();
    const victim = l0[l0.length - 1] as string;
    const txid = setCommit(victim, () => 0x7fffffff);

    const fast = await runCli(["verify", db, "--config", cfg, "--json"]);
    expect(fast.code).toBe(3);
    const report = JSON.parse(fast.stdout);
    expect(report).toMatchObject({ ok: false, mode: "fast", firstBadTxid: txid, replicaChecksum: null });
    expect(report.badFile).toContain(victim.split("/").pop() as string);
    expect(fast.stderr).toContain(`replica file at TXID ${txid} is bad`);
    expect(fast.stderr).toContain("to 2147483647 pages, but its page index holds");
    expect(fast.stderr).toContain("run 'litefleet verify --full'");

    const full = await runCli(["verify", db, "--config", cfg, "--full", "--json"]);
    expect(full.code).toBe(3);
    expect(JSON.parse(full.stdout)).toMatchObject({ ok: false, mode: "full", firstBadTxid: txid });
    expect(full.stderr).not.toContain("--full");
    const restore = await runCli(["restore", "-o", join(dir.path, "out.db"), join(dir.path, "replica")]);
    expect(restore.code).toBe(3);
  }, 60_000);

  test("a header Commit below a page number the file holds fails the fast path with exit 3", async () => {
    await using dir = await makeTempDir("verify-commit-low-");
    const { db, cfg } = await replicatedPair(dir.path, 4);
    const l0 = ltxFiles(join(dir.path, "replica"))
      .filter((f) => f.includes("/ltx/0/"))
      .sort();
    const victim = l0[l0.length - 1] as string;
    let highest = 0;
    const txid = setCommit(victim, (pgnos) => (highest = Math.max(...pgnos)) - 1);

    const fast = await runCli(["verify", db, "--config", cfg, "--json"]);
    expect(fast.code).toBe(3);
    expect(JSON.parse(fast.stdout)).toMatchObject({ ok: false, mode: "fast", firstBadTxid: txid });
    expect(fast.stderr).toContain(`page index is invalid: page ${highest} exceeds commit ${highest - 1}`);
    expect(fast.stderr).toContain("run 'litefleet verify --full'");
    const full = await runCli(["verify", db, "--config", cfg, "--full"]);
    expect(full.code).toBe(3);
  }, 60_000);

  test("--full proves a replica whose files record no checksums (NoChecksum), which the fast path cannot", async () => {
    await using dir = await makeTempDir("verify-nochecksum-");
    const db = join(dir.path, "app.db");
    const replica = join(dir.path, "replica");
    const app = new Database(db, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
    const states = [];
    for (let i = 0; i < 3; i++) {
      app.run("INSERT INTO t (v) VALUES (randomblob(3000))");
      states.push({ image: liveCopy(db), timestamp: 1_000_000 + i });
    }
    const client = await createReplicaClient({ type: "file", path: replica }, { env: {} });
    await client.init();
    await writeLtxChain(client, states, { pageSize: readLiveImage(db).pageSize, noChecksum: true });

    const fast = await runCli(["verify", db, replica, "--json"]);
    expect(fast.code).toBe(3);
    expect(fast.stderr).toContain("NoChecksum");
    expect(fast.stderr).toContain("run 'litefleet verify --full'");

    const full = await runCli(["verify", db, replica, "--full", "--json"]);
    expect(full.stderr).toBe("");
    expect(full.code).toBe(0);
    const proof = JSON.parse(full.stdout);
    expect(proof).toMatchObject({ ok: true, mode: "full", txid: "0000000000000003", matchedTxid: "0000000000000003" });
    expect(proof.replicaChecksum).toBe(proof.liveChecksum);

    // A change the replica does not hold: --full names the page, and never says to use --full.
    app.run("UPDATE t SET v = randomblob(3000) WHERE id = 1");
    app.close();
    const changed = await runCli(["verify", db, replica, "--full"]);
    expect(changed.code).toBe(3);
    expect(changed.stderr).toMatch(
      /page \d+ of the live database differs from the replica restored at TXID 0000000000000003/,
    );
    expect(changed.stderr).not.toContain("--full");
  }, 60_000);

  test("a changed row in the live database fails both paths with exit 3", async () => {
    await using dir = await makeTempDir("verify-live-");
    const { db, cfg } = await replicatedPair(dir.path, 4);
    // The agent is stopped: change one row and checkpoint, so nothing will
    // ever replicate it.
    const app = new Database(db);
    app.run("UPDATE t SET v = randomblob(100) WHERE id = (SELECT MAX(id) FROM t)");
    app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    app.close();

    const fast = await runCli(["verify", db, "--config", cfg, "--json"]);
    expect(fast.code).toBe(3);
    const proof = JSON.parse(fast.stdout);
    expect(proof.ok).toBe(false);
    expect(proof.liveChecksum).not.toBe(proof.replicaChecksum);
    expect(fast.stderr).toContain(`at TXID ${proof.txid}`);

    const full = await runCli(["verify", db, "--config", cfg, "--full", "--json"]);
    expect(full.code).toBe(3);
    const report = JSON.parse(full.stdout);
    expect(report.firstDifferingPage).toBeGreaterThanOrEqual(1);
    expect(full.stderr).toContain(`page ${report.firstDifferingPage}`);
  }, 60_000);

  test("with the agent running and a write not yet uploaded, it syncs the agent and proves equality", async () => {
    await using dir = await makeTempDir("verify-live-agent-");
    const db = join(dir.path, "app.db");
    const app = new Database(db, { create: true });
    app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);");
    for (let i = 0; i < 8; i++) app.run("INSERT INTO t (v) VALUES (randomblob(4000))");
    const addr = `127.0.0.1:${await freePort()}`;
    const cfg = config(dir.path, db, addr);
    const agent = startAgent(cfg);
    try {
      await agent.waitForLog("status server listening");
      await agent.waitForLog("capture started");
      // Written just before verify: the replica does not hold it until verify's sync.
      app.run("INSERT INTO t (v) VALUES (randomblob(4000))");
      const res = await runCli(["verify", db, "--config", cfg, "--json"]);
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ ok: true, agentSynced: true });
    } finally {
      app.close();
      await agent.stop();
    }
  }, 60_000);

  test("a database missing from the config is a usage error", async () => {
    await using dir = await makeTempDir("verify-usage-");
    const cfg = config(dir.path, join(dir.path, "other.db"));
    const res = await runCli(["verify", join(dir.path, "app.db"), "--config", cfg]);
    expect(res.code).toBe(2);
  });
});
