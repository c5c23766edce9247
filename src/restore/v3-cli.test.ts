import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../test/harness/cli.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { copyV3Replica, V3_FIXTURE as FIXTURE, v3Manifest } from "../../test/fixtures/litestream-v3/fixture.ts";

describe("litefleet restore of a v0.3 replica", () => {
  for (const r of v3Manifest.restores) {
    test(`OK: ${r.name}`, async () => {
      await using dir = await makeTempDir("lf-v3-cli-");
      const replica = copyV3Replica(dir.path);
      const out = join(dir.path, "out.db");
      const args = ["restore", "-o", out];
      if (r.generation !== undefined) args.push("--generation", r.generation);
      if (r.index !== undefined) args.push("--index", String(r.index));
      if (r.timestamp !== undefined) args.push("--timestamp", r.timestamp);
      const run = await runCli([...args, replica]);
      expect(run.stderr).toContain("Litestream v0.3 replica");
      expect(run.code).toBe(0);
      expect(Buffer.compare(readFileSync(out), readFileSync(join(FIXTURE, "expected", r.expected)))).toBe(0);
    });
  }

  test("ErrTxid", async () => {
    await using dir = await makeTempDir("lf-v3-cli-");
    const run = await runCli(["restore", "-o", join(dir.path, "out.db"), "--txid", "1", copyV3Replica(dir.path)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Cannot use --txid with a Litestream v0.3 replica");
  });

  test("ErrIndexWithoutGeneration", async () => {
    await using dir = await makeTempDir("lf-v3-cli-");
    const run = await runCli(["restore", "-o", join(dir.path, "out.db"), "--index", "0", copyV3Replica(dir.path)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Cannot use --index without --generation");
  });

  test("ErrGenerationOnLtxReplica", async () => {
    await using dir = await makeTempDir("lf-v3-cli-");
    mkdirSync(join(dir.path, "replica", "ltx"), { recursive: true });
    const run = await runCli([
      "restore",
      "-o",
      join(dir.path, "out.db"),
      "--generation",
      "0000000000000001",
      `file://${join(dir.path, "replica")}`,
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Cannot use --generation or --index");
  });
});
