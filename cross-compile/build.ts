/**
 * Builds the `litefleet` single binary for each Linux target with
 * `bun build --compile --target=bun-<target>`, writes `SHA256SUMS` beside the
 * binaries and prints a table of target, size and SHA-256.
 *
 * ```sh
 * bun cross-compile/build.ts [--targets linux-x64,linux-arm64,...] [--out dist]
 * ```
 *
 * Bun cross-compiles by downloading the target's Bun runtime (the running
 * Bun's version) from the npm registry into ~/.bun/install/cache and
 * appending the bundle to it, so every target builds on any host.
 *
 * `test/integration/arm64-smoke.test.ts` builds through {@linkcode buildBinary}
 * too, so the test runs exactly what this script ships.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pkg from "../package.json" with { type: "json" };

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The CLI entry point that is compiled. */
export const ENTRY: string = join(ROOT, "src/cli/main.ts");

/** Every target this script knows, as `bun-<name>` targets of `bun build --compile`. */
export const TARGETS = ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl"] as const;

/** One of {@linkcode TARGETS}. */
export type Target = (typeof TARGETS)[number];

/**
 * Targets built when `--targets` is not given: the glibc ones, which the
 * test suite runs (x64 natively, arm64 under qemu). The musl builds compile
 * here, but this Debian host cannot run them: Bun's musl runtime links
 * musl's libc and a libstdc++ built against musl (Alpine:
 * `apk add libstdc++`). Debian has no musl libstdc++: with its `musl` package
 * the x64 musl binary loads, then fails with "Error loading shared library
 * libstdc++.so.6". An untested binary is not shipped by default: ask for them
 * with `--targets linux-x64-musl,linux-arm64-musl`; see {@linkcode UNTESTED_NOTE}.
 */
export const DEFAULT_TARGETS: readonly Target[] = ["linux-x64", "linux-arm64"];

/** Printed under the table for targets that no test runs. */
export const UNTESTED_NOTE: Readonly<Partial<Record<Target, string>>> = {
  "linux-x64-musl":
    "built, not run here: needs musl libc and a musl libstdc++ (Alpine: apk add libstdc++); Debian has no musl libstdc++",
  "linux-arm64-musl":
    "built, not run here: needs musl libc and a musl libstdc++ (Alpine: apk add libstdc++); Debian has no musl libstdc++",
};

/**
 * Extra `bun build` flags for every target, chosen by measurement (x64
 * binary, Bun 1.4.5, 2 vCPU, 2026-11-22):
 * - peak RSS: `litefleet replicate DB file:///tmp/x` on a 2,000-row WAL
 *   database, idle for 20 s, VmHWM from /proc/<pid>/status just before
 *   SIGTERM, 3 runs; each run then restored the replica (all ok, exit 0);
 * - under load: the same while inserting ~85 rows/s for 20 s, 2 runs;
 * - start-up: `litefleet version` wall time, median of 10 runs.
 *
 * | flags                               | idle VmHWM MiB     | load VmHWM MiB | `version` ms | size MiB |
 * |-------------------------------------|--------------------|----------------|-------------:|---------:|
 * | (none)                              | 70.3 / 70.2 / 70.7 |                |          188 |    105.8 |
 * | --compile-exec-argv=--smol          | 69.8 / 69.8 / 69.9 |                |          238 |    105.8 |
 * | --bytecode --format=esm             | 67.3 / 67.2 / 67.0 | 67.5 / 66.9    |           52 |    111.2 |
 * | --bytecode --format=esm + --smol    | 67.6 / 67.3 / 67.2 | 67.7 / 67.9    |           52 |    111.2 |
 *
 * `--smol` does reach the runtime (`process.execArgv` is `["--smol"]`, and a
 * garbage-heavy script peaks ~4 MiB lower with it), but this agent's peak
 * RSS is not its JS heap: it saves 0.5 MiB idle, nothing under load, and
 * made start-up slower, so it is left out. `--bytecode` ships JSC bytecode
 * instead of parsing ~400 modules at every start: 3.6x faster start-up
 * (once per boot for the daemon, every time for `restore`/`status`, and far
 * more under emulation) and ~3 MiB less RSS, for 5.4 MiB of file. It needs
 * `--format=esm`: the default CommonJS output for bytecode rejects the
 * entry's top-level `await`.
 *
 * `--splitting` (issue #13): the CLI imports each subcommand, the S3
 * backend, the fleet side and the v0.3 reader with `await import()` when a
 * run needs them. Without splitting they are in the entry's one chunk,
 * whose bytecode is loaded whole at start; with it each lazily imported
 * module graph is a chunk of its own inside the binary, loaded on import.
 * `bun run bench idle-rss` (one small DB, 5 s idle, 2 runs, 2026-12-02,
 * VmRSS MiB, file / S3 / S3 + MQTT): `--bytecode --format=esm` 60.5 / 72.0
 * / 81.3, with `--splitting` 56.3 / 68.2 / 78.6; `version` and `--help`
 * start as fast (~40-80 ms on a busy 2-core host).
 *
 * Re-measured with splitting on (issue #13, 2026-12-02, x64, `replicate`
 * with a file replica as in `bench idle-rss`, 6 s idle, 3 runs each, VmRSS
 * / RssFile MiB, medians; `version` median of 21 runs):
 *
 * | flags (all with --format=esm --splitting)  | VmRSS MiB | RssAnon | RssFile | `version` ms | size MiB |
 * |--------------------------------------------|----------:|--------:|--------:|-------------:|---------:|
 * | (no --bytecode)                            |      58.3 |    13.0 |    45.3 |           37 |    105.9 |
 * | (no --bytecode) --minify                   |      57.6 |    12.9 |    44.6 |              |    105.1 |
 * | --bytecode                                 |      57.1 |    11.2 |    45.9 |           19 |    111.3 |
 * | --bytecode --minify-whitespace/-syntax     |      57.1 |    11.3 |    45.8 |              |    110.7 |
 * | --bytecode --minify-identifiers            |      57.1 |    11.2 |    45.9 |              |          |
 * | --bytecode --minify                        |      57.0 |    11.5 |    45.6 |              |    110.4 |
 * | --bytecode --minify --keep-names           |      56.7 |    11.2 |    45.5 |           19 |    110.4 |
 *
 * `--bytecode` still lowers RSS with splitting on (~1.8 MiB less heap for
 * ~0.6 MiB more of the file resident) and halves start-up. `--minify` saves ~0.4 MiB of RssFile
 * (smaller sources beside the bytecode), about the run-to-run noise of
 * VmRSS; it is kept because it costs nothing measurable, with
 * `--keep-names` so that stack traces and `.name` keep the source's
 * function and class names. The rest of the resident set is the runtime's
 * own code, not the bundle: see docs/BENCHMARKS.md, "Issue #13: idle
 * footprint".
 */
export const COMPILE_FLAGS: readonly string[] = [
  "--bytecode",
  "--format=esm",
  "--splitting",
  "--minify",
  "--keep-names",
];

/** What a binary says about itself (`litefleet version`); see `src/cli/build-info.d.ts`. */
export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
  readonly target: string;
}

/** A finished binary. */
export interface BuiltBinary {
  readonly target: Target;
  readonly path: string;
  readonly bytes: number;
  /** Hex SHA-256 of the file. */
  readonly sha256: string;
}

/** Options for {@linkcode buildBinary}. */
export interface BuildOptions {
  /** Directory the binary is written to, as `litefleet-<target>`. */
  readonly outDir: string;
  /** Commit to embed. @default gitCommit() */
  readonly commit?: string;
  readonly signal?: AbortSignal;
}

/** Throws a `TypeError` unless `name` is one of {@linkcode TARGETS}. */
export function parseTarget(name: string): Target {
  const target = TARGETS.find((t) => t === name);
  if (target === undefined) {
    throw new TypeError(`Cannot build target '${name}': known targets are ${TARGETS.join(", ")}`);
  }
  return target;
}

/**
 * The short commit of `root`'s HEAD, with `-dirty` when `git status` shows
 * any change (untracked files too, since they can be compiled in), or
 * "unknown" when there is no git or no repository.
 */
export function gitCommit(root: string = ROOT): string {
  const git = (...args: string[]): string | undefined => {
    try {
      const r = Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "ignore" });
      return r.exitCode === 0 ? r.stdout.toString().trim() : undefined;
    } catch {
      return undefined; // no git on PATH
    }
  };
  const head = git("rev-parse", "--short", "HEAD");
  if (head === undefined || head === "") return "unknown";
  const status = git("status", "--porcelain");
  return status === undefined || status === "" ? head : `${head}-dirty`;
}

/** `--define` flags that set the globals `src/cli/version.ts` reads. */
export function defineFlags(info: BuildInfo): string[] {
  const globals: [string, string][] = [
    ["LITEFLEET_VERSION", info.version],
    ["LITEFLEET_COMMIT", info.commit],
    ["LITEFLEET_TARGET", info.target],
  ];
  return globals.flatMap(([name, value]) => ["--define", `${name}=${JSON.stringify(value)}`]);
}

/** Hex SHA-256 of a file, streamed (the binaries are ~100 MiB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Compiles `src/cli/main.ts` for `target` into `<outDir>/litefleet-<target>`.
 *
 * @throws {Error} with `bun build`'s output when it fails (e.g. the target
 * runtime cannot be downloaded)
 */
export async function buildBinary(target: Target, options: BuildOptions): Promise<BuiltBinary> {
  await mkdir(options.outDir, { recursive: true });
  const path = resolve(options.outDir, `litefleet-${target}`);
  const info: BuildInfo = { version: pkg.version, commit: options.commit ?? gitCommit(), target };
  const cmd = [
    process.execPath,
    "build",
    "--compile",
    `--target=bun-${target}`,
    ...COMPILE_FLAGS,
    ...defineFlags(info),
    ENTRY,
    "--outfile",
    path,
  ];
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) {
    throw new Error(`Cannot build '${target}': bun build exited with code ${code}\n${out}${err}`.trimEnd());
  }
  const { size } = await stat(path);
  return { target, path, bytes: size, sha256: await sha256File(path) };
}

/** `sha256sum`-format lines, paths relative to `dir` (so `sha256sum -c` works inside it). */
export function sha256Sums(binaries: readonly BuiltBinary[], dir: string): string {
  return binaries.map((b) => `${b.sha256}  ${relative(dir, b.path)}\n`).join("");
}

/** Parses `--targets a,b` / `--targets=a,b` and `--out dir` / `--out=dir`. */
export function parseArgs(args: readonly string[]): { targets: Target[]; outDir: string } {
  let targets: Target[] = [...DEFAULT_TARGETS];
  let outDir = join(ROOT, "dist");
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const value = (): string => {
      const v = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (v === undefined || v === "") throw new TypeError(`Cannot parse arguments: '${name}' needs a value`);
      return v;
    };
    if (name === "--targets")
      targets = value()
        .split(",")
        .filter((t) => t !== "")
        .map(parseTarget);
    else if (name === "--out") outDir = resolve(value());
    else
      throw new TypeError(
        `Cannot parse arguments: unknown argument '${arg}' (usage: build.ts [--targets a,b] [--out dir])`,
      );
  }
  if (targets.length === 0) throw new TypeError("Cannot parse arguments: '--targets' names no target");
  return { targets, outDir };
}

/** Builds the targets named by `args`, writes SHA256SUMS, prints the table; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let parsed: { targets: Target[]; outDir: string };
  try {
    parsed = parseArgs(args);
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    return 2;
  }
  const commit = gitCommit();
  console.log(
    `litefleet ${pkg.version} (commit ${commit}), bun ${Bun.version}, flags: ${COMPILE_FLAGS.join(" ") || "none"}`,
  );
  const built: BuiltBinary[] = [];
  for (const target of parsed.targets) {
    try {
      built.push(await buildBinary(target, { outDir: parsed.outDir, commit }));
    } catch (err) {
      console.error(`Error: ${(err as Error).message}`);
      return 1;
    }
  }
  await writeFile(join(parsed.outDir, "SHA256SUMS"), sha256Sums(built, parsed.outDir));

  const rows = built.map((b) => [b.target, (b.bytes / 2 ** 20).toFixed(1), b.sha256]);
  const header = ["target", "MiB", "sha256"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === 1 ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join("  ")
      .trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  const sums = join(parsed.outDir, "SHA256SUMS");
  console.log(`wrote ${sums.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), sums) : sums}`);
  for (const b of built) {
    const note = UNTESTED_NOTE[b.target];
    if (note !== undefined) console.log(`note: ${b.target}: ${note}`);
  }
  return 0;
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
