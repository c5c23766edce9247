import { describe, expect, test } from "bun:test";
import type { ReplicaSpec } from "./spec.ts";
import { FileReplicaClient } from "./file/replica-client.ts";
import { createReplicaClient } from "./registry.ts";
import { S3ReplicaClient } from "./s3/replica-client.ts";

describe("createReplicaClient", () => {
  test("createReplicaClient() makes a FileReplicaClient for type file", async () => {
    const client = await createReplicaClient({ type: "file", path: "/backups/app" }, { env: {} });
    expect(client).toBeInstanceOf(FileReplicaClient);
    expect([client.type, client.location]).toEqual(["file", "/backups/app"]);
  });

  test("createReplicaClient() makes an S3ReplicaClient for type s3", async () => {
    const client = await createReplicaClient(
      { type: "s3", bucket: "bkt", path: "app", endpoint: "http://127.0.0.1:9000" },
      { env: { LITEFLEET_ACCESS_KEY_ID: "AKIAEXAMPLE", LITEFLEET_SECRET_ACCESS_KEY: "secret" } },
    );
    expect(client).toBeInstanceOf(S3ReplicaClient);
    expect([client.type, client.location]).toEqual(["s3", "s3://bkt/app (http://127.0.0.1:9000)"]);
  });

  test("createReplicaClient() rejects with TypeError for an unknown type", async () => {
    const spec = { type: "gcs", path: "x" } as unknown as ReplicaSpec;
    expect(createReplicaClient(spec, { env: {} })).rejects.toThrow(
      new TypeError("Cannot create replica client: unknown replica type 'gcs'"),
    );
    const proto = { type: "toString", path: "x" } as unknown as ReplicaSpec;
    expect(createReplicaClient(proto, { env: {} })).rejects.toThrow(TypeError);
  });
});
