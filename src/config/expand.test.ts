import { describe, expect, test } from "bun:test";
import { expandEnv, soleVariable } from "./expand.ts";

const env: Record<string, string> = { BUCKET: "backups", EMPTY: "", A_1: "x", DEVICE_ID: "edge-1" };
const lookup = (name: string) => env[name];

describe("expandEnv", () => {
  const ok: [string, string][] = [
    ["plain", "plain"],
    ["$BUCKET", "backups"],
    ["${BUCKET}", "backups"],
    ["s3://${BUCKET}/$DEVICE_ID/app", "s3://backups/edge-1/app"],
    ["$BUCKET-x", "backups-x"],
    ["${A_1}y", "xy"],
    ["$A_1y", ""],
    ["[$EMPTY]", "[]"],
    ["$$", "$"],
    ["cost $$5", "cost $5"],
    ["$$BUCKET", "$BUCKET"],
    ["", ""],
  ];
  for (const [input, want] of ok) {
    test(`ok: '${input}' expands to '${want}'`, () => {
      if (input === "$A_1y") {
        // `$A_1y` names the variable `A_1y`, which is unset.
        expect(() => expandEnv(input, lookup)).toThrow("Cannot expand environment variable 'A_1y': it is not set");
        return;
      }
      expect(expandEnv(input, lookup)).toBe(want);
    });
  }

  const err: [string, ErrorConstructor, string][] = [
    ["$NOPE", ReferenceError, "Cannot expand environment variable 'NOPE': it is not set"],
    ["${NOPE}", ReferenceError, "Cannot expand environment variable 'NOPE': it is not set"],
    [
      "a$",
      SyntaxError,
      "Cannot expand environment variables: the '$' at offset 1 is not followed by a variable name (write '$$' for a literal '$')",
    ],
    ["$1", SyntaxError, "the '$' at offset 0 is not followed by a variable name"],
    [
      "${}",
      SyntaxError,
      "Cannot expand environment variables: the '${' at offset 0 must be followed by a variable name and '}' (write '$$' for a literal '$')",
    ],
    ["${BUCKET", SyntaxError, "the '${' at offset 0 must be followed by a variable name and '}'"],
    ["${BUCKET:-x}", SyntaxError, "the '${' at offset 0 must be followed by a variable name and '}'"],
  ];
  for (const [input, type, message] of err) {
    test(`err: '${input}'`, () => {
      expect(() => expandEnv(input, lookup)).toThrow(type);
      expect(() => expandEnv(input, lookup)).toThrow(message);
    });
  }

  test("expandEnv() does not re-expand values", () => {
    expect(expandEnv("$V", (n) => (n === "V" ? "$BUCKET" : undefined))).toBe("$BUCKET");
  });

  test("expandEnv() lets an error thrown by lookup through", () => {
    const boom = new Error("boom");
    expect(() =>
      expandEnv("$X", () => {
        throw boom;
      }),
    ).toThrow(boom);
  });
});

describe("soleVariable", () => {
  test("soleVariable() names the one variable a value consists of", () => {
    expect(soleVariable("$SECRET")).toBe("SECRET");
    expect(soleVariable("${SECRET}")).toBe("SECRET");
    expect(soleVariable("x$SECRET")).toBeUndefined();
    expect(soleVariable("$A$B")).toBeUndefined();
  });
});
