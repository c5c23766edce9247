/**
 * The `ObjectStore` contract (src/replica/object-store.ts), against the
 * directory store and the S3 store on a real s3rver.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CorruptFileError, NotFoundError } from "../../src/errors.ts";
import { bytesSource } from "../../src/platform/byte-source.ts";
import { FileObjectStore } from "../../src/replica/file/object-store.ts";
import type { ListEntry, ObjectStore } from "../../src/replica/object-store.ts";
import { S3ObjectStore } from "../../src/replica/s3/object-store.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

let s3: S3Server;
let buckets = 0;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.stop();
});

const dirs: AsyncDisposable[] = [];
afterAll(async () => {
  for (const d of dirs) await d[Symbol.asyncDispose]();
});

const makers: [string, () => Promise<ObjectStore>][] = [
  [
    "FileObjectStore",
    async () => {
      const dir = await makeTempDir("litefleet-object-store-");
      dirs.push(dir);
      return new FileObjectStore(dir.path);
    },
  ],
  [
    "S3ObjectStore",
    async () => {
      const bucket = `store-${++buckets}`;
      await s3.createBucket(bucket);
      return new S3ObjectStore(
        {
          type: "s3",
          bucket,
          path: "root/x",
          endpoint: s3.endpoint,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
        { env: {} },
      );
    },
  ],
];

function names(entries: ListEntry[]): string[] {
  return entries.map((e) => ("key" in e ? e.key : `${e.prefix} (prefix)`));
}

async function collect(it: AsyncIterable<ListEntry>): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

for (const [name, make] of makers) {
  describe(name, () => {
    test("list() yields keys in byte order, rolls up folders with a delimiter and starts after startAfter", async () => {
      const store = await make();
      // Not "b-c": s3rver walks its directories, so it lists "b/…" before
      // "b-c", where S3 (byte order, '-' < '/') lists "b-c" first.
      for (const key of ["b/2", "a", "b/1", "b_c", "c/d/e"]) await store.put(key, new Uint8Array([1]));
      expect(names(await collect(store.list("")))).toEqual(["a", "b/1", "b/2", "b_c", "c/d/e"]);
      expect(names(await collect(store.list("", { delimiter: "/" })))).toEqual([
        "a",
        "b/ (prefix)",
        "b_c",
        "c/ (prefix)",
      ]);
      expect(names(await collect(store.list("b/", { startAfter: "b/1" })))).toEqual(["b/2"]);
      expect(names(await collect(store.list("b")))).toEqual(["b/1", "b/2", "b_c"]);
      expect(await collect(store.list("nothing/"))).toEqual([]);
    });

    test("get() streams ranges, getBytes() and head() report size, all throw NotFoundError for a missing key", async () => {
      const store = await make();
      const body = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
      await store.put("k/obj", bytesSource(body), { metadata: { "litestream-timestamp": "x" }, mtime: new Date(0) });
      const chunks: Uint8Array[] = [];
      for await (const c of await store.get("k/obj", { range: { offset: 10, length: 200_000 } }))
        chunks.push(new Uint8Array(c));
      expect(Buffer.concat(chunks)).toEqual(Buffer.from(body.subarray(10, 200_010)));
      expect(await store.getBytes("k/obj", { range: { offset: 299_990 } })).toEqual(body.subarray(299_990));
      expect(await store.getBytes("k/obj", { range: { offset: 400_000, length: 5 } })).toEqual(new Uint8Array(0));
      expect((await store.head("k/obj")).size).toBe(body.byteLength);
      await expect(store.get("k/none")).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.getBytes("k/none")).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.head("k/none")).rejects.toBeInstanceOf(NotFoundError);
    });

    test("put() metadata comes back from get() and head(), a put without it clears it, a multipart put keeps it", async () => {
      const store = await make();
      const metadata = { "litestream-timestamp": "2026-01-02T03:04:05.000Z", "litefleet-checksums": "v1 a b" };
      await store.put("m/obj", new Uint8Array([1, 2, 3]), { metadata });
      expect((await store.head("m/obj")).metadata).toEqual(metadata);
      const body = await store.get("m/obj");
      expect(body.metadata).toEqual(metadata);
      for await (const _ of body) {
        // Read to the end, which closes the file.
      }
      const ranged = await store.get("m/obj", { range: { offset: 1, length: 1 } });
      expect(ranged.metadata).toEqual(metadata);
      for await (const _ of ranged) {
        // Read to the end.
      }
      // Listings never show metadata (nor, for a directory, the sidecar).
      expect(await collect(store.list("m/"))).toEqual([
        expect.objectContaining({ key: "m/obj", size: 3 }) as unknown as ListEntry,
      ]);
      await store.put("m/obj", new Uint8Array([4]));
      expect((await store.head("m/obj")).metadata).toEqual({});
      const big = new Uint8Array(6 * 1024 * 1024 + 17);
      await store.put("m/big", bytesSource(big), { metadata });
      expect((await store.head("m/big")).metadata).toEqual(metadata);
      await store.delete(["m/obj", "m/big"]);
      expect(await collect(store.list(""))).toEqual([]);
    });

    test("delete() ignores missing keys and deletePrefix() removes a folder and nothing beside it", async () => {
      const store = await make();
      for (const key of ["d/1", "d/e/2", "d-keep", "x"])
        await store.put(key, new Uint8Array([1]), { metadata: { a: "b" } });
      await store.delete(["x", "never"]);
      await store.deletePrefix("d/");
      expect(names(await collect(store.list("")))).toEqual(["d-keep"]);
    });
  });
}

describe("FileObjectStore sidecars", () => {
  test("sit beside the object as <name>.meta.json, go with delete(), and a damaged one is a CorruptFileError", async () => {
    await using dir = await makeTempDir("litefleet-sidecar-");
    const store = new FileObjectStore(dir.path);
    await store.put("a/obj", new Uint8Array([1]), { metadata: { k: "v" } });
    expect(JSON.parse(await readFile(join(dir.path, "a", "obj.meta.json"), "utf8"))).toEqual({ k: "v" });
    await store.delete(["a/obj"]);
    expect(await readdir(join(dir.path, "a"))).toEqual([]);
    await store.put("a/obj", new Uint8Array([1]), { metadata: { k: "v" } });
    await writeFile(join(dir.path, "a", "obj.meta.json"), "{ not json");
    const err = await store.head("a/obj").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptFileError);
    expect((err as Error).message).toContain("obj.meta.json' is not a JSON object of strings");
    await expect(store.get("a/obj")).rejects.toBeInstanceOf(CorruptFileError);
  });
});
