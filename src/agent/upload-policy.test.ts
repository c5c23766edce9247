import { describe, expect, test } from "bun:test";
import type { UploadPolicy } from "../config/schema.ts";
import { inWindow, isBatchDue, msUntilDue, type BatchState } from "./upload-policy.ts";

const POLICY: UploadPolicy = { minInterval: 10_000, maxInterval: 60_000, maxBatchBytes: 1000, bandwidth: 0 };
const base: BatchState = { now: 100_000, lastUploadAt: 0, oldestPendingAt: 100_000, pendingBytes: 10, explicit: false };

describe("isBatchDue", () => {
  const cases: Array<[string, Partial<BatchState>, boolean]> = [
    ["nothing pending", { oldestPendingAt: undefined, explicit: true }, false],
    ["explicit sync pre-empts min-interval", { lastUploadAt: 99_999, explicit: true }, true],
    ["young change waits for max-interval", { oldestPendingAt: 90_000 }, false],
    ["change older than max-interval goes", { oldestPendingAt: 40_000 }, true],
    ["bytes above max-batch-bytes go at min-interval", { pendingBytes: 1000, lastUploadAt: 90_000 }, true],
    ["but never before min-interval", { pendingBytes: 5000, lastUploadAt: 95_000, oldestPendingAt: 0 }, false],
  ];
  for (const [name, over, want] of cases) {
    test(name, () => expect(isBatchDue({ ...base, ...over }, POLICY)).toBe(want));
  }
});

describe("msUntilDue", () => {
  test("waits for the RPO bound, then for min-interval", () => {
    expect(msUntilDue({ ...base, oldestPendingAt: 90_000 }, POLICY)).toBe(50_000);
    expect(msUntilDue({ ...base, oldestPendingAt: 0, lastUploadAt: 95_000 }, POLICY)).toBe(5_000);
    expect(msUntilDue({ ...base, oldestPendingAt: 0, lastUploadAt: 0 }, POLICY)).toBe(0);
  });
});

describe("inWindow", () => {
  const at = (h: number, m: number) => new Date(2026, 10, 22, h, m);
  test("no windows means always", () => expect(inWindow([], at(12, 0))).toBe(true));
  test("plain and midnight-wrapping windows", () => {
    const w = [
      { start: 22 * 60, end: 4 * 60 },
      { start: 12 * 60, end: 12 * 60 + 30 },
    ];
    expect([at(23, 0), at(3, 59), at(4, 0), at(12, 15), at(12, 30), at(18, 0)].map((d) => inWindow(w, d))).toEqual([
      true,
      true,
      false,
      true,
      false,
      false,
    ]);
  });
});
