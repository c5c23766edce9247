import { afterAll, beforeAll } from "bun:test";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { runReplicaClientSuite, type ReplicaClientFixture } from "./replica-client.ts";

let s3: S3Server;
let raw: S3Client;
let buckets = 0;

beforeAll(async () => {
  s3 = await startS3Server();
  raw = s3.sdkClient();
});

afterAll(async () => {
  raw.destroy();
  await s3.stop();
});

/** A client on a fresh bucket, so every test starts empty. */
async function makeFixture(prefix: string): Promise<ReplicaClientFixture> {
  const bucket = `conformance-${++buckets}`;
  await s3.createBucket(bucket);
  const client = new S3ReplicaClient(
    {
      type: "s3",
      bucket,
      path: prefix,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    },
    { env: {} },
  );
  return {
    client,
    async writeRaw(level, path, body) {
      const dir = level.toString(16).padStart(4, "0");
      const Key = prefix === "" ? `${dir}/${path}` : `${prefix}/${dir}/${path}`;
      await raw.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
    },
    // The server and its directory go away in afterAll.
    async [Symbol.asyncDispose]() {},
  };
}

runReplicaClientSuite("S3ReplicaClient", () => makeFixture("app/db"));
runReplicaClientSuite("S3ReplicaClient (empty prefix)", () => makeFixture(""));
