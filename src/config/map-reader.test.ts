import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { configError, describeValue, fieldPath, isSecretKey, MapReader, resolvePath } from "./map-reader.ts";

const lookup = (name: string) => (({ HOME: "/home/op", N: "12" }) as Record<string, string>)[name];

describe("fieldPath", () => {
  test("fieldPath() joins keys and indexes", () => {
    expect(fieldPath("", "dbs")).toBe("dbs");
    expect(fieldPath("dbs", 0)).toBe("dbs[0]");
    expect(fieldPath("dbs[0]", "replica")).toBe("dbs[0].replica");
  });
});

describe("isSecretKey", () => {
  const cases: [string, boolean][] = [
    ["secret-access-key", true],
    ["dbs[0].replica.secret-access-key", true],
    ["access-key-id", true],
    ["password", true],
    ["sse-customer-key", true],
    ["key-path", false],
    ["bucket", false],
    ["path", false],
  ];
  for (const [key, want] of cases) {
    test(`isSecretKey('${key}') is ${want}`, () => {
      expect(isSecretKey(key)).toBe(want);
    });
  }
});

describe("describeValue", () => {
  test("describeValue() quotes strings and names collections", () => {
    expect(describeValue("abc", false)).toBe("'abc'");
    expect(describeValue(42, false)).toBe("42");
    expect(describeValue(true, false)).toBe("true");
    expect(describeValue(null, false)).toBe("an empty value");
    expect(describeValue([1], false)).toBe("a list");
    expect(describeValue({ a: 1 }, false)).toBe("a mapping");
    expect(describeValue("x".repeat(100), false)).toBe(`'${"x".repeat(77)}...'`);
  });

  test("describeValue() gives only the kind of a secret", () => {
    expect(describeValue("hunter2", true)).toBe("a string");
    expect(describeValue(1234, true)).toBe("a number");
  });
});

describe("configError", () => {
  test("configError() keeps the value of ordinary fields and drops secret ones", () => {
    const plain = configError("dbs[0].path", "bad", { value: 1 });
    expect(plain).toBeInstanceOf(ConfigError);
    expect(plain.message).toBe("Cannot read config: bad");
    expect(plain.value).toBe(1);
    expect(configError("dbs[0].replica.secret-access-key", "bad", { value: "s" }).value).toBeUndefined();
  });
});

describe("MapReader", () => {
  test("MapReader.integer() accepts digit strings from the environment", () => {
    expect(new MapReader({ n: "$N" }, "x", lookup).integer("n", 1)).toBe(12);
  });

  test("MapReader.boolean() accepts YAML 1.1 words", () => {
    const r = new MapReader({ a: "yes", b: "Off", c: false }, "x", lookup);
    expect([r.boolean("a"), r.boolean("b"), r.boolean("c"), r.boolean("d")]).toEqual([true, false, false, undefined]);
  });

  test("MapReader.string() rejects an empty string", () => {
    expect(() => new MapReader({ s: " " }, "x", lookup).string("s")).toThrow(
      "Cannot read config: 'x.s' must not be empty",
    );
  });

  test("MapReader.duration() rejects a non-scalar", () => {
    expect(() => new MapReader({ d: [1] }, "x", lookup).duration("d", 1)).toThrow(
      "Cannot read config: 'x.d' must be a duration like '10s' or '1m30s': received a list",
    );
  });

  test("MapReader.string() returns an empty string with allowEmpty", () => {
    const r = new MapReader({ s: "", t: "$E" }, "x", (name) => (name === "E" ? "" : undefined));
    expect([r.string("s", { allowEmpty: true }), r.string("t", { allowEmpty: true })]).toEqual(["", ""]);
    expect(() => r.string("t")).toThrow("Cannot read config: 'x.t' must not be empty");
  });

  test("MapReader.stringList() expands each item and names it in errors", () => {
    const r = new MapReader({ l: ["a", "$N"], bad: ["a", 7], none: [] }, "x", lookup);
    expect(r.stringList("l")).toEqual(["a", "12"]);
    expect(r.stringList("none")).toEqual([]);
    expect(r.stringList("absent")).toBeUndefined();
    expect(() => r.stringList("bad")).toThrow(
      `Cannot read config: 'x.bad[1]' must be a string: received 7 (put it in quotes: '"7"')`,
    );
  });

  test("MapReader.byteSize() reads sizes and rates", () => {
    const r = new MapReader({ a: "16MiB", b: 4096, c: "$N KiB", d: "64KiB/s", e: "0", f: "1MB / s" }, "x", lookup);
    expect([r.byteSize("a", 1), r.byteSize("b", 1), r.byteSize("c", 1), r.byteSize("e", 0)]).toEqual([
      16_777_216, 4096, 12_288, 0,
    ]);
    expect([r.byteSize("d", 0, { perSecond: true }), r.byteSize("f", 0, { perSecond: true })]).toEqual([
      65_536, 1_000_000,
    ]);
    expect(r.byteSize("absent", 1)).toBeUndefined();
  });

  test("MapReader.byteSize() rejects zero, rates and non-scalars", () => {
    const r = new MapReader({ z: 0, rate: "1KiB/s", list: [1] }, "x", lookup);
    expect(() => r.byteSize("z", 1)).toThrow("Cannot read config: 'x.z' must be greater than 0: received 0");
    expect(() => r.byteSize("rate", 1)).toThrow(
      "Cannot read config: 'x.rate' must be a byte size like '16MiB' or '512KiB': cannot parse byte size '1KiB/s'",
    );
    expect(() => r.byteSize("list", 0, { perSecond: true })).toThrow(
      "Cannot read config: 'x.list' must be a rate like '64KiB/s' or '1MB/s': received a list",
    );
  });

  test("MapReader.has() treats null as absent", () => {
    const r = new MapReader({ a: null, b: 0 }, "", lookup);
    expect([r.has("a"), r.has("b"), r.has("c")]).toEqual([false, true, false]);
  });
});

describe("resolvePath", () => {
  test("resolvePath() expands ~ and drops trailing slashes", () => {
    expect(resolvePath("~/db/", { base: "/srv", field: "p", lookup })).toBe("/home/op/db");
    expect(resolvePath("~", { base: "/srv", field: "p", lookup })).toBe("/home/op");
    expect(resolvePath("a/../b", { base: "/srv", field: "p", lookup })).toBe("/srv/b");
    expect(resolvePath("~user/x", { base: "/srv", field: "p", lookup })).toBe("/srv/~user/x");
    expect(resolvePath("/", { base: "/srv", field: "p", lookup })).toBe("/");
  });
});
