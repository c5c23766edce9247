import { describe, expect, test } from "bun:test";
import { attributeRequest, tallyByAgent, UNATTRIBUTED, type AgentRoute } from "./s3-accounting.ts";
import type { LoggedS3Request } from "./s3-request-log.ts";

const ROUTES: AgentRoute[] = [
  { name: "ls-1s", prefix: "ls-1s/app.db", userAgentToken: "aws-sdk-go" },
  { name: "lf-1s", prefix: "lf-1s/app.db", userAgentToken: "app/lf-1s" },
  { name: "lf-10s", prefix: "lf-10s/app.db", userAgentToken: "app/lf-10s" },
];

function req(kind: string, fields: Partial<LoggedS3Request> = {}): LoggedS3Request {
  const method = kind.startsWith("Put") || kind === "UploadPart" ? "PUT" : "GET";
  return { method, kind, bucket: "bench", key: undefined, headers: {}, listPrefix: undefined, ...fields };
}

describe("attributeRequest()", () => {
  test("uses the key prefix, not a name that merely starts the same way", () => {
    expect(attributeRequest(req("PutObject", { key: "lf-10s/app.db/0000/x.ltx" }), ROUTES)).toBe("lf-10s");
    expect(attributeRequest(req("PutObject", { key: "lf-1s/app.db/0000/x.ltx" }), ROUTES)).toBe("lf-1s");
    expect(attributeRequest(req("PutObject", { key: "lf-1s/app.dbx" }), ROUTES)).toBeUndefined();
  });

  test("uses the list prefix, including a parent of exactly one agent's prefix", () => {
    expect(attributeRequest(req("ListObjectsV2", { listPrefix: "lf-1s/app.db/0001/" }), ROUTES)).toBe("lf-1s");
    expect(attributeRequest(req("ListObjects", { listPrefix: "ls-1s/" }), ROUTES)).toBe("ls-1s");
    expect(attributeRequest(req("ListObjects", { listPrefix: "lf-1" }), ROUTES)).toBeUndefined();
  });

  test("falls back to a whole user-agent token", () => {
    const headers = { "user-agent": "aws-sdk-js/3.1 ua/2.1 app/lf-10s" };
    expect(attributeRequest(req("DeleteObjects", { headers }), ROUTES)).toBe("lf-10s");
    expect(
      attributeRequest(req("HeadBucket", { headers: { "user-agent": "aws-sdk-go/1.44.0 (go1.21)" } }), ROUTES),
    ).toBeUndefined();
    expect(attributeRequest(req("HeadBucket", { headers: { "user-agent": "aws-sdk-go (go1.21)" } }), ROUTES)).toBe(
      "ls-1s",
    );
  });
});

describe("tallyByAgent()", () => {
  test("folds multipart into PUTs, sums content-length and keeps the unattributed apart", () => {
    const tallies = tallyByAgent(
      [
        req("PutObject", { key: "lf-1s/app.db/a", headers: { "content-length": "100" } }),
        req("CreateMultipartUpload", { key: "lf-1s/app.db/b" }),
        req("UploadPart", { key: "lf-1s/app.db/b", headers: { "content-length": "50" } }),
        req("CompleteMultipartUpload", { key: "lf-1s/app.db/b" }),
        req("PutObject", { key: "lf-1s/app.db/c" }),
        req("ListObjectsV2", { listPrefix: "lf-1s/app.db/" }),
        req("GetObject", { key: "lf-1s/app.db/a" }),
        req("HeadObject", { key: "lf-1s/app.db/a" }),
        req("DeleteObjects", { headers: { "user-agent": "x app/lf-1s" } }),
        req("CreateBucket"),
      ],
      ROUTES,
    );
    expect(tallies.get("lf-1s")).toMatchObject({
      puts: 5,
      putObjects: 2,
      multipartRequests: 3,
      lists: 1,
      getHeads: 2,
      deletes: 1,
      other: 0,
      bytesUploaded: 150,
      uploadsWithoutLength: 1,
      requests: 9,
    });
    expect(tallies.get(UNATTRIBUTED)).toMatchObject({ other: 1, requests: 1 });
    expect(tallies.get("ls-1s")?.requests).toBe(0);
  });
});
