import { defaultReplica, thrownConfigError } from "../../test/harness/config.ts";
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import type { ReplicaSpec } from "../replica/spec.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import { DEFAULTS, type ReplicaConfig } from "./schema.ts";

const OPTIONS: ParseConfigOptions = {
  env: { BUCKET: "env-bucket", FPS: "false", KEY: "env-key", SECRET: "env-secret" },
  cwd: "/srv",
  deviceId: "host-1",
};

/** Parses a config whose single db has the given `replica:` / `replicas:` YAML (indented 4). */
function replicasOf(replicaYaml: string, top = ""): ReplicaConfig[] {
  const config = parseConfig(`${top}dbs:\n  - path: app.db\n${replicaYaml}`, OPTIONS);
  return config.dbs[0]?.replicas ?? [];
}

const errorOf = (replicaYaml: string, top = ""): ConfigError => thrownConfigError(() => replicasOf(replicaYaml, top));

/** A replica with every upload setting at its default. */
const replica = defaultReplica;

function one(name: string, spec: ReplicaSpec, extra: Partial<ReplicaConfig> = {}): ReplicaConfig[] {
  return [{ ...replica(name, spec), ...extra }];
}

describe("readReplicas", () => {
  const ok: { name: string; yaml: string; top?: string; want: ReplicaConfig[] }[] = [
    {
      name: "path only means a file replica",
      yaml: "    replica: { path: /backup/app }\n",
      want: one("file", { type: "file", path: "/backup/app" }),
    },
    {
      name: "type file with a relative path",
      yaml: "    replica: { type: file, path: backup, sync-interval: 10s }\n",
      want: one(
        "file",
        { type: "file", path: "/srv/backup" },
        {
          upload: { ...DEFAULTS.upload, minInterval: 10_000, maxInterval: 10_000 },
        },
      ),
    },
    {
      name: "file URL",
      yaml: "    replica: { url: 'file:///backup/app', type: file, name: local }\n",
      want: one("local", { type: "file", path: "/backup/app" }),
    },
    {
      name: "S3 by keys, endpoint implies path style",
      yaml: `    replica:
      type: s3
      bucket: $BUCKET
      path: /edge/app/
      endpoint: http://127.0.0.1:9000
      region: us-east-1
      skip-verify: true
`,
      want: one("s3", {
        type: "s3",
        bucket: "env-bucket",
        path: "edge/app",
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        skipVerify: true,
        forcePathStyle: true,
      }),
    },
    {
      name: "S3 without a path or endpoint",
      yaml: "    replica: { type: s3, bucket: b }\n",
      want: one("s3", { type: "s3", bucket: "b", path: "" }),
    },
    {
      name: "force-path-style false from the environment wins over the endpoint",
      yaml: "    replica: { type: s3, bucket: b, endpoint: 'http://h:9000', force-path-style: $FPS }\n",
      want: one("s3", { type: "s3", bucket: "b", path: "", endpoint: "http://h:9000", forcePathStyle: false }),
    },
    {
      name: "keys add to and override the URL's settings",
      yaml: "    replica: { url: 's3://b/p?region=us-east-1', region: eu-west-1, endpoint: 'https://e', type: s3 }\n",
      want: one("s3", {
        type: "s3",
        bucket: "b",
        path: "p",
        region: "eu-west-1",
        endpoint: "https://e",
        forcePathStyle: true,
      }),
    },
    {
      name: "global credentials apply to S3 replicas",
      top: "access-key-id: $KEY\nsecret-access-key: ${SECRET}\n",
      yaml: "    replica: { url: 's3://b/p' }\n",
      want: one("s3", { type: "s3", bucket: "b", path: "p", accessKeyId: "env-key", secretAccessKey: "env-secret" }),
    },
    {
      name: "replica credentials override global ones",
      top: "access-key-id: gk\nsecret-access-key: gs\n",
      yaml: "    replica: { url: 's3://b/p', access-key-id: rk, secret-access-key: rs }\n",
      want: one("s3", { type: "s3", bucket: "b", path: "p", accessKeyId: "rk", secretAccessKey: "rs" }),
    },
    {
      name: "global credentials do not touch file replicas",
      top: "access-key-id: gk\nsecret-access-key: gs\n",
      yaml: "    replica: { path: r }\n",
      want: one("file", { type: "file", path: "/srv/r" }),
    },
    {
      name: "a list of replicas is named by type, with indexes for duplicates",
      yaml: "    replicas:\n      - { path: r1 }\n      - { url: 's3://b/p' }\n      - { path: r2 }\n",
      want: [
        replica("file-0", { type: "file", path: "/srv/r1" }),
        replica("s3", { type: "s3", bucket: "b", path: "p" }),
        replica("file-2", { type: "file", path: "/srv/r2" }),
      ],
    },
    {
      name: "a generated name avoids an explicit one",
      yaml: "    replicas:\n      - { path: r1, name: file }\n      - { path: r2 }\n",
      want: [replica("file", { type: "file", path: "/srv/r1" }), replica("file-1", { type: "file", path: "/srv/r2" })],
    },
  ];
  for (const { name, yaml, top, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(replicasOf(yaml, top)).toEqual(want);
    });
  }

  const err: { name: string; yaml: string; top?: string; field: string; message: string }[] = [
    {
      name: "misspelled key in replica",
      yaml: "    replica: { type: s3, bukket: b }\n",
      field: "dbs[0].replica.bukket",
      message: "Cannot read config: unknown key 'dbs[0].replica.bukket' (did you mean 'bucket'?)",
    },
    {
      name: "misspelled key in a replica list",
      yaml: "    replicas:\n      - { path: r }\n      - { type: s3, bukket: b }\n",
      field: "dbs[0].replicas[1].bukket",
      message: "Cannot read config: unknown key 'dbs[0].replicas[1].bukket' (did you mean 'bucket'?)",
    },
    {
      name: "camelCase key",
      yaml: "    replica: { url: 's3://b', forcePathStyle: true }\n",
      field: "dbs[0].replica.forcePathStyle",
      message: "Cannot read config: unknown key 'dbs[0].replica.forcePathStyle' (did you mean 'force-path-style'?)",
    },
    {
      name: "unsupported Litestream replica key",
      yaml: "    replica: { url: 's3://b', part-size: 5MiB }\n",
      field: "dbs[0].replica.part-size",
      message:
        "Cannot read config: key 'dbs[0].replica.part-size' is a Litestream setting that litefleet does not support",
    },
    {
      name: "replica and replicas",
      yaml: "    replica: { path: r }\n    replicas: [{ path: r2 }]\n",
      field: "dbs[0]",
      message: "Cannot read config: 'dbs[0]' has both 'replica' and 'replicas' (use one)",
    },
    {
      name: "no replica",
      yaml: "",
      field: "dbs[0].replica",
      message: "Cannot read config: 'dbs[0]' has no replica (add 'replica:' with a 'url')",
    },
    {
      name: "empty replicas list",
      yaml: "    replicas: []\n",
      field: "dbs[0].replica",
      message: "Cannot read config: 'dbs[0]' has no replica (add 'replica:' with a 'url')",
    },
    {
      name: "replicas is not a list",
      yaml: "    replicas: { path: r }\n",
      field: "dbs[0].replicas",
      message: "Cannot read config: 'dbs[0].replicas' must be a list: received a mapping",
    },
    {
      name: "unsupported type",
      yaml: "    replica: { type: gs, bucket: b }\n",
      field: "dbs[0].replica.type",
      message: "Cannot read config: 'dbs[0].replica.type' must be one of 'file', 's3': received 'gs'",
    },
    {
      name: "unsupported URL scheme",
      yaml: "    replica: { url: 'gs://b/p' }\n",
      field: "dbs[0].replica.url",
      message:
        "Cannot read config: 'dbs[0].replica.url' is invalid: cannot use replica URL 'gs://b/p': scheme 'gs' is not supported (use file:// or s3://)",
    },
    {
      name: "unknown URL parameter",
      yaml: "    replica: { url: 's3://b/p?regoin=x' }\n",
      field: "dbs[0].replica.url",
      message:
        "Cannot read config: 'dbs[0].replica.url' is invalid: cannot use replica URL 's3://b/p': unknown query parameter 'regoin'",
    },
    {
      name: "URL and bucket",
      yaml: "    replica: { url: 's3://b/p', bucket: b }\n",
      field: "dbs[0].replica.bucket",
      message:
        "Cannot read config: 'dbs[0].replica.bucket' cannot be given with 'dbs[0].replica.url' (put it in the URL)",
    },
    {
      name: "URL and path",
      yaml: "    replica: { url: 's3://b/p', path: p }\n",
      field: "dbs[0].replica.path",
      message:
        "Cannot read config: 'dbs[0].replica.path' cannot be given with 'dbs[0].replica.url' (put it in the URL)",
    },
    {
      name: "URL and a conflicting type",
      yaml: "    replica: { url: 's3://b/p', type: file }\n",
      field: "dbs[0].replica.type",
      message: "Cannot read config: 'dbs[0].replica.type' is 'file' but 'dbs[0].replica.url' is an s3 URL",
    },
    {
      name: "S3 without a bucket",
      yaml: "    replica: { type: s3, path: p }\n",
      field: "dbs[0].replica.bucket",
      message: "Cannot read config: missing key 'dbs[0].replica.bucket' (required for type 's3')",
    },
    {
      name: "bucket without a type",
      yaml: "    replica: { bucket: b }\n",
      field: "dbs[0].replica.type",
      message: "Cannot read config: missing key 'dbs[0].replica.type' (add 'type: s3' to use 'bucket')",
    },
    {
      name: "bad bucket name",
      yaml: "    replica: { type: s3, bucket: 'a b' }\n",
      field: "dbs[0].replica.bucket",
      message:
        "Cannot read config: 'dbs[0].replica.bucket' may only contain letters, digits, '.', '-' and '_': received 'a b'",
    },
    {
      name: "neither url nor path",
      yaml: "    replica: { sync-interval: 1s }\n",
      field: "dbs[0].replica.path",
      message:
        "Cannot read config: missing key 'dbs[0].replica.path' (a replica needs 'url', a 'path', or 'type: s3' with a 'bucket')",
    },
    {
      name: "file path that is a URL",
      yaml: "    replica: { path: 's3://b/p' }\n",
      field: "dbs[0].replica.path",
      message: "Cannot read config: 'dbs[0].replica.path' must be a path, not a URL: received 's3://b/p'",
    },
    {
      name: "S3 key on a file replica",
      yaml: "    replica: { path: r, endpoint: 'http://h' }\n",
      field: "dbs[0].replica.endpoint",
      message: "Cannot read config: 'dbs[0].replica.endpoint' applies only to s3 replicas",
    },
    {
      name: "bad endpoint",
      yaml: "    replica: { type: s3, bucket: b, endpoint: 'h:9000' }\n",
      field: "dbs[0].replica.endpoint",
      message:
        "Cannot read config: 'dbs[0].replica.endpoint' is invalid: cannot use S3 endpoint 'h:9000': it must be an http:// or https:// URL (e.g. 'http://127.0.0.1:9000')",
    },
    {
      name: "bad boolean",
      yaml: "    replica: { type: s3, bucket: b, skip-verify: maybe }\n",
      field: "dbs[0].replica.skip-verify",
      message: "Cannot read config: 'dbs[0].replica.skip-verify' must be true or false: received 'maybe'",
    },
    {
      name: "upload section on a replica",
      yaml: "    replica: { path: r, upload: { min-interval: 1m } }\n",
      field: "dbs[0].replica.upload",
      message:
        "Cannot read config: key 'dbs[0].replica.upload' is only supported at the top level (give its keys, e.g. 'min-interval', directly on the replica)",
    },
    {
      name: "spool on a replica",
      yaml: "    replica: { path: r, spool: { max-age: 1h } }\n",
      field: "dbs[0].replica.spool",
      message: "Cannot read config: key 'dbs[0].replica.spool' is only supported at the top level and on each database",
    },
    {
      name: "zero sync interval",
      yaml: "    replica: { path: r, sync-interval: 0 }\n",
      field: "dbs[0].replica.sync-interval",
      message: "Cannot read config: 'dbs[0].replica.sync-interval' must be greater than 0: received 0",
    },
    {
      name: "unset variable in a URL",
      yaml: "    replica: { url: 's3://${S3_BUCKET}/p' }\n",
      field: "dbs[0].replica.url",
      message: "Cannot read config: environment variable 'S3_BUCKET' used in 'dbs[0].replica.url' is not set",
    },
    {
      name: "duplicate explicit names",
      yaml: "    replicas:\n      - { path: r1, name: a }\n      - { path: r2, name: a }\n",
      field: "dbs[0].replicas[1].name",
      message:
        "Cannot read config: 'dbs[0].replicas[1].name' repeats the replica name 'a' (give each replica a unique 'name')",
    },
    {
      name: "generated name that repeats an explicit one",
      yaml: "    replicas:\n      - { path: r1, name: file-1 }\n      - { path: r2 }\n      - { path: r3 }\n",
      field: "dbs[0].replicas[1]",
      message:
        "Cannot read config: 'dbs[0].replicas[1]' repeats the replica name 'file-1' (give each replica a unique 'name')",
    },
    {
      name: "bad name",
      yaml: "    replica: { path: r, name: 'my replica' }\n",
      field: "dbs[0].replica.name",
      message:
        "Cannot read config: 'dbs[0].replica.name' may only contain letters, digits, '.', '-' and '_': received 'my replica'",
    },
    {
      name: "key id without secret on a replica",
      yaml: "    replica: { url: 's3://b', access-key-id: k }\n",
      field: "dbs[0].replica.secret-access-key",
      message:
        "Cannot read config: missing key 'dbs[0].replica.secret-access-key' (required with 'dbs[0].replica.access-key-id')",
    },
    {
      name: "global secret without key id",
      top: "secret-access-key: s\n",
      yaml: "    replica: { url: 's3://b' }\n",
      field: "access-key-id",
      message: "Cannot read config: missing key 'access-key-id' (required with 'secret-access-key')",
    },
  ];
  for (const { name, yaml, top, field, message } of err) {
    test(`err: ${name}`, () => {
      const e = errorOf(yaml, top);
      expect(e.field).toBe(field);
      expect(e.message).toStartWith(message);
    });
  }
});

describe("readReplicas: mistyped replica URLs (issue #12)", () => {
  // Each of these once became a directory named 's3:' (or 'file:') under the
  // config's directory; now the config is rejected, naming the URL meant.
  const cases: [url: string, meant: string][] = [
    ["s3:/lake/x", "did you mean 's3://lake/x'?"],
    ["s3:lake/x", "did you mean 's3://lake/x'?"],
    ["s3//lake/x", "did you mean 's3://lake/x'?"],
    ["S3:/lake/x", "did you mean 's3://lake/x'?"],
    ["s3:///x", "did you mean 's3://x'?"],
    ["file:/data/x", "did you mean 'file:///data/x'?"],
    ["file//data/x", "did you mean 'file:///data/x'?"],
    ["file:data", "did you mean the relative directory './data'?"],
  ];
  for (const [url, meant] of cases) {
    test(`err: url ${url} (unquoted in YAML)`, () => {
      const e = errorOf(`    replicas:\n      - path: ok\n      - url: ${url}\n`);
      expect(e.field).toBe("dbs[0].replicas[1].url");
      expect(e.message).toStartWith(
        `Cannot read config: 'dbs[0].replicas[1].url' is invalid: cannot use replica URL '${url}': `,
      );
      expect(e.message).toContain(meant);
    });
  }

  test("ok: plain paths in url stay file replicas", () => {
    expect(
      replicasOf("    replicas:\n      - url: /data/x\n      - url: ./x\n      - url: x\n      - url: ./s3:odd\n").map(
        (r) => r.spec,
      ),
    ).toEqual([
      { type: "file", path: "/data/x" },
      { type: "file", path: "/srv/x" },
      { type: "file", path: "/srv/x" },
      { type: "file", path: "/srv/s3:odd" },
    ]);
  });
});
