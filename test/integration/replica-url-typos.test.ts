/**
 * Issue #12: a mistyped replica URL (`s3:/lake/x`, `s3//lake/x`,
 * `file:/data/x` …) once became a file replica under the working directory,
 * and the agent replicated into `./s3:/lake/x/ltx/…` for good. Now every
 * command that takes a replica URL, and the config's `url:`, refuses it with
 * exit 2 and the URL that was probably meant, and creates nothing.
 *
 * Each case runs the real CLI as a process (`bun src/cli/main.ts`).
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnCli } from "../harness/cli.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const TYPOS: [url: string, meant: string][] = [
  ["s3:/lake/x", "did you mean 's3://lake/x'?"],
  ["s3//lake/x", "did you mean 's3://lake/x'?"],
  ["s3:lake/x", "did you mean 's3://lake/x'?"],
  ["S3:/lake/x", "did you mean 's3://lake/x'?"],
  ["s3:///x", "did you mean 's3://x'?"],
  ["file:/data/x", "did you mean 'file:///data/x'?"],
  ["file//data/x", "did you mean 'file:///data/x'?"],
  ["file:data", "did you mean the relative directory './data'?"],
];

async function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawnCli(args, { cwd });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A directory holding only `app.db` (a WAL database), for commands that need a live database. */
async function withDatabase() {
  const dir = await makeTempDir("url-typo-");
  const app = new Database(join(dir.path, "app.db"), { create: true });
  app.exec("PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY);");
  app.close();
  return dir;
}

/** What the directory holds besides the database: nothing may have been created. */
function created(dir: string): string[] {
  return readdirSync(dir).filter((name) => !/^app\.db(-wal|-shm)?$/.test(name) && name !== "litefleet.yml");
}

describe("mistyped replica URLs exit 2 and create nothing", () => {
  for (const [url, meant] of TYPOS) {
    test.concurrent(`replicate app.db ${url}`, async () => {
      await using dir = await withDatabase();
      const r = await run(["replicate", "app.db", url], dir.path);
      expect(r.stderr).toContain(`Error: Cannot use replica URL '${url}': `);
      expect(r.stderr).toContain(meant);
      expect(r.code).toBe(2);
      expect(created(dir.path)).toEqual([]);
    }, 30_000);
  }

  test.concurrent("replicate --config with a mistyped url: in the YAML", async () => {
    await using dir = await withDatabase();
    writeFileSync(
      join(dir.path, "litefleet.yml"),
      ["dbs:", "  - path: app.db", "    replica:", "      url: s3:/lake/x"].join("\n"),
    );
    const r = await run(["replicate", "--config", "litefleet.yml"], dir.path);
    expect(r.stderr).toContain(
      "Error: Cannot read config: 'dbs[0].replica.url' is invalid: cannot use replica URL 's3:/lake/x'",
    );
    expect(r.stderr).toContain("did you mean 's3://lake/x'?");
    expect(r.code).toBe(2);
    expect(created(dir.path)).toEqual([]);
  }, 30_000);

  const others: [name: string, args: string[]][] = [
    ["restore", ["restore", "-o", "out.db", "s3:/lake/x"]],
    ["ltx", ["ltx", "s3:/lake/x"]],
    ["verify", ["verify", "app.db", "s3:/lake/x"]],
    ["migrate --from", ["migrate", "--from", "s3:/lake/x", "--to", "file:///tmp/unused"]],
    ["migrate --to", ["migrate", "--from", "v3", "--to", "s3//lake/x"]],
    ["aggregate --fleet", ["aggregate", "--fleet", "s3:/lake/x", "--out", "central.db"]],
  ];
  for (const [name, args] of others) {
    test.concurrent(name, async () => {
      await using dir = await withDatabase();
      const r = await run(args, dir.path);
      expect(r.stderr).toMatch(
        /Error: .*Cannot use replica URL 's3(:\/|\/\/)lake\/x': an S3 URL starts with 's3:\/\/' \(did you mean 's3:\/\/lake\/x'\?\)/,
      );
      expect(r.code).toBe(2);
      expect(created(dir.path)).toEqual([]);
    }, 30_000);
  }

  test.concurrent("a plain relative path is still a file replica", async () => {
    await using dir = await withDatabase();
    const r = await run(["ltx", "--json", "./replica"], dir.path);
    // Not a URL, not in a config, no ltx/ folder: the usual "cannot find" usage error, not a URL one.
    expect(r.stderr).toContain("Cannot find replica for './replica'");
    expect(r.code).toBe(2);
  }, 30_000);
});
