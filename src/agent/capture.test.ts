import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readdirSync, statSync } from "node:fs";
import { nullLogger } from "../log.ts";
import { txid } from "../ltx/txid.ts";
import { verifyLtxFile } from "../ltx/decoder.ts";
import { decodeHeader, hasNoChecksum } from "../ltx/header.ts";
import { FileReplicaClient } from "../replica/file-client.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { planRestore } from "../restore/planner.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { fileHash, imageHash } from "../../test/harness/sqlite-image.ts";
import { DbCapture } from "./capture.ts";
import { LocalStore } from "./local-store.ts";
import { flush, testUploader } from "../../test/harness/uploader.ts";

const OPTIONS = { busyTimeoutMs: 2000, minCheckpointPageCount: 1000, truncatePageN: 100000, checkpointIntervalMs: 60_000 };

async function setup(dir: string) {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000;");
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const store = new LocalStore(join(dir, "state"));
  const open = () => DbCapture.open(dbPath, { store, capture: OPTIONS, log: nullLogger(), floorTxid: txid(0) });
  const replica = new FileReplicaClient({ type: "file", path: join(dir, "replica") });
  const uploader = testUploader({ name: "file", client: replica, store });
  const hashes = new Map<bigint, string>();
  async function record(cap: DbCapture): Promise<void> {
    const res = cap.sync();
    if (res) hashes.set(res.txid, imageHash(app));
    await flush(uploader);
  }
  async function restoreAll(): Promise<number> {
    let n = 0;
    for (const [id, hash] of hashes) {
      const out = join(dir, `restored-${id}.db`);
      const plan = await planRestore(replica, { txid: txid(id) });
      await applyRestorePlan(replica, plan, { output: out });
      expect({ id, hash: fileHash(out) }).toEqual({ id, hash });
      n++;
    }
    return n;
  }
  return { dbPath, app, store, open, replica, uploader, hashes, record, restoreAll };
}

function insert(app: Database, n: number, size = 100): void {
  const stmt = app.prepare("INSERT INTO t (v) VALUES (?)");
  app.transaction(() => {
    for (let i = 0; i < n; i++) stmt.run("x".repeat(size));
  })();
}

describe("DbCapture", () => {
  test("first sync is a snapshot, later syncs are incremental and restore byte for byte", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    const cap = s.open();
    try {
      await s.record(cap);
      expect(cap.position?.txid).toBe(txid(1));
      insert(s.app, 10);
      await s.record(cap);
      s.app.exec("UPDATE t SET v = 'changed' WHERE id = 3");
      s.app.exec("DELETE FROM t WHERE id = 4");
      await s.record(cap);
      expect(cap.sync()).toBeUndefined();
      expect(await s.restoreAll()).toBe(3);
    } finally {
      cap.close();
      s.app.close();
    }
  });

  test("our PASSIVE and TRUNCATE checkpoints keep the chain incremental", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    const cap = s.open();
    try {
      await s.record(cap);
      for (const mode of ["PASSIVE", "TRUNCATE", "PASSIVE"] as const) {
        insert(s.app, 50, 500);
        await s.record(cap);
        expect(cap.checkpoint(mode)).toBe(mode);
        if (mode === "TRUNCATE") expect(statSync(`${s.dbPath}-wal`).size).toBeLessThan(3 * 4120);
        insert(s.app, 5);
        const res = cap.sync();
        expect(res?.snapshot).toBe(false);
        if (res) s.hashes.set(res.txid, imageHash(s.app));
        await flush(s.uploader);
      }
      expect(await s.restoreAll()).toBe(7);
    } finally {
      cap.close();
      s.app.close();
    }
  });

  test("application checkpoints of every mode cannot reset the WAL under the read lock", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    const cap = s.open();
    try {
      await s.record(cap);
      for (const mode of ["PASSIVE", "FULL", "RESTART", "TRUNCATE"]) {
        insert(s.app, 20, 300);
        s.app.exec("PRAGMA busy_timeout = 50");
        s.app.query(`PRAGMA wal_checkpoint(${mode})`).get();
        s.app.exec("PRAGMA busy_timeout = 5000");
        insert(s.app, 3);
        const res = cap.sync();
        expect({ mode, snapshot: res?.snapshot }).toEqual({ mode, snapshot: false });
        if (res) s.hashes.set(res.txid, imageHash(s.app));
        await flush(s.uploader);
      }
      expect(await s.restoreAll()).toBe(5);
    } finally {
      cap.close();
      s.app.close();
    }
  });

  test("a restart resumes incrementally; a WAL reset while stopped forces a snapshot", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    let cap = s.open();
    await s.record(cap);
    insert(s.app, 10);
    await s.record(cap);
    cap.close();
    cap = s.open();
    insert(s.app, 10);
    const resumed = cap.sync();
    expect(resumed?.snapshot).toBe(false);
    if (resumed) s.hashes.set(resumed.txid, imageHash(s.app));
    await flush(s.uploader);
    cap.close();
    // While the agent is away the application checkpoints and restarts the WAL.
    insert(s.app, 10);
    s.app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
    insert(s.app, 2);
    cap = s.open();
    const after = cap.sync();
    expect(after?.snapshot).toBe(true);
    if (after) s.hashes.set(after.txid, imageHash(s.app));
    await flush(s.uploader);
    cap.close();
    s.app.close();
    expect(await s.restoreAll()).toBe(4);
    for (const level of ["0"]) {
      const d = join(dir.path, "replica", "ltx", level);
      for (const name of readdirSync(d)) {
        verifyLtxFile(await Bun.file(join(d, name)).bytes(), { path: name });
      }
    }
  });

  test("fresh local state above a replica continues its checksum chain when given the floor checksum", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    const first = s.open();
    await s.record(first);
    insert(s.app, 10);
    await s.record(first);
    const floor = first.position!;
    first.close();
    insert(s.app, 5);
    // A new device state (lost or migrated) on top of the replica's TXID 2.
    for (const [name, floorChecksum] of [["with", floor.postApplyChecksum], ["without", undefined]] as const) {
      const store = new LocalStore(join(dir.path, `fresh-${name}`));
      const cap = DbCapture.open(s.dbPath, {
        store,
        capture: OPTIONS,
        log: nullLogger(),
        floorTxid: floor.txid,
        ...(floorChecksum === undefined ? {} : { floorChecksum }),
      });
      try {
        const res = cap.sync()!;
        expect(res).toMatchObject({ txid: txid(3), snapshot: true });
        const header = decodeHeader(store.spool.read({ level: 0, minTxid: txid(3), maxTxid: txid(3) }), { path: name });
        if (floorChecksum === undefined) expect(hasNoChecksum(header)).toBe(true);
        else expect({ flags: header.flags, pre: header.preApplyChecksum }).toEqual({ flags: 0, pre: floorChecksum });
      } finally {
        cap.close();
      }
    }
    s.app.close();
  });
});
