import { describe, expect, test } from "bun:test";
import type { ReplicaSpec } from "./spec.ts";
import { checkS3Endpoint, checkS3Region, displayUrl, isReplicaUrl, parseReplicaUrl } from "./url.ts";

describe("parseReplicaUrl", () => {
  const ok: [string, string | undefined, ReplicaSpec][] = [
    ["file:///var/lib/replica", undefined, { type: "file", path: "/var/lib/replica" }],
    ["file:///var/lib/replica/", undefined, { type: "file", path: "/var/lib/replica" }],
    ["file://localhost/var/lib/r", undefined, { type: "file", path: "/var/lib/r" }],
    ["file:///var/lib/with%20space", undefined, { type: "file", path: "/var/lib/with space" }],
    ["FILE:///x", undefined, { type: "file", path: "/x" }],
    ["S3://Lake/x", undefined, { type: "s3", bucket: "Lake", path: "x" }],
    ["./s3:odd", "/srv", { type: "file", path: "/srv/s3:odd" }],
    ["s3/lake/x", "/srv", { type: "file", path: "/srv/s3/lake/x" }],
    ["dir/a:b", "/srv", { type: "file", path: "/srv/dir/a:b" }],
    ["/abs/dir", undefined, { type: "file", path: "/abs/dir" }],
    ["rel/dir", "/srv", { type: "file", path: "/srv/rel/dir" }],
    ["../up", "/srv/etc", { type: "file", path: "/srv/up" }],
    ["rel", undefined, { type: "file", path: "/rel" }],
    ["s3://bucket", undefined, { type: "s3", bucket: "bucket", path: "" }],
    ["s3://bucket/", undefined, { type: "s3", bucket: "bucket", path: "" }],
    ["s3://bucket/prefix/path", undefined, { type: "s3", bucket: "bucket", path: "prefix/path" }],
    ["s3://bucket//prefix/path//", undefined, { type: "s3", bucket: "bucket", path: "prefix/path" }],
    [
      "s3://bucket/prefix/path?endpoint=http://127.0.0.1:9000&region=us-east-1&force-path-style=true&skip-verify=true",
      undefined,
      {
        type: "s3",
        bucket: "bucket",
        path: "prefix/path",
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        forcePathStyle: true,
        skipVerify: true,
      },
    ],
    [
      "s3://b/p?endpoint=https://minio.local",
      undefined,
      { type: "s3", bucket: "b", path: "p", endpoint: "https://minio.local", forcePathStyle: true },
    ],
    [
      "s3://b/p?endpoint=https://minio.local&forcePathStyle=false",
      undefined,
      { type: "s3", bucket: "b", path: "p", endpoint: "https://minio.local", forcePathStyle: false },
    ],
    ["s3://b/p?skipVerify=false", undefined, { type: "s3", bucket: "b", path: "p", skipVerify: false }],
    ["s3://b/p?region=eu-west-1", undefined, { type: "s3", bucket: "b", path: "p", region: "eu-west-1" }],
    ["s3://b/a%2Fb", undefined, { type: "s3", bucket: "b", path: "a/b" }],
  ];
  for (const [url, cwd, want] of ok) {
    test(`ok: '${url}'${cwd === undefined ? "" : ` in '${cwd}'`}`, () => {
      expect(parseReplicaUrl(url, cwd === undefined ? {} : { cwd })).toEqual(want);
    });
  }

  test("parseReplicaUrl() leaves region undefined by default", () => {
    const spec = parseReplicaUrl("s3://b/p?endpoint=http://127.0.0.1:9000");
    expect(spec.type === "s3" && "region" in spec).toBe(false);
  });

  const err: [string, string][] = [
    [
      "gs://bucket/path",
      "Cannot use replica URL 'gs://bucket/path': scheme 'gs' is not supported (use file:// or s3://)",
    ],
    ["abs://acct/c", "Cannot use replica URL 'abs://acct/c': scheme 'abs' is not supported (use file:// or s3://)"],
    [
      "sftp://user:pw@host/dir",
      "Cannot use replica URL 'sftp://***@host/dir': scheme 'sftp' is not supported (use file:// or s3://)",
    ],
    ["", "Cannot use replica URL '': the URL is empty"],
    [
      "file://relative/dir",
      "Cannot use replica URL 'file://relative/dir': file URLs must hold an absolute path (e.g. 'file:///var/lib/replica'); use a plain path for a relative directory",
    ],
    ["file:///x?y=1", "Cannot use replica URL 'file:///x': file URLs take no query or fragment"],
    ["s3:///path", "Cannot use replica URL 's3:///path': the bucket name is missing (did you mean 's3://path'?)"],
    ["s3://", "Cannot use replica URL 's3://': the bucket name is missing (s3://BUCKET/prefix)"],
    ["file://data/x", "use a plain path for a relative directory (did you mean 'file:///data/x'?)"],
    // Mistyped URLs are never taken as a directory named 's3:' (issue #12).
    ["s3:/lake/x", "Cannot use replica URL 's3:/lake/x': an S3 URL starts with 's3://' (did you mean 's3://lake/x'?)"],
    ["s3:lake/x", "Cannot use replica URL 's3:lake/x': an S3 URL starts with 's3://' (did you mean 's3://lake/x'?)"],
    ["s3//lake/x", "Cannot use replica URL 's3//lake/x': an S3 URL starts with 's3://' (did you mean 's3://lake/x'?)"],
    [
      "S3:/lake/x?endpoint=http://h:9000",
      "Cannot use replica URL 'S3:/lake/x': an S3 URL starts with 's3://' (did you mean 's3://lake/x'?)",
    ],
    ["s3:", "Cannot use replica URL 's3:': an S3 URL starts with 's3://' (s3://BUCKET/prefix)"],
    [
      "file:/data/x",
      "Cannot use replica URL 'file:/data/x': a file URL is 'file:///' followed by an absolute path (did you mean 'file:///data/x'?)",
    ],
    [
      "file//data/x",
      "Cannot use replica URL 'file//data/x': a file URL is 'file:///' followed by an absolute path (did you mean 'file:///data/x'?)",
    ],
    [
      "file:data",
      "Cannot use replica URL 'file:data': a file URL is 'file:///' followed by an absolute path (did you mean the relative directory './data'?)",
    ],
    [
      "file:",
      "Cannot use replica URL 'file:': a file URL is 'file:///' followed by an absolute path (e.g. 'file:///var/lib/replica')",
    ],
    [
      "gs:/bucket",
      "Cannot use replica URL 'gs:/bucket': 'gs:' is not a supported scheme (use s3://bucket/prefix or file:///dir; write './gs:/bucket' for a directory whose name has a colon)",
    ],
    [
      "s3://b/p?bukket=x",
      "Cannot use replica URL 's3://b/p': unknown query parameter 'bukket' (known: endpoint, region, force-path-style, skip-verify)",
    ],
    [
      "s3://b/p?region=a&region=b",
      "Cannot use replica URL 's3://b/p': query parameter 'region' is given more than once",
    ],
    [
      "s3://b/p?force-path-style=yes",
      "Cannot use replica URL 's3://b/p': query parameter 'force-path-style' must be 'true' or 'false', received 'yes'",
    ],
    [
      "s3://b/p?endpoint=127.0.0.1:9000",
      "Cannot use S3 endpoint '127.0.0.1:9000': it must be an http:// or https:// URL (e.g. 'http://127.0.0.1:9000')",
    ],
    ["s3://b/p?region=us%20east", "Cannot use S3 region 'us east': it may only contain letters, digits and '-'"],
    ["s3://b_/p#frag", "Cannot use replica URL 's3://b_/p': S3 URLs take no fragment"],
    [
      "s3://b%20c/p",
      "Cannot use replica URL 's3://b%20c/p': bucket 'b%20c' may only contain letters, digits, '.', '-' and '_'",
    ],
    ["s3://b/%E0%A4%A", "Cannot use replica URL 's3://b/%E0%A4%A': the path has a malformed percent-escape"],
  ];
  for (const [url, message] of err) {
    test(`err: '${url}'`, () => {
      expect(() => parseReplicaUrl(url)).toThrow(TypeError);
      expect(() => parseReplicaUrl(url)).toThrow(message);
    });
  }

  test("parseReplicaUrl() never echoes credentials or query values", () => {
    const cases = [
      "s3://AKIAEXAMPLE:wJalrSECRET@bucket/p",
      "s3://bucket/p?secret-access-key=wJalrSECRET",
      "s3://bucket/p?endpoint=http://AKIAEXAMPLE:wJalrSECRET@minio:9000",
      "gs://AKIAEXAMPLE:wJalrSECRET@bucket/p",
      "s3:/AKIAEXAMPLE:wJalrSECRET@bucket/p",
      "s3:AKIAEXAMPLE:wJalrSECRET@bucket/p",
      "s3:///AKIAEXAMPLE:wJalrSECRET@bucket/p",
    ];
    for (const url of cases) {
      let message = "";
      try {
        parseReplicaUrl(url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toStartWith("Cannot use");
      expect(message).not.toContain("wJalrSECRET");
      expect(message).not.toContain("AKIAEXAMPLE");
    }
  });

  test("parseReplicaUrl() requires an absolute cwd", () => {
    expect(() => parseReplicaUrl("x", { cwd: "rel" })).toThrow(
      "Cannot use replica URL: the base directory 'rel' is not absolute",
    );
  });
});

describe("isReplicaUrl", () => {
  test("isReplicaUrl() is true for URLs and mistyped URLs, false for plain paths", () => {
    const urls = ["s3://b/p", "file:///x", "gs://b", "s3:/b/p", "s3:b", "s3//b", "FILE//x", "file:x"];
    const paths = ["/data/x", "./x", "x", "s3/b", "./s3:b", "dir/a:b", "~/x"];
    expect(urls.filter((u) => !isReplicaUrl(u))).toEqual([]);
    expect(paths.filter((p) => isReplicaUrl(p))).toEqual([]);
  });
});

describe("displayUrl", () => {
  test("displayUrl() drops user info, query and fragment", () => {
    expect(displayUrl("s3://k:s@b/p?endpoint=x#f")).toBe("s3://***@b/p");
    expect(displayUrl("/plain/path")).toBe("/plain/path");
  });
});

describe("checkS3Endpoint", () => {
  test("checkS3Endpoint() accepts http and https URLs", () => {
    expect(checkS3Endpoint("http://127.0.0.1:9000")).toBe("http://127.0.0.1:9000");
    expect(checkS3Endpoint("https://s3.example.com")).toBe("https://s3.example.com");
  });

  test("checkS3Endpoint() rejects credentials without echoing them", () => {
    expect(() => checkS3Endpoint("http://key:secret@h")).toThrow(
      "Cannot use S3 endpoint 'http://***@h': it must not hold credentials",
    );
  });

  test("checkS3Region() rejects an empty region", () => {
    expect(() => checkS3Region("")).toThrow("Cannot use S3 region '': it may only contain letters, digits and '-'");
  });
});
