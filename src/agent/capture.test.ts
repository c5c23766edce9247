import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { nullLogger } from "../log.ts";
import { txid } from "../ltx/txid.ts";
import { decodeLtxFile, verifyLtxFile } from "../ltx/decoder.ts";
import { decodeHeader, hasNoChecksum } from "../ltx/header.ts";
import { FileReplicaClient } from "../replica/file/replica-client.ts";
import {
  decodeWalHeader,
  walChecksum,
  WAL_FRAME_HEADER_SIZE,
  WAL_HEADER_SIZE,
  type WalHeader,
} from "../sqlite/wal-reader.ts";
import { applyRestorePlan } from "../restore/applier.ts";
import { planRestore } from "../restore/planner.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { fileHash, imageHash } from "../../test/harness/sqlite-image.ts";
import { DbCapture } from "./capture.ts";
import { LocalStore } from "./local-store.ts";
import { flush, testUploader } from "../../test/harness/uploader.ts";

const OPTIONS = {
  busyTimeoutMs: 2000,
  minCheckpointPageCount: 1000,
  truncatePageN: 100000,
  checkpointIntervalMs: 60_000,
};

async function setup(dir: string) {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000;");
  app.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const store = LocalStore.open(join(dir, "state"));
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

/**
 * Appends a valid commit frame to the WAL file the way a writer killed
 * before publishing its commit leaves one: checksummed and salted like the
 * frames before it, but not in the wal-index.
 */
function appendUnpublishedCommit(dbPath: string): void {
  const wal = readFileSync(`${dbPath}-wal`);
  const hdr = decodeWalHeader(wal) as WalHeader;
  const frameSize = WAL_FRAME_HEADER_SIZE + hdr.pageSize;
  const frames = Math.floor((wal.length - WAL_HEADER_SIZE) / frameSize);
  const last = WAL_HEADER_SIZE + (frames - 1) * frameSize;
  const frame = new Uint8Array(wal.subarray(last, last + frameSize));
  const prev =
    new DataView(frame.buffer).getUint32(16) === 0
      ? hdr.checksum
      : ([new DataView(frame.buffer).getUint32(16), new DataView(frame.buffer).getUint32(20)] as const);
  frame[WAL_FRAME_HEADER_SIZE + hdr.pageSize - 1] = (frame[WAL_FRAME_HEADER_SIZE + hdr.pageSize - 1] ?? 0) ^ 0x5a;
  let sum = walChecksum(hdr.bigEndian, frame.subarray(0, 8), prev);
  sum = walChecksum(hdr.bigEndian, frame.subarray(WAL_FRAME_HEADER_SIZE), sum);
  const view = new DataView(frame.buffer);
  view.setUint32(16, sum[0]);
  view.setUint32(20, sum[1]);
  const fd = openSync(`${dbPath}-wal`, "r+");
  writeSync(fd, frame, 0, frame.length, last + frameSize);
  closeSync(fd);
}

describe("DbCapture", () => {
  test("a commit frame in the WAL that SQLite never published (its writer was killed) is not captured (issue #11, chaos seed 37)", async () => {
    await using dir = await makeTempDir("capture-");
    const s = await setup(dir.path);
    const cap = s.open();
    await s.record(cap);
    insert(s.app, 3);
    await s.record(cap);
    appendUnpublishedCommit(s.dbPath);
    // SQLite does not count it (the wal-index says so); neither does capture.
    expect(cap.sync()).toBeUndefined();
    // The next real commit overwrites it; capture goes on incrementally.
    insert(s.app, 2);
    const res = cap.sync();
    expect(res?.reason).toBeUndefined();
    expect(res?.snapshot).toBe(false);
    if (res) s.hashes.set(res.txid, imageHash(s.app));
    await flush(s.uploader);
    expect(await s.restoreAll()).toBe(3);
    cap.close();
    s.app.close();
  });

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

  test("a restart resumes incrementally; a WAL reset while stopped resyncs only the changed pages", async () => {
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
    expect(after).toMatchObject({
      snapshot: false,
      resync: true,
      reason: "database changed while it was not captured (the agent stopped, or a restore paused capture)",
    });
    if (after) s.hashes.set(after.txid, imageHash(s.app));
    await flush(s.uploader);
    cap.close();
    s.app.close();
    expect(await s.restoreAll()).toBe(4);
    for (const level of ["0"]) {
      const d = join(dir.path, "replica", "ltx", level);
      // Beside each file its checksum sidecar (`.ltx.meta.json`).
      for (const name of readdirSync(d).filter((n) => n.endsWith(".ltx"))) {
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
    for (const [name, floorChecksum] of [
      ["with", floor.postApplyChecksum],
      ["without", undefined],
    ] as const) {
      const store = LocalStore.open(join(dir.path, `fresh-${name}`));
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

  describe("resync after the position is lost or unprovable (issue #11)", () => {
    /** A database of about `mib` MiB of incompressible rows (1000 bytes each), captured and uploaded. */
    async function bigDatabase(dir: string, mib: number) {
      const s = await setup(dir);
      const rows = Math.floor((mib * 1024 * 1024) / 1100);
      const stmt = s.app.prepare("INSERT INTO t (v) VALUES (randomblob(1000))");
      s.app.transaction(() => {
        for (let i = 0; i < rows; i++) stmt.run();
      })();
      const cap = s.open();
      const full = cap.sync()!;
      s.hashes.set(full.txid, imageHash(s.app));
      await flush(s.uploader);
      cap.close();
      return { s, rows, full, pos: s.store.readPosition()! };
    }

    /** 200 scattered updates, the application's own TRUNCATE checkpoint, then 50 new rows. */
    function changeWhileStopped(app: Database, rows: number): void {
      app.transaction(() => {
        for (let i = 0; i < 200; i++)
          app.run("UPDATE t SET v = randomblob(1000) WHERE id = ?", [1 + ((i * 7919) % rows)]);
      })();
      app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
      app.run("INSERT INTO t (v) SELECT randomblob(1000) FROM t LIMIT 50");
    }

    async function syncAndRecord(s: Awaited<ReturnType<typeof setup>>, cap: DbCapture) {
      const res = cap.sync();
      if (res) s.hashes.set(res.txid, imageHash(s.app));
      await flush(s.uploader);
      return res;
    }

    function l0(store: LocalStore, id: bigint) {
      return decodeLtxFile(store.spool.read({ level: 0, minTxid: txid(id), maxTxid: txid(id) }), { path: "l0" });
    }

    test("an application TRUNCATE checkpoint while stopped: the next L0 holds only the changed pages", async () => {
      await using dir = await makeTempDir("capture-");
      const { s, rows, full, pos } = await bigDatabase(dir.path, 4);
      changeWhileStopped(s.app, rows);
      const cap = s.open();
      try {
        const res = await syncAndRecord(s, cap);
        expect(res).toMatchObject({ txid: txid(2), snapshot: false, resync: true });
        // 200 updated rows on at most 200 leaf pages, 50 new rows, interior pages, page 1.
        expect(full.pages).toBeGreaterThan(900);
        expect(res!.pages).toBeLessThan(300);
        expect(res!.size).toBeLessThan(full.size / 3);
        const file = l0(s.store, 2n);
        expect({ flags: file.header.flags, pre: file.header.preApplyChecksum }).toEqual({
          flags: 0,
          pre: pos.postApplyChecksum,
        });
        // The database grew: every page past the old size is in the file.
        expect(file.header.commit).toBeGreaterThan(pos.commit);
        for (let p = pos.commit + 1; p <= file.header.commit; p++) expect(file.pageNumbers).toContain(p);
        // Later syncs are ordinary incremental ones again.
        insert(s.app, 3);
        expect(await syncAndRecord(s, cap)).toMatchObject({ snapshot: false, resync: false });
      } finally {
        cap.close();
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(3);
    });

    test("a database that shrank while stopped resyncs with the smaller commit", async () => {
      await using dir = await makeTempDir("capture-");
      const { s, rows, pos } = await bigDatabase(dir.path, 1);
      s.app.run("DELETE FROM t WHERE id > ?", [Math.floor(rows / 2)]);
      s.app.exec("VACUUM");
      s.app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
      const cap = s.open();
      try {
        const res = await syncAndRecord(s, cap);
        expect(res).toMatchObject({ snapshot: false, resync: true });
        expect(l0(s.store, res!.txid).header.commit).toBeLessThan(pos.commit);
      } finally {
        cap.close();
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(2);
    });

    test("a resync that finds no changed page writes only the last WAL frame's page (for stock Litestream) and restores", async () => {
      await using dir = await makeTempDir("capture-");
      const { s } = await bigDatabase(dir.path, 1);
      let cap = s.open();
      insert(s.app, 5);
      await syncAndRecord(s, cap);
      cap.close();
      // The saved position no longer proves anything (its salts are off),
      // but the database did not change.
      const posPath = join(s.store.dir, "position.json");
      const pos = JSON.parse(readFileSync(posPath, "utf8")) as { salt1: number };
      writeFileSync(posPath, JSON.stringify({ ...pos, salt1: (pos.salt1 + 7) >>> 0 }));
      cap = s.open();
      try {
        const res = await syncAndRecord(s, cap);
        // The page of the last frame stays in, unchanged: stock Litestream's
        // resume looks for it in the newest L0 file (docs/FORMAT.md).
        expect(res).toMatchObject({ resync: true, pages: 1 });
        insert(s.app, 5);
        expect(await syncAndRecord(s, cap)).toMatchObject({ snapshot: false, resync: false });
      } finally {
        cap.close();
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(4);
    });

    test("a damaged or mismatching pages.crc is not trusted: the resync sends every page", async () => {
      await using dir = await makeTempDir("capture-");
      const { s, rows } = await bigDatabase(dir.path, 1);
      const crcPath = join(s.store.dir, "pages.crc");
      const older = readFileSync(crcPath);
      const damages: Array<[string, () => void]> = [
        [
          "flipped entry",
          () => {
            const bytes = readFileSync(crcPath);
            bytes[32 + 8 * 5 + 3] = (bytes[32 + 8 * 5 + 3] ?? 0) ^ 0x01;
            writeFileSync(crcPath, bytes);
          },
        ],
        ["truncated", () => writeFileSync(crcPath, readFileSync(crcPath).subarray(0, 100))],
        ["another state's file", () => writeFileSync(crcPath, older)],
        ["missing", () => rmSync(crcPath)],
      ];
      for (const [name, damage] of damages) {
        changeWhileStopped(s.app, rows);
        damage();
        const cap = s.open();
        try {
          const res = await syncAndRecord(s, cap);
          expect({ name, snapshot: res?.snapshot, resync: res?.resync }).toEqual({
            name,
            snapshot: true,
            resync: false,
          });
          const file = l0(s.store, res!.txid);
          expect(file.pageNumbers.length).toBe(file.header.commit);
        } finally {
          cap.close();
        }
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(1 + damages.length);
    });

    test("a crash after the L0 file but before the position continues from that file", async () => {
      await using dir = await makeTempDir("capture-");
      const { s, rows } = await bigDatabase(dir.path, 1);
      const posPath = join(s.store.dir, "position.json");
      const before = readFileSync(posPath);
      let cap = s.open();
      insert(s.app, 20);
      expect(await syncAndRecord(s, cap)).toMatchObject({ txid: txid(2), snapshot: false });
      cap.close();
      writeFileSync(posPath, before); // the position never made it to disk
      changeWhileStopped(s.app, rows);
      cap = s.open();
      try {
        const res = await syncAndRecord(s, cap);
        expect(res).toMatchObject({ txid: txid(3), snapshot: false, resync: true });
        expect(l0(s.store, 3n).header.preApplyChecksum).toBe(l0(s.store, 2n).trailer.postApplyChecksum);
      } finally {
        cap.close();
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(3);
    });

    test("a lost position file with the replica's tip checksum resyncs when pages.crc matches it", async () => {
      await using dir = await makeTempDir("capture-");
      const { s, rows } = await bigDatabase(dir.path, 1);
      let cap = s.open();
      insert(s.app, 20);
      await syncAndRecord(s, cap);
      cap.close();
      // The position and the spool are gone; pages.crc survived.
      rmSync(join(s.store.dir, "position.json"));
      for (const f of s.store.spool.list(0)) s.store.spool.remove(f);
      changeWhileStopped(s.app, rows);
      await s.uploader.settle();
      const tip = await s.uploader.tipChecksum();
      expect(tip?.txid).toBe(txid(2));
      cap = DbCapture.open(s.dbPath, {
        store: s.store,
        capture: OPTIONS,
        log: nullLogger(),
        floorTxid: s.uploader.maxTxid,
        floorChecksum: tip!.checksum,
      });
      try {
        const res = await syncAndRecord(s, cap);
        expect(res).toMatchObject({ txid: txid(3), snapshot: false, resync: true });
        expect(res!.pages).toBeLessThan(300);
        expect(l0(s.store, 3n).header.preApplyChecksum).toBe(tip!.checksum);
      } finally {
        cap.close();
      }
      // Without the tip checksum the state of TXID 2 is unknown: every page.
      rmSync(join(s.store.dir, "position.json"));
      for (const f of s.store.spool.list(0)) s.store.spool.remove(f);
      insert(s.app, 5);
      cap = DbCapture.open(s.dbPath, { store: s.store, capture: OPTIONS, log: nullLogger(), floorTxid: txid(3) });
      try {
        expect(await syncAndRecord(s, cap)).toMatchObject({ txid: txid(4), snapshot: true });
      } finally {
        cap.close();
      }
      s.app.close();
      expect(await s.restoreAll()).toBe(4);
    });
  });
});
