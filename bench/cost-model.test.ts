import { describe, expect, test } from "bun:test";
import { projectMonthly, SECONDS_PER_MONTH } from "./cost-model.ts";

describe("projectMonthly()", () => {
  test("matches the worked example of fleet-reference.md §5.2 (1 PUT/s = $12.96, 60 s = $0.22)", () => {
    const perSecond = projectMonthly({ puts: 300, lists: 0, getHeads: 0, bytesUploaded: 0, seconds: 300 });
    expect(perSecond.putsPerMonth).toBe(2_592_000);
    expect(perSecond.s3RequestUsd).toBeCloseTo(12.96, 6);
    const perMinute = projectMonthly({ puts: 5, lists: 0, getHeads: 0, bytesUploaded: 0, seconds: 300 });
    expect(perMinute.s3RequestUsd).toBeCloseTo(0.216, 6);
  });

  test("prices LIST like PUT and GET/HEAD at $0.0004 per 1,000, and scales bytes to MiB", () => {
    const p = projectMonthly({
      puts: 0,
      lists: 1,
      getHeads: 10,
      bytesUploaded: 1024 * 1024,
      seconds: SECONDS_PER_MONTH,
    });
    expect(p).toMatchObject({ putsPerMonth: 0, listsPerMonth: 1, getHeadsPerMonth: 10, uploadMiB: 1 });
    expect(p.s3RequestUsd).toBeCloseTo(0.005 / 1000 + 0.004 / 1000, 12);
  });

  test("throws RangeError for an empty window", () => {
    expect(() => projectMonthly({ puts: 1, lists: 0, getHeads: 0, bytesUploaded: 0, seconds: 0 })).toThrow(RangeError);
  });
});
