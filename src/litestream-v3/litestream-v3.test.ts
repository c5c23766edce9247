import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CorruptFileError } from "../errors.ts";
import { lz4DecompressFrame } from "../ltx/lz4-frame.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { copyV3Replica, V3_FIXTURE as FIXTURE, v3Manifest } from "../../test/fixtures/litestream-v3/fixture.ts";
import { parseV3Key, V3FileStorage } from "./layout.ts";
import { lz4ContentChecksumMismatch } from "./lz4-checksum.ts";
import { newestV3Object, planV3Restore } from "./planner.ts";

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
  const seg = (index: number, offset: number, ms: number) => ({ generation: "0000000000000001", index, offset, size: 1, createdAt: new Date(ms) });
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
