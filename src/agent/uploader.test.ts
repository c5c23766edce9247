import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nullLogger } from "../log.ts";
import { formatLtxFileName } from "../ltx/file-name.ts";
import { txid } from "../ltx/txid.ts";
import { FileReplicaClient } from "../replica/file-client.ts";
import { planRestore } from "../restore/planner.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { DbCapture } from "./capture.ts";
import { LocalStore } from "./local-store.ts";
import { Uploader } from "./uploader.ts";

const CAPTURE = { busyTimeoutMs: 1000, minCheckpointPageCount: 1000, truncatePageN: 0, checkpointIntervalMs: 60_000 };

async function fixture(dir: string) {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);");
  const store = new LocalStore(join(dir, "state"));
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0) });
  const write = (n: number) => {
    for (let i = 0; i < n; i++) {
      app.run("INSERT INTO t (v) VALUES (?)", [`v${i}`]);
      cap.sync();
    }
  };
  const replica = (name: string) => new FileReplicaClient({ type: "file", path: join(dir, name) });
  return { app, store, cap, write, replica };
}

describe("Uploader.upload", () => {
  test("uploads every L0 file in TXID order and records the position", async () => {
    await using dir = await makeTempDir("uploader-");
    const f = await fixture(dir.path);
    f.write(4);
    const client = f.replica("r1");
    const up = new Uploader({ name: "r1", client, store: f.store, log: nullLogger() });
    const res = await up.upload();
    expect(res).toEqual({ files: 4, bytes: res.bytes, needsSnapshot: false });
    expect(up.position?.maxTxid).toBe(txid(4));
    expect(f.store.readRemotePosition("r1")?.maxTxid).toBe(txid(4));
    expect((await up.upload()).files).toBe(0);
    f.cap.close();
    f.app.close();
  });

  test("a replica added after the spool was pruned gets a snapshot that bridges the gap", async () => {
    await using dir = await makeTempDir("uploader-");
    const f = await fixture(dir.path);
    f.write(3);
    for (const id of [1n, 2n]) f.store.removeLtxFile(0, txid(id), txid(id));
    const client = f.replica("late");
    const up = new Uploader({ name: "late", client, store: f.store, log: nullLogger() });
    expect((await up.upload()).needsSnapshot).toBe(true);
    f.cap.writeLevel9Snapshot();
    f.write(2);
    const res = await up.upload();
    expect(res.needsSnapshot).toBe(false);
    const plan = await planRestore(client, {});
    expect(plan.txid).toBe(txid(5));
    expect(plan.files.map((x) => [x.level, x.maxTxid])).toEqual([
      [9, txid(3)],
      [0, txid(4)],
      [0, txid(5)],
    ]);
    f.cap.close();
    f.app.close();
  });
});

describe("Uploader.refreshPosition", () => {
  test("a missing or short remote copy of a spooled file is sent again", async () => {
    await using dir = await makeTempDir("uploader-");
    const f = await fixture(dir.path);
    f.write(3);
    const client = f.replica("r1");
    const up = new Uploader({ name: "r1", client, store: f.store, log: nullLogger() });
    await up.upload();
    // A crash cut the upload of TXID 2 short on a lenient server.
    writeFileSync(join(dir.path, "r1", "ltx", "0", formatLtxFileName(txid(2), txid(2))), new Uint8Array(0));
    const again = new Uploader({ name: "r1", client, store: f.store, log: nullLogger() });
    expect((await again.refreshPosition()).maxTxid).toBe(txid(1));
    expect((await again.upload()).files).toBe(2);
    expect((await planRestore(client, {})).txid).toBe(txid(3));
    f.cap.close();
    f.app.close();
  });
});
