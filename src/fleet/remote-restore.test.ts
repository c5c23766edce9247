import { describe, expect, test } from "bun:test";
import { mkdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { checkRestoreArgs } from "./remote-restore.ts";

/** A device with one database and one restore directory, both under a temp dir. */
async function device() {
  const dir = await makeTempDir("lf-restore-args-");
  const restores = join(dir.path, "restores");
  mkdirSync(restores);
  const db = join(dir.path, "app.db");
  const deps = { dbs: [{ path: db }], fleet: { restoreDirs: [restores] } };
  const problem = (args: Record<string, unknown>): string | undefined => {
    try {
      checkRestoreArgs(deps, { db, ...args });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  return { dir, db, restores, problem, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

describe("checkRestoreArgs()", () => {
  test("takes 'timestamp' as Unix ms (a number) or RFC 3339 (a string), and nothing else", async () => {
    await using d = await device();
    expect(d.problem({ timestamp: 1_795_318_328_140 })).toBeUndefined();
    expect(d.problem({ timestamp: "2026-11-22T10:00:00Z" })).toBeUndefined();
    expect(d.problem({ timestamp: "2026-11-22T10:00:00.250+01:00" })).toBeUndefined();
    for (const bad of ["yesterday", "2026-11-22", "1795318328140", 1.5, -1, true]) {
      expect(d.problem({ timestamp: bad })).toStartWith(`Cannot restore: 'timestamp' ${JSON.stringify(bad)} is`);
    }
  });

  test("refuses a database that is not configured, a bad txid, and both txid and timestamp", async () => {
    await using d = await device();
    expect(d.problem({ db: "/elsewhere.db" })).toStartWith(
      "Cannot restore '/elsewhere.db': it is not a configured database",
    );
    expect(d.problem({ txid: "xyz" })).toBe(`Cannot restore: 'txid' "xyz" is not up to 16 hex digits`);
    expect(d.problem({ txid: "04d2", timestamp: 1 })).toBe("Cannot restore: give 'txid' or 'timestamp', not both");
    expect(d.problem({ txid: "04d2" })).toBeUndefined();
  });

  test("an output must be inside fleet.restore-dirs and must not exist", async () => {
    await using d = await device();
    expect(d.problem({ output: join(d.restores, "copy.db") })).toBeUndefined();
    expect(d.problem({ output: "copy.db" })).toBe("Cannot restore: 'output' must be an absolute path");
    expect(d.problem({ output: join(d.dir.path, "copy.db") })).toStartWith(
      `Cannot restore to '${join(d.dir.path, "copy.db")}': it is not inside fleet.restore-dirs`,
    );
    writeFileSync(join(d.restores, "taken.db"), "x");
    expect(d.problem({ output: join(d.restores, "taken.db") })).toBe(
      `Cannot restore to '${join(d.restores, "taken.db")}': the file exists`,
    );
  });

  test("a dangling symlink inside fleet.restore-dirs is refused, not followed or replaced", async () => {
    await using d = await device();
    const link = join(d.restores, "link.db");
    const outside = join(d.dir.path, "outside.db");
    symlinkSync(outside, link);
    expect(d.problem({ output: link })).toBe(
      `Cannot restore to '${link}': it is a symbolic link (a restore never writes through or over one)`,
    );
    expect(readlinkSync(link)).toBe(outside);
  });
});
