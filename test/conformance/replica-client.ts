/**
 * The shared `ReplicaClient` conformance suite: every contract written on the
 * interface, run against each backend by its own `*.test.ts` file.
 *
 * @module
 */

import { describe, expect, test } from "bun:test";
import { NotFoundError } from "../../src/errors.ts";
import { SNAPSHOT_LEVEL, type LtxFileInfo, type LtxFileKey, type ReplicaClient } from "../../src/replica/client.ts";
import { txid } from "../../src/ltx/txid.ts";
import { ByteThrottle } from "../../src/replica/throttle.ts";
import { bytesSource } from "../../src/platform/byte-source.ts";
import { mulberry32 } from "../harness/prng.ts";
import { CHECKSUM_FLAG } from "../../src/ltx/checksum.ts";
import { verifyLtxFile } from "../../src/ltx/decoder.ts";
import { encodeLtxFile } from "../../src/ltx/encoder.ts";
import { HEADER_FLAG_NO_CHECKSUM, newLtxHeader } from "../../src/ltx/header.ts";

/** One fresh, empty replica for one test; disposing it removes whatever the test wrote. */
export interface ReplicaClientFixture extends AsyncDisposable {
  readonly client: ReplicaClient;
  /**
   * Stores raw bytes at `path` relative to the directory (prefix) of `level`,
   * bypassing the client, to plant objects that are not LTX files.
   */
  writeRaw(level: number, path: string, body: Uint8Array): Promise<void>;
}

/** What a backend can promise beyond the interface contracts. */
export interface ReplicaClientSuiteOptions {
  /**
   * Listings return the timestamp given to `writeLtxFile` as `createdAt`
   * (file mtime). Otherwise `createdAt` is the backend's own write time.
   * @default false
   */
  readonly listsWriteTimestamp?: boolean;
}

/** The fixed LTX timestamp used by writes in this suite. */
const TIMESTAMP = new Date("2024-05-06T07:08:09.123Z");

/**
 * Registers a `describe(name)` block that checks every `ReplicaClient`
 * contract against clients made by `makeClient` (one per test).
 */
export function runReplicaClientSuite(
  name: string,
  makeClient: () => Promise<ReplicaClientFixture>,
  options: ReplicaClientSuiteOptions = {},
): void {
  describe(name, () => {
    test("init() succeeds on an empty replica", async () => {
      await using f = await makeClient();
      await f.client.init();
      expect(await list(f.client, 0)).toEqual([]);
    });

    test("writeLtxFile() stores an LTX file NoChecksum with its checksum record, which open, stat and a copy keep", async () => {
      await using f = await makeClient();
      const rand = mulberry32(11);
      const pages = [1, 2, 3].map((pgno) => ({
        pgno,
        data: Uint8Array.from({ length: 512 }, () => Math.floor(rand() * 256)),
      }));
      const k = { level: 0, minTxid: txid(4), maxTxid: txid(4) };
      const header = newLtxHeader({ ...k, pageSize: 512, commit: 3, timestamp: TIMESTAMP.getTime() });
      const pre = CHECKSUM_FLAG | 0x1234n;
      const post = CHECKSUM_FLAG | 0x5678n;
      await f.client.writeLtxFile(k, encodeLtxFile({ ...header, preApplyChecksum: pre }, pages, post), {
        timestamp: TIMESTAMP,
      });
      const stored = verifyLtxFile(await f.client.readLtxFile(k), { path: "stored" });
      expect(stored.header.flags).toBe(HEADER_FLAG_NO_CHECKSUM);
      const record = { preApply: pre, postApply: post, file: stored.trailer.fileChecksum };
      expect((await f.client.statLtxFile(k)).checksums).toEqual(record);
      const body = await f.client.openLtxFile(k);
      expect(body.checksums).toEqual(record);
      for await (const _ of body) {
        // Read to the end.
      }
      const copy = { ...k, level: 1 };
      await f.client.writeLtxFile(copy, await f.client.readLtxFile(k), { timestamp: TIMESTAMP, checksums: record });
      expect((await f.client.statLtxFile(copy)).checksums).toEqual(record);
      await f.client.writeLtxFile(copy, await f.client.readLtxFile(k), { timestamp: TIMESTAMP });
      expect((await f.client.statLtxFile(copy)).checksums).toBeUndefined();
    });

    test("type and location are set", async () => {
      await using f = await makeClient();
      expect(f.client.type).toMatch(/^[a-z0-9]+$/);
      expect(f.client.location.length).toBeGreaterThan(0);
    });

    test.each([0, 1, SNAPSHOT_LEVEL])(
      "writeLtxFile() then listLtxFiles() and readLtxFile() round-trip at level %d",
      async (level) => {
        await using f = await makeClient();
        const k = key(level, 1, 5);
        const body = bytes(1000, level);
        const { etag, ...info } = await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP });
        expect(info).toEqual({ ...k, size: 1000, createdAt: TIMESTAMP });
        const listed = await list(f.client, level);
        expect(listed.map(keyOf)).toEqual([k]);
        expect(listed[0]?.size).toBe(1000);
        // The second-writer guard trusts an ETag the listing repeats (issue #13).
        expect(listed[0]?.etag).toBe(etag);
        expect(await f.client.readLtxFile(k)).toEqual(body);
      },
    );

    test("writeLtxFile() of other bytes under the same key changes the listed ETag, if the backend has ETags", async () => {
      await using f = await makeClient();
      const k = key(0, 7, 7);
      const first = await f.client.writeLtxFile(k, bytes(500, 1), { timestamp: TIMESTAMP });
      const second = await f.client.writeLtxFile(k, bytes(500, 2), { timestamp: TIMESTAMP });
      const listed = await list(f.client, 0);
      expect(listed[0]?.etag).toBe(second.etag);
      if (first.etag !== undefined) expect(second.etag).not.toBe(first.etag);
    });

    test("writeLtxFile() stores an empty body", async () => {
      await using f = await makeClient();
      const k = key(0, 3, 3);
      await f.client.writeLtxFile(k, new Uint8Array(0), { timestamp: TIMESTAMP });
      expect((await list(f.client, 0)).map((i) => i.size)).toEqual([0]);
      expect(await f.client.readLtxFile(k)).toEqual(new Uint8Array(0));
    });

    test("listLtxFiles() reports createdAt", async () => {
      await using f = await makeClient();
      await f.client.writeLtxFile(key(0, 1, 1), bytes(10, 1), { timestamp: TIMESTAMP });
      const [info] = await list(f.client, 0);
      expect(info?.createdAt).toBeInstanceOf(Date);
      const ms = info?.createdAt.getTime() ?? Number.NaN;
      expect(Number.isNaN(ms)).toBe(false);
      if (options.listsWriteTimestamp === true) {
        // Some file systems keep whole seconds only.
        expect(Math.abs(ms - TIMESTAMP.getTime())).toBeLessThan(1000);
      }
    });

    test("listLtxFiles() yields files in ascending minTxid order whatever the write order", async () => {
      await using f = await makeClient();
      const keys = Array.from({ length: 40 }, (_, i) => key(1, i * 3 + 1, i * 3 + 3));
      for (const k of shuffle(keys, 7)) {
        await f.client.writeLtxFile(k, bytes(16, Number(k.minTxid)), { timestamp: TIMESTAMP });
      }
      expect((await list(f.client, 1)).map(keyOf)).toEqual(keys);
    });

    test("listLtxFiles() orders by minTxid across hex digit boundaries", async () => {
      await using f = await makeClient();
      const keys = [key(0, 0x9, 0x9), key(0, 0xa, 0xa), key(0, 0x10, 0x10), key(0, 0xff, 0xff), key(0, 0x100, 0x100)];
      for (const k of [...keys].reverse()) await f.client.writeLtxFile(k, bytes(4, 1), { timestamp: TIMESTAMP });
      expect((await list(f.client, 0)).map(keyOf)).toEqual(keys);
    });

    test("listLtxFiles() starts at the first file whose minTxid >= seek", async () => {
      await using f = await makeClient();
      const keys = [key(0, 1, 1), key(0, 2, 4), key(0, 5, 5), key(0, 6, 9)];
      for (const k of keys) await f.client.writeLtxFile(k, bytes(8, 2), { timestamp: TIMESTAMP });
      const seek = async (n: number): Promise<LtxFileKey[]> => (await list(f.client, 0, { seek: txid(n) })).map(keyOf);
      expect(await seek(0)).toEqual(keys);
      expect(await seek(1)).toEqual(keys);
      expect(await seek(2)).toEqual(keys.slice(1));
      expect(await seek(3)).toEqual(keys.slice(2));
      expect(await seek(6)).toEqual(keys.slice(3));
      expect(await seek(7)).toEqual([]);
    });

    test("listLtxFiles() yields nothing for a level never written", async () => {
      await using f = await makeClient();
      await f.client.writeLtxFile(key(0, 1, 1), bytes(8, 3), { timestamp: TIMESTAMP });
      expect(await list(f.client, 2)).toEqual([]);
      expect(await list(f.client, SNAPSHOT_LEVEL)).toEqual([]);
    });

    test("listLtxFiles() keeps levels apart", async () => {
      await using f = await makeClient();
      await f.client.writeLtxFile(key(0, 1, 1), bytes(8, 4), { timestamp: TIMESTAMP });
      await f.client.writeLtxFile(key(1, 1, 2), bytes(8, 5), { timestamp: TIMESTAMP });
      await f.client.writeLtxFile(key(SNAPSHOT_LEVEL, 1, 2), bytes(8, 6), { timestamp: TIMESTAMP });
      expect((await list(f.client, 0)).map(keyOf)).toEqual([key(0, 1, 1)]);
      expect((await list(f.client, 1)).map(keyOf)).toEqual([key(1, 1, 2)]);
      expect((await list(f.client, SNAPSHOT_LEVEL)).map(keyOf)).toEqual([key(SNAPSHOT_LEVEL, 1, 2)]);
    });

    test("listLtxFiles() skips objects that are not LTX files", async () => {
      await using f = await makeClient();
      const junk = [
        "README",
        "0000000000000001-0000000000000002.ltx.tmp",
        "0000000000000001-0000000000000002.LTX",
        "000000000000000A-000000000000000B.ltx",
        "1-2.ltx",
        "sub/0000000000000003-0000000000000003.ltx",
      ];
      for (const path of junk) await f.writeRaw(0, path, bytes(3, 9));
      const k = key(0, 4, 4);
      await f.client.writeLtxFile(k, bytes(8, 7), { timestamp: TIMESTAMP });
      expect((await list(f.client, 0)).map(keyOf)).toEqual([k]);
    });

    test("listLtxFiles() rejects an invalid level with RangeError", async () => {
      await using f = await makeClient();
      await expect(list(f.client, -1)).rejects.toThrow(RangeError);
      await expect(list(f.client, SNAPSHOT_LEVEL + 1)).rejects.toThrow(RangeError);
      await expect(list(f.client, 1.5)).rejects.toThrow(RangeError);
    });

    test("writeLtxFile() rejects minTxid > maxTxid with RangeError", async () => {
      await using f = await makeClient();
      await expect(f.client.writeLtxFile(key(0, 5, 4), bytes(1, 1), { timestamp: TIMESTAMP })).rejects.toThrow(
        RangeError,
      );
    });

    test("readLtxFile() reads size bytes from offset", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      const body = bytes(100, 11);
      await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP });
      expect(await f.client.readLtxFile(k, { offset: 10, size: 20 })).toEqual(body.slice(10, 30));
      expect(await f.client.readLtxFile(k, { offset: 0, size: 1 })).toEqual(body.slice(0, 1));
      expect(await f.client.readLtxFile(k, { size: 5 })).toEqual(body.slice(0, 5));
      expect(await f.client.readLtxFile(k, { offset: 95 })).toEqual(body.slice(95));
      expect(await f.client.readLtxFile(k, { offset: 99, size: 1 })).toEqual(body.slice(99));
    });

    test("readLtxFile() returns fewer bytes at the end and none past it", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      const body = bytes(100, 12);
      await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP });
      expect(await f.client.readLtxFile(k, { offset: 90, size: 50 })).toEqual(body.slice(90));
      expect(await f.client.readLtxFile(k, { offset: 100 })).toEqual(new Uint8Array(0));
      expect(await f.client.readLtxFile(k, { offset: 500, size: 10 })).toEqual(new Uint8Array(0));
      expect(await f.client.readLtxFile(k, { offset: 10, size: 0 })).toEqual(new Uint8Array(0));
    });

    test("readLtxFile() rejects a negative or fractional offset or size with RangeError", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      await f.client.writeLtxFile(k, bytes(10, 1), { timestamp: TIMESTAMP });
      await expect(f.client.readLtxFile(k, { offset: -1 })).rejects.toThrow(RangeError);
      await expect(f.client.readLtxFile(k, { size: 1.5 })).rejects.toThrow(RangeError);
    });

    test("writeLtxFile() replaces a file with the same key", async () => {
      await using f = await makeClient();
      const k = key(1, 1, 9);
      await f.client.writeLtxFile(k, bytes(300, 13), { timestamp: TIMESTAMP });
      const second = bytes(200, 14);
      await f.client.writeLtxFile(k, second, { timestamp: TIMESTAMP });
      await f.client.writeLtxFile(k, second, { timestamp: TIMESTAMP });
      const listed = await list(f.client, 1);
      expect(listed.map((i) => [keyOf(i), i.size])).toEqual([[k, 200]]);
      expect(await f.client.readLtxFile(k)).toEqual(second);
    });

    test("readLtxFile() throws NotFoundError for a missing file", async () => {
      await using f = await makeClient();
      const missing = key(0, 7, 7);
      await expect(f.client.readLtxFile(missing)).rejects.toBeInstanceOf(NotFoundError);
      await f.client.writeLtxFile(key(0, 1, 1), bytes(4, 1), { timestamp: TIMESTAMP });
      await expect(f.client.readLtxFile(missing)).rejects.toBeInstanceOf(NotFoundError);
      await expect(f.client.readLtxFile(missing, { offset: 1, size: 2 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(f.client.readLtxFile(missing, { size: 0 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(f.client.readLtxFile(key(1, 1, 1))).rejects.toBeInstanceOf(NotFoundError);
    });

    test("deleteLtxFiles() deletes the given files and ignores missing ones", async () => {
      await using f = await makeClient();
      const keys = [key(0, 1, 1), key(0, 2, 2), key(0, 3, 3), key(1, 1, 3)];
      for (const k of keys) await f.client.writeLtxFile(k, bytes(8, 15), { timestamp: TIMESTAMP });
      await f.client.deleteLtxFiles([key(0, 1, 1), key(0, 3, 3), key(0, 99, 99), key(5, 1, 1)]);
      expect((await list(f.client, 0)).map(keyOf)).toEqual([key(0, 2, 2)]);
      expect((await list(f.client, 1)).map(keyOf)).toEqual([key(1, 1, 3)]);
      await expect(f.client.readLtxFile(key(0, 1, 1))).rejects.toBeInstanceOf(NotFoundError);
      await f.client.deleteLtxFiles([key(0, 1, 1)]);
      await f.client.deleteLtxFiles([]);
    });

    test("deleteAll() deletes every file of every level", async () => {
      await using f = await makeClient();
      for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
        await f.client.writeLtxFile(key(level, 1, 2), bytes(8, level), { timestamp: TIMESTAMP });
      }
      await f.client.deleteAll();
      for (let level = 0; level <= SNAPSHOT_LEVEL; level++) {
        expect(await list(f.client, level)).toEqual([]);
      }
      await f.client.deleteAll();
      // The replica stays usable.
      await f.client.writeLtxFile(key(0, 3, 3), bytes(8, 1), { timestamp: TIMESTAMP });
      expect((await list(f.client, 0)).map(keyOf)).toEqual([key(0, 3, 3)]);
    });

    test("writeLtxFile() and readLtxFile() round-trip a 12 MiB body", async () => {
      await using f = await makeClient();
      const k = key(SNAPSHOT_LEVEL, 1, 0x1234);
      const body = bytes(12 * 1024 * 1024, 16);
      const info = await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP });
      expect(info.size).toBe(body.byteLength);
      expect((await list(f.client, SNAPSHOT_LEVEL)).map((i) => i.size)).toEqual([body.byteLength]);
      expect(await f.client.readLtxFile(k)).toEqual(body);
      // A range across the 5 MiB boundary (the first multipart part on S3).
      const at = 5 * 1024 * 1024 - 10;
      expect(await f.client.readLtxFile(k, { offset: at, size: 20 })).toEqual(body.slice(at, at + 20));
    });

    test("openLtxFile() streams a file written from a ByteSource, in chunks, and throws NotFoundError for a missing one", async () => {
      await using f = await makeClient();
      const k = key(SNAPSHOT_LEVEL, 1, 0x99);
      const body = bytes(12 * 1024 * 1024 + 17, 21);
      let largestRead = 0;
      const inner = bytesSource(body);
      const source = {
        size: inner.size,
        read(offset: number, length: number) {
          largestRead = Math.max(largestRead, length);
          return inner.read(offset, length);
        },
      };
      const info = await f.client.writeLtxFile(k, source, { timestamp: TIMESTAMP });
      expect(info.size).toBe(body.byteLength);
      // Read in pieces, never the whole body at once.
      expect(largestRead).toBeLessThanOrEqual(8 * 1024 * 1024);
      const chunks: Uint8Array[] = [];
      for await (const chunk of await f.client.openLtxFile(k)) chunks.push(new Uint8Array(chunk));
      expect(chunks.length).toBeGreaterThan(1);
      expect(Buffer.concat(chunks).equals(Buffer.from(body))).toBe(true);
      await expect(f.client.openLtxFile(key(0, 7, 7))).rejects.toBeInstanceOf(NotFoundError);
    });

    test("writeLtxFile() handles concurrent writes of different keys", async () => {
      await using f = await makeClient();
      const keys = Array.from({ length: 24 }, (_, i) => key(0, i + 1, i + 1));
      await Promise.all(
        keys.map((k) => f.client.writeLtxFile(k, bytes(512, Number(k.minTxid)), { timestamp: TIMESTAMP })),
      );
      expect((await list(f.client, 0)).map(keyOf)).toEqual(keys);
      for (const k of keys) expect(await f.client.readLtxFile(k)).toEqual(bytes(512, Number(k.minTxid)));
    });

    test("writeLtxFile() leaves one whole file after concurrent writes of one key", async () => {
      await using f = await makeClient();
      const k = key(1, 1, 8);
      const bodies = Array.from({ length: 8 }, (_, i) => bytes(4096, 100 + i));
      await Promise.all(bodies.map((b) => f.client.writeLtxFile(k, b, { timestamp: TIMESTAMP })));
      expect((await list(f.client, 1)).map(keyOf)).toEqual([k]);
      const got = await f.client.readLtxFile(k);
      expect(bodies.some((b) => equalBytes(b, got))).toBe(true);
    });

    test("writeLtxFile() with a throttle round-trips and takes at least body / rate", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      const body = bytes(1024 * 1024, 21);
      const throttle = new ByteThrottle({ bytesPerSecond: 2 * 1024 * 1024 });
      const start = performance.now();
      const { etag: _etag, ...info } = await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP, throttle });
      // The bucket starts empty: 1 MiB at 2 MiB/s is 0.5 s.
      expect(performance.now() - start).toBeGreaterThanOrEqual(450);
      expect(info).toEqual({ ...k, size: body.byteLength, createdAt: TIMESTAMP });
      expect((await list(f.client, 0)).map((i) => i.size)).toEqual([body.byteLength]);
      expect(await f.client.readLtxFile(k)).toEqual(body);
    });

    test("writeLtxFile() with a throttle paces a body above the S3 part size", async () => {
      await using f = await makeClient();
      const k = key(SNAPSHOT_LEVEL, 1, 9);
      const body = bytes(12 * 1024 * 1024, 22);
      const throttle = new ByteThrottle({ bytesPerSecond: 32 * 1024 * 1024 });
      const start = performance.now();
      await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP, throttle });
      expect(performance.now() - start).toBeGreaterThanOrEqual(350);
      expect(await f.client.readLtxFile(k)).toEqual(body);
    });

    test("writeLtxFile() shares one throttle between concurrent writes", async () => {
      await using f = await makeClient();
      const keys = [key(0, 1, 1), key(0, 2, 2)];
      const bodies = [bytes(512 * 1024, 23), bytes(512 * 1024, 24)];
      const throttle = new ByteThrottle({ bytesPerSecond: 2 * 1024 * 1024 });
      const start = performance.now();
      await Promise.all(
        keys.map((k, i) =>
          f.client.writeLtxFile(k, bodies[i] ?? new Uint8Array(0), { timestamp: TIMESTAMP, throttle }),
        ),
      );
      // 1 MiB in all at 2 MiB/s; each alone would take 0.25 s.
      expect(performance.now() - start).toBeGreaterThanOrEqual(450);
      expect(await f.client.readLtxFile(key(0, 1, 1))).toEqual(bodies[0] ?? new Uint8Array(0));
      expect(await f.client.readLtxFile(key(0, 2, 2))).toEqual(bodies[1] ?? new Uint8Array(0));
    });

    test("writeLtxFile() with an unlimited throttle writes at full speed", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      const body = bytes(256 * 1024, 25);
      await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP, throttle: new ByteThrottle({ bytesPerSecond: 0 }) });
      expect(await f.client.readLtxFile(k)).toEqual(body);
    });

    test("writeLtxFile() with a throttle rejects with AbortError when aborted mid-body, and a rewrite succeeds", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      const body = bytes(1024 * 1024, 26);
      const controller = new AbortController();
      // Aborts once a quarter of the body has been let through.
      const throttle = new (class extends ByteThrottle {
        #taken = 0;
        override take(n: number, o?: { signal?: AbortSignal }): Promise<void> {
          this.#taken += n;
          if (this.#taken > body.byteLength / 4) controller.abort();
          return super.take(n, o);
        }
      })({ bytesPerSecond: 4 * 1024 * 1024 });
      await expect(
        f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP, throttle, signal: controller.signal }),
      ).rejects.toMatchObject({ name: "AbortError" });
      // What an aborted write leaves is backend-specific (the file backend:
      // nothing; s3rver: a partial object, see test/harness/s3-server.ts);
      // writing the key again always repairs it.
      await f.client.writeLtxFile(k, body, { timestamp: TIMESTAMP });
      expect(await f.client.readLtxFile(k)).toEqual(body);
    });

    test("readLtxFile() and writeLtxFile() reject with AbortError when the signal is aborted", async () => {
      await using f = await makeClient();
      const k = key(0, 1, 1);
      await f.client.writeLtxFile(k, bytes(10, 1), { timestamp: TIMESTAMP });
      await expect(f.client.readLtxFile(k, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: "AbortError",
      });
      await expect(
        f.client.writeLtxFile(key(0, 2, 2), bytes(10, 1), { timestamp: TIMESTAMP, signal: AbortSignal.abort() }),
      ).rejects.toMatchObject({ name: "AbortError" });
    });
  });
}

function key(level: number, min: number, max: number): LtxFileKey {
  return { level, minTxid: txid(min), maxTxid: txid(max) };
}

function keyOf(info: LtxFileInfo): LtxFileKey {
  return { level: info.level, minTxid: info.minTxid, maxTxid: info.maxTxid };
}

async function list(
  client: ReplicaClient,
  level: number,
  options: Parameters<ReplicaClient["listLtxFiles"]>[1] = {},
): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const info of client.listLtxFiles(level, options)) out.push(info);
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32 seeded by `seed`). */
function bytes(length: number, seed: number): Uint8Array {
  const next = mulberry32(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const v = Math.floor(next() * 0x1_0000_0000);
    for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (v >>> (j * 8)) & 0xff;
  }
  return out;
}

/** A seeded Fisher–Yates shuffle. */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  const next = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}
