import { describe, expect, test } from "bun:test";
import { parseLargeOptions, replicatedSizes } from "./large-options.ts";
import { LARGE_SETTINGS } from "./large-settings.ts";

describe("parseLargeOptions()", () => {
  test("defaults to the issue's sizes and the 2048 MiB limit", () => {
    const o = parseLargeOptions([], LARGE_SETTINGS);
    expect(o).not.toBe("help");
    if (o === "help") return;
    expect({ sizes: o.sizesMB, restores: o.restoreSizesMB, limit: o.rssLimitMiB, quick: o.bench.quick }).toEqual({
      sizes: [300, 2048],
      restores: [300, 500],
      limit: 2048,
      quick: false,
    });
  });

  test("reads --sizes, --restore-sizes, --rss-limit and the shared options", () => {
    const o = parseLargeOptions(
      ["--sizes", "2048,300", "--restore-sizes=300", "--rss-limit", "1024", "--out", "r.md", "--keep"],
      LARGE_SETTINGS,
    );
    if (o === "help") throw new Error("unexpected help");
    expect({
      sizes: o.sizesMB,
      restores: o.restoreSizesMB,
      limit: o.rssLimitMiB,
      out: o.bench.out,
      keep: o.bench.keep,
    }).toEqual({ sizes: [300, 2048], restores: [300], limit: 1024, out: "r.md", keep: true });
  });

  test("--quick is 64 MB only", () => {
    const o = parseLargeOptions(["--quick", "--sizes", "300"], LARGE_SETTINGS);
    if (o === "help") throw new Error("unexpected help");
    expect(replicatedSizes(o)).toEqual([64]);
  });

  test("rejects bad sizes and other benchmarks' options", () => {
    expect(() => parseLargeOptions(["--sizes", "300,abc"], LARGE_SETTINGS)).toThrow(
      "Cannot parse options: --sizes must be positive whole numbers, got 'abc'",
    );
    expect(() => parseLargeOptions(["--rss-limit", "0"], LARGE_SETTINGS)).toThrow(RangeError);
    expect(() => parseLargeOptions(["--duration", "300"], LARGE_SETTINGS)).toThrow(TypeError);
  });
});

describe("replicatedSizes()", () => {
  test("adds the restore sizes to the measured ones, ascending, once each", () => {
    expect(replicatedSizes({ sizesMB: [300, 2048], restoreSizesMB: [300, 500] })).toEqual([300, 500, 2048]);
  });
});
