import { describe, expect, test } from "bun:test";
import { memorySnapshot } from "./memory.ts";

describe("memorySnapshot()", () => {
  test("reads the resident set and the JS heap", () => {
    const m = memorySnapshot(3);
    expect(m.rssKiB).toBeGreaterThan(0);
    expect(m.heapKiB).toBeGreaterThan(0);
    expect(m.heapObjects).toBeGreaterThan(0);
    expect(m.topTypes.split(" ")).toHaveLength(3);
    expect(m.topTypes).toMatch(/^\S+:\d+( \S+:\d+){2}$/);
  });

  test.skipIf(process.platform !== "linux")("splits the resident set into anonymous and file pages on Linux", () => {
    const m = memorySnapshot();
    expect(m.rssAnonKiB).toBeGreaterThan(0);
    expect(m.rssFileKiB).toBeGreaterThan(0);
    // VmRSS = RssAnon + RssFile + RssShmem, read from one snapshot of /proc/self/status.
    expect(m.rssAnonKiB! + m.rssFileKiB!).toBeLessThanOrEqual(m.rssKiB);
  });
});
