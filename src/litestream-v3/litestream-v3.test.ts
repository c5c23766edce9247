import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { encodeLz4Frame } from "../../test/harness/lz4-frame-build.ts";
import { lz4DecompressFrame } from "../ltx/lz4-frame.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { copyV3Replica, V3_FIXTURE as FIXTURE, v3Manifest } from "../../test/fixtures/litestream-v3/fixture.ts";
import { parseV3Key, segmentPath, snapshotPath, V3FileStorage } from "./layout.ts";
import { lz4ContentChecksumMismatch } from "./lz4-checksum.ts";
import { snapshotPageSize, V3ObjectReader } from "./object-reader.ts";
import { newestV3Object, planV3Restore } from "./planner.ts";
import { WalReplayer } from "./wal-replay.ts";

describe("V3FileStorage", () => {
  test("lists both generations with mtimes as createdAt", async () => {
    await using dir = await makeTempDir("lf-v3-");
    const listing = await new V3FileStorage(copyV3Replica(dir.path)).list();
    expect(new Set(listing.snapshots.map((s) => s.generation))).toEqual(new Set(v3Manifest.generations));
    expect(listing.snapshots.length + listing.segments.length).toBe(Object.keys(v3Manifest.mtimes).length);
    const newest = Math.max(...Object.values(v3Manifest.mtimes));
    expect(Math.abs(newestV3Object(listing)!.getTime() - newest)).toBeLessThan(1);
  });

  test("lists nothing for a directory without generations", async () => {
    await using dir = await makeTempDir("lf-v3-");
    expect(await new V3FileStorage(dir.path).list()).toEqual({ snapshots: [], segments: [] });
  });
});

describe("parseV3Key", () => {
  const t = new Date(0);
  test("OK", () => {
    expect(parseV3Key("generations/00cb8f17634b8862/wal/00000001_00001038.wal.lz4", 5, t)).toEqual({
      segment: { generation: "00cb8f17634b8862", index: 1, offset: 0x1038, size: 5, createdAt: t },
    });
    expect(parseV3Key("generations/00cb8f17634b8862/snapshots/0000000a.snapshot.lz4", 5, t)).toEqual({
      snapshot: { generation: "00cb8f17634b8862", index: 10, size: 5, createdAt: t },
    });
  });
  test("skips other names", () => {
    expect(parseV3Key("generations/00cb8f17634b8862/wal/00000001.wal", 5, t)).toBeUndefined();
    expect(parseV3Key("generations/xyz/snapshots/00000000.snapshot.lz4", 5, t)).toBeUndefined();
    expect(parseV3Key("ltx/0/0000000000000001-0000000000000001.ltx", 5, t)).toBeUndefined();
  });
});

describe("lz4ContentChecksumMismatch", () => {
  test("OK on every fixture object", async () => {
    for (const rel of Object.keys(v3Manifest.mtimes)) {
      const raw = new Uint8Array(readFileSync(join(FIXTURE, "replica", rel)));
      expect(raw[4]! & 0x04).toBe(0x04);
      const frame = lz4DecompressFrame(raw);
      expect(await lz4ContentChecksumMismatch(raw, frame.bytesRead, frame.data)).toBeUndefined();
    }
  });
});

describe("planV3Restore", () => {
  const seg = (index: number, offset: number, ms: number) => ({
    generation: "0000000000000001",
    index,
    offset,
    size: 1,
    createdAt: new Date(ms),
  });
  const snap = { generation: "0000000000000001", index: 0, size: 1, createdAt: new Date(0) };
  test("ErrMissingInitialSegment", () => {
    expect(() => planV3Restore({ snapshots: [snap], segments: [seg(0, 32, 1)] }, {}, "x")).toThrow(CorruptFileError);
  });
  test("ErrMissingIndex", () => {
    expect(() => planV3Restore({ snapshots: [snap], segments: [seg(0, 0, 1), seg(2, 0, 2)] }, {}, "x")).toThrow(
      "missing WAL index",
    );
  });
  test("ErrIndexWithoutGeneration", () => {
    expect(() => planV3Restore({ snapshots: [snap], segments: [] }, { index: 0 }, "x")).toThrow(RangeError);
  });
  test("ErrNoGeneration", () => {
    expect(() => planV3Restore({ snapshots: [], segments: [] }, {}, "x")).toThrow("no v0.3 generation");
  });
});

describe("V3ObjectReader", () => {
  const rel = `generations/${"0".repeat(16)}/snapshots/00000000.snapshot.lz4`;

  /** A file replica holding one snapshot object with `bytes`. */
  function replicaWith(dir: string, bytes: Uint8Array): V3FileStorage {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    return new V3FileStorage(dir);
  }

  test("streams a multi-block object block by block, counting compressed bytes", async () => {
    await using dir = await makeTempDir("lf-v3-reader-");
    const content = new Uint8Array(5 * 65536 + 123).map((_, i) => (i * 7) % 251);
    const frame = encodeLz4Frame(content, { blockMaxCode: 4 });
    const reader = new V3ObjectReader(replicaWith(dir.path, frame));
    const sizes: number[] = [];
    const parts: Uint8Array[] = [];
    for await (const c of reader.open(rel)) {
      sizes.push(c.length);
      parts.push(c.slice());
    }
    expect(sizes).toEqual([65536, 65536, 65536, 65536, 65536, 123]);
    expect(Buffer.concat(parts).equals(content)).toBe(true);
    expect({ files: reader.files, bytes: reader.bytes }).toEqual({ files: 1, bytes: frame.length });
  });

  test("ErrChecksum: a changed byte in a middle block fails at the end with ChecksumMismatchError", async () => {
    await using dir = await makeTempDir("lf-v3-reader-");
    const content = new Uint8Array(3 * 65536).map(() => Math.floor(Math.random() * 256)); // stored blocks
    const frame = encodeLz4Frame(content, { blockMaxCode: 4 });
    frame[7 + 4 + 65536 + 4 + 100]! ^= 0x01; // inside the second block's data
    const reader = new V3ObjectReader(replicaWith(dir.path, frame));
    const consume = async () => {
      for await (const _ of reader.open(rel)) {
        /* drain */
      }
    };
    await expect(consume()).rejects.toThrow(ChecksumMismatchError);
    await expect(consume()).rejects.toThrow(/LZ4 content checksum [0-9a-f]{8} does not match the frame's [0-9a-f]{8}/);
  });

  test("ErrCorrupt: a truncated object is a CorruptFileError naming it", async () => {
    await using dir = await makeTempDir("lf-v3-reader-");
    const frame = encodeLz4Frame(new Uint8Array(70000), { blockMaxCode: 4 });
    const reader = new V3ObjectReader(replicaWith(dir.path, frame.subarray(0, frame.length - 3)));
    const consume = async () => {
      for await (const _ of reader.open(rel)) {
        /* drain */
      }
    };
    await expect(consume()).rejects.toThrow(CorruptFileError);
    await expect(consume()).rejects.toThrow(`Cannot decompress '${rel}': Cannot decompress LZ4 frame: truncated`);
  });
});

describe("WalReplayer", () => {
  test("gives the same database whatever the chunk boundaries", async () => {
    await using dir = await makeTempDir("lf-v3-replay-");
    const storage = new V3FileStorage(copyV3Replica(dir.path));
    const plan = planV3Restore(await storage.list(), {}, storage.location);
    const snapshot = lz4DecompressFrame(readFileSync(join(dir.path, "replica", snapshotPath(plan.snapshot)))).data;
    const wal = Buffer.concat(
      plan.indexes[0]!.segments.map(
        (s) => lz4DecompressFrame(readFileSync(join(dir.path, "replica", segmentPath(s)))).data,
      ),
    );
    const replay = (chunk: number): Buffer => {
      const path = join(dir.path, `out-${chunk}.db`);
      writeFileSync(path, snapshot);
      const fd = openSync(path, "r+");
      try {
        const r = new WalReplayer(fd, { size: snapshot.length, pageSize: snapshotPageSize(snapshot), name: "wal" });
        for (let at = 0; at < wal.length; at += chunk) r.push(wal.subarray(at, at + chunk));
        r.endSegment();
        expect(r.transactions).toBeGreaterThan(0);
      } finally {
        closeSync(fd);
      }
      return readFileSync(path);
    };
    const whole = replay(wal.length);
    for (const chunk of [1, 7, 31, 32, 33, 1047, 1048, 1049, 10000]) expect(replay(chunk).equals(whole)).toBe(true);
  });

  test("ErrHeader: a segment shorter than the WAL header", async () => {
    await using dir = await makeTempDir("lf-v3-replay-");
    const fd = openSync(join(dir.path, "x.db"), "w+");
    try {
      const r = new WalReplayer(fd, { size: 0, pageSize: 0, name: "wal/00000000_00000000.wal.lz4" });
      r.push(new Uint8Array(20));
      expect(() => r.endSegment()).toThrow("Cannot replay 'wal/00000000_00000000.wal.lz4': invalid WAL header");
    } finally {
      closeSync(fd);
    }
  });
});
