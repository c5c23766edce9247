import { describe, expect, test } from "bun:test";
import { levenshtein, suggestKey } from "./suggest.ts";

describe("levenshtein", () => {
  const cases: [string, string, number][] = [
    ["", "", 0],
    ["abc", "", 3],
    ["", "abc", 3],
    ["bucket", "bucket", 0],
    ["bukket", "bucket", 1],
    ["kitten", "sitting", 3],
    ["flaw", "lawn", 2],
  ];
  for (const [a, b, want] of cases) {
    test(`levenshtein('${a}', '${b}') is ${want}`, () => {
      expect(levenshtein(a, b)).toBe(want);
      expect(levenshtein(b, a)).toBe(want);
    });
  }
});

describe("suggestKey", () => {
  const allowed = ["type", "name", "url", "path", "bucket", "endpoint", "force-path-style", "access-key-id"];
  const cases: [string, string | undefined][] = [
    ["bukket", "bucket"],
    ["typ", "type"],
    ["endpont", "endpoint"],
    ["forcePathStyle", "force-path-style"],
    ["access_key_id", "access-key-id"],
    ["URL", "url"],
    ["x", undefined],
    ["zzzzzz", undefined],
    ["replica", undefined],
  ];
  for (const [key, want] of cases) {
    test(`suggestKey('${key}') is ${want === undefined ? "undefined" : `'${want}'`}`, () => {
      expect(suggestKey(key, allowed)).toBe(want);
    });
  }

  test("suggestKey() prefers the closest key", () => {
    expect(suggestKey("paths", ["path", "pathss"])).toBe("path");
    expect(suggestKey("pathx", ["pat", "path"])).toBe("path");
  });
});
