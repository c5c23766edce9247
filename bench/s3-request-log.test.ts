import { describe, expect, test } from "bun:test";
import { startS3RequestLog } from "./s3-request-log.ts";

describe("startS3RequestLog()", () => {
  test("attributes listings by their prefix parameter", async () => {
    await using log = await startS3RequestLog(["bkt"]);
    await log.server.seedObject("bkt", "db/generations/g1/wal/0_0.wal.lz4", new Uint8Array([1]));
    for (const query of [
      "prefix=db/generations/&delimiter=/",
      "list-type=2&prefix=db/",
      "prefix=db/generations/g1/wal/",
    ]) {
      expect((await fetch(`${log.server.endpoint}/bkt?${query}`)).status).toBe(200);
    }
    expect(log.requests().map((r) => r.listPrefix)).toEqual(["db/generations/", "db/", "db/generations/g1/wal/"]);
  });
});
