import { describe, expect, test } from "bun:test";
import { PageIndex, PageIndexBuilder } from "./page-index.ts";

function build(entries: readonly [pgno: number, size: number][]): PageIndex {
  const b = new PageIndexBuilder(100);
  for (const [pgno, size] of entries) b.add(pgno, size);
  return b.finish();
}

describe("PageIndexBuilder", () => {
  test("finish() gives contiguous offsets from the start", () => {
    const index = build([
      [2, 30],
      [5, 40],
      [9, 10],
    ]);
    expect(index.toArray()).toEqual([
      { pgno: 2, offset: 100, size: 30 },
      { pgno: 5, offset: 130, size: 40 },
      { pgno: 9, offset: 170, size: 10 },
    ]);
    expect(index.length).toBe(3);
    expect(index.end).toBe(180);
  });

  test("add() grows past its first capacity", () => {
    const b = new PageIndexBuilder(100);
    for (let p = 1; p <= 10_000; p++) b.add(p, (p % 7) + 20);
    expect(b.length).toBe(10_000);
    const index = b.finish();
    let offset = 100;
    for (let i = 0; i < index.length; i++) {
      expect(index.pgno(i)).toBe(i + 1);
      expect(index.offset(i)).toBe(offset);
      offset += index.size(i);
    }
    expect(index.end).toBe(offset);
  });

  test("finish() of no frames is an empty index ending at the start", () => {
    const index = build([]);
    expect(index.length).toBe(0);
    expect(index.end).toBe(100);
    expect(index.at(-1)).toBeUndefined();
    expect(index.pageNumbers()).toEqual([]);
  });

  test("offsets past 4 GiB stay exact", () => {
    const big = 2 ** 32 - 1;
    const index = build([
      [1, big],
      [2, big],
      [3, 50],
    ]);
    expect(index.offset(2)).toBe(100 + 2 * big);
    expect(index.size(1)).toBe(big);
    expect(index.size(2)).toBe(50);
  });
});

describe("PageIndex", () => {
  const index = build([
    [2, 30],
    [5, 40],
    [9, 10],
    [12, 20],
  ]);

  test("find() locates every page and misses the others", () => {
    expect([2, 5, 9, 12].map((p) => index.find(p))).toEqual([0, 1, 2, 3]);
    expect([1, 3, 6, 10, 13].map((p) => index.find(p))).toEqual([-1, -1, -1, -1, -1]);
  });

  test("countAbove() counts the pages above a number", () => {
    expect([0, 2, 4, 5, 11, 12, 99].map((p) => index.countAbove(p))).toEqual([4, 3, 3, 2, 1, 0, 0]);
  });

  test("at() counts from the end for negative positions", () => {
    expect(index.at(-1)).toEqual({ pgno: 12, offset: 180, size: 20 });
    expect(index.at(0)).toEqual({ pgno: 2, offset: 100, size: 30 });
    expect(index.at(4)).toBeUndefined();
  });

  test("iterates entries in file order", () => {
    expect([...index].map((e) => e.pgno)).toEqual([2, 5, 9, 12]);
    expect(index.pageNumbers()).toEqual([2, 5, 9, 12]);
  });

  test("constructor rejects offsets that do not match the pages", () => {
    expect(() => new PageIndex(new Uint32Array(2), new Float64Array(2))).toThrow(RangeError);
  });
});
