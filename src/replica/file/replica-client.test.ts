import { describe, expect, test } from "bun:test";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ReplicaError } from "../../errors.ts";
import { txid } from "../../ltx/txid.ts";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import type { LtxFileKey } from "../client.ts";
import { FileReplicaClient } from "./replica-client.ts";

const TIMESTAMP = new Date("2024-05-06T07:08:09.123Z");

function key(level: number, min: number, max: number): LtxFileKey {
  return { level, minTxid: txid(min), maxTxid: txid(max) };
}

describe("FileReplicaClient", () => {
  test("writeLtxFile() stores files at <dir>/ltx/<level>/<min>-<max>.ltx with mtime = timestamp", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const client = new FileReplicaClient({ type: "file", path: dir.path });
    await client.writeLtxFile(key(0, 7, 7), new Uint8Array([1, 2]), { timestamp: TIMESTAMP });
    await client.writeLtxFile(key(9, 1, 0xa3), new Uint8Array([3]), { timestamp: TIMESTAMP });
    // Each beside its metadata sidecar (here only `litestream-timestamp`: the bodies are not LTX files).
    expect((await readdir(join(dir.path, "ltx", "0"))).sort()).toEqual([
      "0000000000000007-0000000000000007.ltx",
      "0000000000000007-0000000000000007.ltx.meta.json",
    ]);
    expect((await readdir(join(dir.path, "ltx", "9"))).sort()).toEqual([
      "0000000000000001-00000000000000a3.ltx",
      "0000000000000001-00000000000000a3.ltx.meta.json",
    ]);
    const st = await stat(join(dir.path, "ltx", "0", "0000000000000007-0000000000000007.ltx"));
    expect(st.size).toBe(2);
    expect(Math.abs(st.mtimeMs - TIMESTAMP.getTime())).toBeLessThan(1000);
  });

  test("writeLtxFile() leaves no temp files behind", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const client = new FileReplicaClient({ type: "file", path: dir.path });
    const k = key(1, 1, 4);
    await Promise.all([1, 2, 3].map((n) => client.writeLtxFile(k, new Uint8Array(n), { timestamp: TIMESTAMP })));
    expect((await readdir(join(dir.path, "ltx", "1"))).sort()).toEqual([
      "0000000000000001-0000000000000004.ltx",
      "0000000000000001-0000000000000004.ltx.meta.json",
    ]);
  });

  test("init() creates the replica directory", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const root = join(dir.path, "a", "b");
    await new FileReplicaClient({ type: "file", path: root }).init();
    expect((await stat(join(root, "ltx"))).isDirectory()).toBe(true);
  });

  test("init() and writeLtxFile() throw ReplicaError when the path is a regular file", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const root = join(dir.path, "replica");
    await writeFile(root, "not a directory");
    const client = new FileReplicaClient({ type: "file", path: root });
    const err = await client.init().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toStartWith(`Cannot open replica '${root}': `);
    expect((err as ReplicaError).hint).toBe(`Check that '${root}' is a directory and not a file`);
    await expect(client.writeLtxFile(key(0, 1, 1), new Uint8Array(1), { timestamp: TIMESTAMP })).rejects.toBeInstanceOf(
      ReplicaError,
    );
  });

  test("listLtxFiles() skips directories named like LTX files", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const client = new FileReplicaClient({ type: "file", path: dir.path });
    await mkdir(join(dir.path, "ltx", "0", "0000000000000001-0000000000000001.ltx"), { recursive: true });
    await client.writeLtxFile(key(0, 2, 2), new Uint8Array(1), { timestamp: TIMESTAMP });
    const levels: bigint[] = [];
    for await (const info of client.listLtxFiles(0)) levels.push(info.minTxid);
    expect(levels).toEqual([2n]);
  });

  test("deleteAll() removes <dir>/ltx and nothing else", async () => {
    await using dir = await makeTempDir("litefleet-file-client-");
    const client = new FileReplicaClient({ type: "file", path: dir.path });
    await writeFile(join(dir.path, "keep.txt"), "x");
    await client.writeLtxFile(key(0, 1, 1), new Uint8Array(1), { timestamp: TIMESTAMP });
    await client.deleteAll();
    expect(await readdir(dir.path)).toEqual(["keep.txt"]);
  });
});
