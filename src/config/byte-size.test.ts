import { describe, expect, test } from "bun:test";
import { formatByteSize, parseByteSize } from "./byte-size.ts";

describe("parseByteSize", () => {
  const ok: [string | number, number][] = [
    ["5MiB", 5 * 1024 * 1024],
    ["5MB", 5_000_000],
    ["512KiB", 512 * 1024],
    ["1GiB", 1024 ** 3],
    ["100B", 100],
    ["100", 100],
    [4096, 4096],
    [0, 0],
    ["1.5KiB", 1536],
    ["5 mib", 5 * 1024 * 1024],
    ["2k", 2000],
    ["1TB", 1e12],
  ];
  for (const [input, want] of ok) {
    test(`ok: ${JSON.stringify(input)} is ${want} bytes`, () => {
      expect(parseByteSize(input)).toBe(want);
    });
  }

  const err: [string | number, ErrorConstructor, string][] = [
    [
      "5XB",
      SyntaxError,
      "Cannot parse byte size '5XB': unknown unit 'XB'; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB",
    ],
    [
      "MiB",
      SyntaxError,
      "Cannot parse byte size 'MiB': expected a number and an optional unit (e.g. '5MiB', '512KiB', '100B')",
    ],
    ["", SyntaxError, "Cannot parse byte size '': expected a number and an optional unit"],
    ["-5MiB", RangeError, "Cannot parse byte size '-5MiB': sizes must not be negative"],
    ["1.5B", RangeError, "Cannot parse byte size '1.5B': the size is not a whole number of bytes"],
    [-1, RangeError, "Cannot parse byte size '-1': a plain number must be a non-negative whole number of bytes"],
    [1.5, RangeError, "Cannot parse byte size '1.5'"],
    ["9999999TiB", RangeError, "Cannot parse byte size '9999999TiB': the size is too large"],
  ];
  for (const [input, type, message] of err) {
    test(`err: ${JSON.stringify(input)}`, () => {
      expect(() => parseByteSize(input)).toThrow(type);
      expect(() => parseByteSize(input)).toThrow(message);
    });
  }
});

describe("formatByteSize", () => {
  test("formatByteSize() picks the largest exact binary unit", () => {
    expect(formatByteSize(5 * 1024 * 1024)).toBe("5MiB");
    expect(formatByteSize(1536)).toBe("1536B");
    expect(formatByteSize(2048)).toBe("2KiB");
    expect(formatByteSize(0)).toBe("0B");
  });

  test("formatByteSize() output parses back to the same value", () => {
    for (const n of [0, 1, 1023, 1024, 1536, 5 * 1024 ** 2, 3 * 1024 ** 4]) {
      expect(parseByteSize(formatByteSize(n))).toBe(n);
    }
  });
});
