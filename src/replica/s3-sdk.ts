/**
 * An `@aws-sdk/client-s3` client for a replica spec, configured the way every
 * litefleet S3 reader needs it: region (spec, else `AWS_REGION` for AWS,
 * else us-east-1), path-style for custom endpoints, checksums only where S3
 * requires them (several S3-compatible servers reject the SDK's default
 * CRC32 trailers), optional self-signed TLS, and credentials from
 * `resolveS3Credentials`. Used by the read-only S3 users (Litestream v0.3
 * storage, fleet discovery); `S3ReplicaClient` adds timeouts and retries.
 *
 * @module
 */

import { S3Client } from "@aws-sdk/client-s3";
import { resolveS3Credentials, type ResolvedS3Credentials } from "./s3-credentials.ts";
import type { S3ReplicaSpec } from "./spec.ts";

/** A client plus the spec's bucket and normalized key prefix (`""` or ending in `/`). */
export interface S3Access {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  /** `s3://bucket/prefix`, for messages. */
  readonly location: string;
  readonly region: string;
  /** The endpoint for messages (AWS's regional one when none is set), without user info. */
  readonly endpoint: string;
  readonly customEndpoint: boolean;
  /** Where the credentials came from (for error hints; never the secret). */
  readonly credentials: ResolvedS3Credentials;
}

/**
 * Builds the client for `spec`.
 * @throws {ReplicaError} when only half of a credential pair is set
 */
export function s3Access(spec: S3ReplicaSpec, options: { env: Record<string, string | undefined> }): S3Access {
  const trimmed = spec.path.replace(/^\/+|\/+$/g, "");
  const location = `s3://${spec.bucket}/${trimmed}`;
  const region = spec.region ?? (spec.endpoint === undefined ? options.env["AWS_REGION"] : undefined) ?? "us-east-1";
  const credentials = resolveS3Credentials(spec, { env: options.env, replica: location });
  const client = new S3Client({
    region,
    forcePathStyle: spec.forcePathStyle ?? spec.endpoint !== undefined,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(spec.skipVerify === true ? { requestHandler: { httpsAgent: { rejectUnauthorized: false } } } : {}),
    ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
    ...(credentials.credentials === undefined ? {} : { credentials: credentials.credentials }),
  });
  return {
    client,
    bucket: spec.bucket,
    prefix: trimmed === "" ? "" : `${trimmed}/`,
    location,
    region,
    endpoint: (spec.endpoint ?? `https://s3.${region}.amazonaws.com`).replace(/\/\/[^@/]*@/, "//"),
    customEndpoint: spec.endpoint !== undefined,
    credentials,
  };
}
