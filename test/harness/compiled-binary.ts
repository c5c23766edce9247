/**
 * The release single binary for this host, built once per test process
 * (`bun test` runs every file in one process) and shared by the tests that
 * run it: a `bun build --compile` takes several seconds.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../../cross-compile/build.ts";

let built: Promise<string> | undefined;

/**
 * Builds the binary for this host's architecture (same flags and embedded
 * build info as `npm run build`) on the first call; returns its path. The
 * directory it is built in is removed when the process exits.
 *
 * @throws {Error} when `bun build --compile` fails
 */
export function compiledBinary(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "litefleet-bin-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const target = process.arch === "arm64" ? "linux-arm64" : "linux-x64";
    const { path } = await buildBinary(target, { outDir: dir });
    return path;
  })();
  return built;
}
