import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChecksumMismatchError, CorruptFileError } from "../errors.ts";
import { segmentPath, V3FileStorage } from "../litestream-v3/layout.ts";
import { planV3Restore } from "../litestream-v3/planner.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { copyV3Replica, V3_FIXTURE as FIXTURE, v3Manifest } from "../../test/fixtures/litestream-v3/fixture.ts";
import { applyV3RestorePlan } from "./v3-applier.ts";

describe("applyV3RestorePlan", () => {
  for (const r of v3Manifest.restores) {
    test(`matches litestream restore: ${r.name}`, async () => {
      await using dir = await makeTempDir("lf-v3-");
      const storage = new V3FileStorage(copyV3Replica(dir.path));
      const plan = planV3Restore(
        await storage.list(),
        {
          ...(r.generation === undefined ? {} : { generation: r.generation }),
          ...(r.index === undefined ? {} : { index: r.index }),
          ...(r.timestamp === undefined ? {} : { timestamp: new Date(r.timestamp) }),
        },
        storage.location,
      );
      const output = join(dir.path, "out.db");
      await applyV3RestorePlan(storage, plan, { output });
      const got = readFileSync(output);
      const want = readFileSync(join(FIXTURE, "expected", r.expected));
      expect(got.length).toBe(want.length);
      expect(Buffer.compare(got, want)).toBe(0);
    });
  }

  test("ErrContentChecksum: a wrong XXH32 trailer fails the restore", async () => {
    await using dir = await makeTempDir("lf-v3-");
    const replica = copyV3Replica(dir.path);
    const storage = new V3FileStorage(replica);
    const plan = planV3Restore(await storage.list(), {}, storage.location);
    const seg = plan.indexes[0]!.segments[0]!;
    const path = join(replica, segmentPath(seg));
    const bytes = new Uint8Array(readFileSync(path));
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(path, bytes);
    const output = join(dir.path, "out.db");
    await expect(applyV3RestorePlan(storage, plan, { output })).rejects.toThrow(ChecksumMismatchError);
    expect(await Bun.file(output).exists()).toBe(false);
  });

  test("ErrCorruptSnapshot leaves no output", async () => {
    await using dir = await makeTempDir("lf-v3-");
    const replica = copyV3Replica(dir.path);
    const storage = new V3FileStorage(replica);
    const plan = planV3Restore(await storage.list(), {}, storage.location);
    writeFileSync(
      join(replica, `generations/${plan.generation}/snapshots/00000000.snapshot.lz4`),
      new Uint8Array([1, 2, 3]),
    );
    const output = join(dir.path, "out.db");
    await expect(applyV3RestorePlan(storage, plan, { output })).rejects.toThrow(CorruptFileError);
    expect(await Bun.file(output).exists()).toBe(false);
    expect(await Bun.file(`${output}.tmp`).exists()).toBe(false);
  });
});
