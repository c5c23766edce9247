import { describe, expect, test } from "bun:test";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalFileError, systemErrorText } from "../errors.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { databaseOpenError, localFileError } from "./file-errors.ts";

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("localFileError", () => {
  test("a missing directory is named, highest first, with mkdir -p of the file's directory", async () => {
    await using dir = await makeTempDir("lf-file-errors-");
    const path = join(dir.path, "a", "b", "x.db.tmp");
    const err = localFileError(
      thrown(() => openSync(path, "w+")),
      { action: "restore to 'x.db'" },
    );
    expect(err).toBeInstanceOf(LocalFileError);
    expect(err?.message).toBe(`Cannot restore to 'x.db': the directory '${join(dir.path, "a")}' does not exist`);
    expect(err?.hint).toBe(`create it (mkdir -p '${join(dir.path, "a", "b")}'), or correct the path`);
    expect(err?.path).toBe(join(dir.path, "a"));
    expect(err?.code).toBe("ENOENT");
  });

  test("the action defaults to the system call; a file where a directory should be is named", async () => {
    await using dir = await makeTempDir("lf-file-errors-");
    writeFileSync(join(dir.path, "file"), "");
    const path = join(dir.path, "file", "sub");
    const err = localFileError(thrown(() => mkdirSync(path)));
    expect(err?.message).toBe(`Cannot create directory '${path}': '${join(dir.path, "file")}' is not a directory`);
  });

  test("errors that are not system errors on a path are left alone; a LocalFileError is returned as it is", () => {
    expect(localFileError(new Error("boom"))).toBeUndefined();
    expect(localFileError(Object.assign(new Error("x"), { code: "ENOENT" }))).toBeUndefined();
    expect(
      localFileError(Object.assign(new Error("x"), { code: "ECONNRESET", syscall: "read", path: "/x" })),
    ).toBeUndefined();
    const own = new LocalFileError("Cannot x", { path: "/x", code: "ENOENT", hint: "h" });
    expect(localFileError(own)).toBe(own);
  });
});

describe("databaseOpenError", () => {
  test("names a directory given as the database, and keeps SQLite's message otherwise", async () => {
    await using dir = await makeTempDir("lf-file-errors-");
    const cause = new Error("unable to open database file");
    expect(databaseOpenError(dir.path, cause, { write: true, create: false }).message).toBe(
      `Cannot open database '${dir.path}': '${dir.path}' is a directory, not a file`,
    );
    const fine = join(dir.path, "ok.db");
    writeFileSync(fine, "");
    const other = databaseOpenError(fine, cause, { write: true, create: false });
    expect(other).not.toBeInstanceOf(LocalFileError);
    expect(other.message).toBe(`Cannot open database '${fine}': unable to open database file`);
    expect(other.cause).toBe(cause);
  });
});

describe("systemErrorText", () => {
  test("moves the code to the end so a wrapper does not say it twice", () => {
    const err = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: "EACCES" });
    expect(systemErrorText(err)).toBe("permission denied, open '/x' (EACCES)");
    expect(systemErrorText(new Error("plain"))).toBe("plain");
  });
});
