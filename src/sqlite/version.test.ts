import { describe, expect, test } from "bun:test";
import { sqliteVersion } from "../platform/sqlite.ts";
import { requireSqliteVersion } from "./version.ts";

describe("requireSqliteVersion", () => {
  test("accepts the floor and newer", () => {
    for (const v of ["3.51.3", "3.51.10", "3.52.0", "3.54.1", "4.0.0"])
      expect(() => requireSqliteVersion(v)).not.toThrow();
  });
  test("rejects older versions with both versions named", () => {
    for (const v of ["3.51.2", "3.50.9", "3.40.1", "2.99.99"]) {
      expect(() => requireSqliteVersion(v)).toThrow(`SQLite ${v} has the WAL-reset corruption bug; 3.51.3 or newer`);
    }
  });
  test("the bundled SQLite passes", () => {
    expect(() => requireSqliteVersion(sqliteVersion())).not.toThrow();
  });
});
