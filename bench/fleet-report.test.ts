import { describe, expect, test } from "bun:test";
import { checkTableOrder, quantile, summarize } from "./fleet-report.ts";

const HEADER =
  "DEVICE    DB                   STATE           LAST SEEN  DATA AGE  LAG  PENDING  TXID  AGENT  FREE DISK  PROBLEM";

function table(...rows: [string, string][]): string {
  const lines = rows.map(
    ([device, state]) => `${device}  /var/lib/app/app.db  ${state}  5 s ago  5 s old  0 s  0  —  0.2.0  4.0 GiB`,
  );
  return `10 devices, 10 databases: …\n${HEADER}\n${lines.join("\n")}\n`;
}

describe("fleet-report", () => {
  test("quantile() takes the nearest rank", () => {
    const sorted = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(quantile(sorted, 0.5)).toBe(50);
    expect(quantile(sorted, 0.95)).toBe(100);
    expect(quantile(sorted, 0.91)).toBe(100);
    expect(quantile(sorted, 0.9)).toBe(90);
    expect(quantile(sorted, 0)).toBe(10);
    expect(quantile([], 0.5)).toBeNull();
    expect(() => quantile(sorted, 1.5)).toThrow(RangeError);
  });

  test("summarize() sorts first and gives count, p50, p95, p99, max", () => {
    expect(summarize([300, 100, 200])).toEqual({ count: 3, p50: 200, p95: 300, p99: 300, max: 300 });
    expect(summarize([])).toEqual({ count: 0, p50: null, p95: null, p99: null, max: null });
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarize(hundred)).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  test("checkTableOrder() accepts every problem row before every healthy one", () => {
    const out = table(
      ["gw-00000", "error"],
      ["gw-00002", "offline (lost)"],
      ["gw-00007", "pending"],
      ["gw-00010", "ok"],
    );
    expect(checkTableOrder(out)).toEqual({ rows: 4, problems: 2, problemsFirst: true, firstWrong: null });
  });

  test("checkTableOrder() names the healthy row that came before a problem row", () => {
    const out = table(["gw-00000", "error"], ["gw-00007", "pending"], ["gw-00003", "stale"], ["gw-00010", "ok"]);
    const r = checkTableOrder(out);
    expect({ ...r, firstWrong: r.firstWrong?.split("  ")[0] }).toEqual({
      rows: 4,
      problems: 2,
      problemsFirst: false,
      firstWrong: "gw-00007",
    });
  });

  test("checkTableOrder() refuses output without a header or with a row it cannot read", () => {
    expect(() => checkTableOrder("nothing here\n")).toThrow("no 'DEVICE' header line");
    expect(() => checkTableOrder(`${HEADER}\ngw-1  /db  sleeping  x\n`)).toThrow("no state in");
  });
});
