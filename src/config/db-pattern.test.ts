import { describe, expect, test } from "bun:test";
import { compileDbPattern } from "./db-pattern.ts";

describe("compileDbPattern", () => {
  const cases: [pattern: string, name: string, match: boolean][] = [
    ["*.db", "app.db", true],
    ["*.db", "app.db-wal", false],
    ["*.db", ".db", true],
    ["*.sqlite?", "app.sqlite3", true],
    ["*.sqlite?", "app.sqlite", false],
    ["app-[0-9].db", "app-7.db", true],
    ["app-[0-9].db", "app-x.db", false],
    ["app-[!0-9].db", "app-x.db", true],
    ["app-[^0-9].db", "app-7.db", false],
    ["[ab]*", "b.db", true],
    ["a\\*.db", "a*.db", true],
    ["a\\*.db", "ab.db", false],
    ["a.b", "axb", false],
    ["(x)+.db", "(x)+.db", true],
    ["[a-]", "-", true],
  ];
  for (const [pattern, name, match] of cases) {
    test(`compileDbPattern('${pattern}') ${match ? "matches" : "does not match"} '${name}'`, () => {
      expect(compileDbPattern(pattern)(name)).toBe(match);
    });
  }

  test("compileDbPattern() rejects empty, '/', unclosed and empty classes, and a trailing escape", () => {
    expect(() => compileDbPattern("")).toThrow(new SyntaxError("Cannot use an empty pattern"));
    expect(() => compileDbPattern("sub/*.db")).toThrow(
      new SyntaxError("Cannot use pattern 'sub/*.db': it matches file names, which never contain '/'"),
    );
    expect(() => compileDbPattern("[ab.db")).toThrow(
      new SyntaxError("Cannot use pattern '[ab.db': a '[' is never closed by ']'"),
    );
    expect(() => compileDbPattern("x[!]")).toThrow(
      new SyntaxError("Cannot use pattern 'x[!]': a '[]' class holds no character"),
    );
    expect(() => compileDbPattern("x\\")).toThrow(
      new SyntaxError("Cannot use pattern 'x\\': it ends with an escaping '\\'"),
    );
  });
});
