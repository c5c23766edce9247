import { describe, expect, test } from "bun:test";
import { startS3Server } from "./s3-server.ts";

describe("fixS3rverDelimiterListing()", () => {
  test("lists a common prefix whose keys are all at least two levels deeper", async () => {
    await using s3 = await startS3Server({ buckets: ["bkt"] });
    const body = new Uint8Array([1]);
    await s3.seedObject("bkt", "db/generations/g1/snapshots/0.snapshot.lz4", body);
    await s3.seedObject("bkt", "db/generations/g1/wal/0_0.wal.lz4", body);
    await s3.seedObject("bkt", "db/generations/g2/top", body);
    await s3.seedObject("bkt", "db/other", body);
    const list = async (query: string): Promise<string[]> => {
      const xml = await (await fetch(`${s3.endpoint}/bkt?${query}`)).text();
      return [...xml.matchAll(/<CommonPrefixes><Prefix>([^<]*)<\/Prefix><\/CommonPrefixes>/g)].map((m) => m[1] ?? "");
    };
    expect(await list("prefix=db/generations/&delimiter=/")).toEqual(["db/generations/g1/", "db/generations/g2/"]);
    expect(await list("list-type=2&prefix=db/generations/&delimiter=/")).toEqual([
      "db/generations/g1/",
      "db/generations/g2/",
    ]);
    expect(await list("prefix=db/&delimiter=/")).toEqual(["db/generations/"]);
    expect(await list("prefix=db/generations/g1/&delimiter=/")).toEqual([
      "db/generations/g1/snapshots/",
      "db/generations/g1/wal/",
    ]);
    expect(await list("prefix=db/generations/g1/wal/&delimiter=/")).toEqual([]);
  });
});
