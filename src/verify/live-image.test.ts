import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { pageChecksum, CHECKSUM_FLAG } from "../ltx/checksum.ts";
import { firstDifferingPage, imageChecksum, readLiveImage } from "./live-image.ts";

describe("imageChecksum", () => {
  test("is 2^63 | XOR of the page checksums", () => {
    const image = new Uint8Array(3 * 512);
    image.fill(7, 512, 1024);
    image.fill(9, 1024);
    const expected =
      CHECKSUM_FLAG |
      (pageChecksum(1, image.subarray(0, 512)) ^
        pageChecksum(2, image.subarray(512, 1024)) ^
        pageChecksum(3, image.subarray(1024)));
    expect(imageChecksum(image, 512)).toBe(expected);
  });
});

describe("firstDifferingPage", () => {
  test("OK: equal images", () => {
    expect(firstDifferingPage(new Uint8Array(1024), new Uint8Array(1024), 512)).toBeUndefined();
  });
  test("names the first differing page", () => {
    const b = new Uint8Array(2048);
    b[1500] = 1;
    b[2000] = 1;
    expect(firstDifferingPage(new Uint8Array(2048), b, 512)).toBe(3);
  });
  test("a page present in only one image differs", () => {
    expect(firstDifferingPage(new Uint8Array(1024), new Uint8Array(1536), 512)).toBe(3);
  });
});

describe("readLiveImage", () => {
  test("reads the WAL-mode database including uncheckpointed pages", async () => {
    await using dir = await makeTempDir("live-image-");
    const path = join(dir.path, "a.db");
    const db = new Database(path, { create: true });
    db.exec(
      "PRAGMA journal_mode = wal; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v); INSERT INTO t VALUES (randomblob(9000));",
    );
    const pages: Uint8Array[] = [];
    const live = readLiveImage(path, { onPage: (pgno, page) => void (pages[pgno - 1] = page.slice()) });
    const image = new Uint8Array(db.serialize());
    expect(live.pageSize).toBe(4096);
    expect(Buffer.concat(pages)).toEqual(Buffer.from(image));
    expect(live.pages).toBe(image.length / 4096);
    expect(live.checksum).toBe(imageChecksum(image, 4096));
    db.close();
  });

  test("reads the state of the last commit, not a transaction in progress, and frames past a checkpoint", async () => {
    await using dir = await makeTempDir("live-image-");
    const path = join(dir.path, "a.db");
    const db = new Database(path, { create: true });
    db.exec("PRAGMA journal_mode = wal; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v);");
    for (let i = 0; i < 50; i++) db.exec(`INSERT INTO t VALUES (randomblob(${500 + i * 97}))`);
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    db.exec("UPDATE t SET v = randomblob(700) WHERE rowid % 3 = 0; DELETE FROM t WHERE rowid > 40");
    const committed = new Uint8Array(db.serialize());
    const writer = new Database(path);
    writer.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (randomblob(20000))");
    const pages: Uint8Array[] = [];
    const live = readLiveImage(path, { onPage: (pgno, page) => void (pages[pgno - 1] = page.slice()) });
    expect(Buffer.concat(pages)).toEqual(Buffer.from(committed));
    expect(live.pages).toBe(committed.length / 4096);
    expect(live.checksum).toBe(imageChecksum(committed, 4096));
    writer.exec("ROLLBACK");
    writer.close();
    db.close();
  });
});
