import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { defineFlags, ENTRY } from "../../cross-compile/build.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { sqliteVersion } from "../platform/sqlite.ts";
import { BUILD_INFO, formatVersion, runVersion, VERSION } from "./version.ts";

describe("version", () => {
  test("VERSION is package.json's version", () => {
    expect(VERSION).toBe(pkg.version);
  });

  test("BUILD_INFO from source says commit dev and '<platform>-<arch> (source)'", () => {
    expect(BUILD_INFO).toEqual({
      version: pkg.version,
      commit: "dev",
      target: `${process.platform}-${process.arch} (source)`,
    });
  });

  test("formatVersion() names version, commit, target and SQLite", () => {
    expect(formatVersion({ version: "0.1.0", commit: "1a2b3c4", target: "linux-arm64" }, "3.54.1")).toBe(
      "litefleet 0.1.0 (commit 1a2b3c4, linux-arm64, sqlite 3.54.1)",
    );
  });

  test("runVersion() prints one line and exits 0", () => {
    let out = "";
    const code = runVersion({
      stdout: (t) => void (out += t),
      stderr: () => {},
      flush: async () => {},
      env: {},
      cwd: process.cwd(),
      isTty: false,
      onSignal: () => () => {},
    });
    expect(code).toBe(0);
    expect(out).toBe(
      `litefleet ${pkg.version} (commit dev, ${process.platform}-${process.arch} (source), sqlite ${sqliteVersion()})\n`,
    );
  });

  test("runVersion() reports the values cross-compile/build.ts defines", async () => {
    // The same --define flags the binaries get, on a plain bundle: proves the
    // names in build.ts match the globals read here, without a 100 MiB compile.
    await using dir = await makeTempDir("version-define-");
    const info = { version: "9.8.7", commit: "abc1234-dirty", target: "linux-arm64-musl" };
    const build = Bun.spawnSync([
      process.execPath,
      "build",
      "--target=bun",
      ...defineFlags(info),
      ENTRY,
      "--outdir",
      dir.path,
    ]);
    expect(build.stderr.toString()).toBe("");
    expect(build.exitCode).toBe(0);
    // The bundle loads its LZ4 wasm asset relative to the working directory.
    const run = Bun.spawnSync([process.execPath, join(dir.path, "main.js"), "version"], { cwd: dir.path });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString()).toBe(
      `litefleet 9.8.7 (commit abc1234-dirty, linux-arm64-musl, sqlite ${sqliteVersion()})\n`,
    );
    expect(run.exitCode).toBe(0);
    // `--version` and `-V` print the same line (issue #12: `--version` was an unknown option).
    for (const flag of ["--version", "-V"]) {
      const short = Bun.spawnSync([process.execPath, join(dir.path, "main.js"), flag], { cwd: dir.path });
      expect(short.stderr.toString()).toBe("");
      expect(short.stdout.toString()).toBe(run.stdout.toString());
      expect(short.exitCode).toBe(0);
    }
  });
});
