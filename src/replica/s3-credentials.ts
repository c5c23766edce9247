/**
 * Where an S3 replica's credentials come from, in order: the replica spec,
 * `LITEFLEET_ACCESS_KEY_ID`/`LITEFLEET_SECRET_ACCESS_KEY`,
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
 * the AWS SDK default chain. Also how to show a key in messages.
 *
 * @module
 */

import { ReplicaError } from "../errors.ts";
import type { S3ReplicaSpec } from "./spec.ts";

/** Static credentials (if any) and a description of where they came from. */
export interface ResolvedS3Credentials {
  /** Undefined when the AWS SDK default chain should be used. */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** For messages: `the replica config`, `LITEFLEET_ACCESS_KEY_ID`, … */
  readonly source: string;
}

/** The lookup order, for hints shown to operators. */
export const CREDENTIAL_SOURCES_HINT =
  "litefleet takes S3 credentials from the replica config (access-key-id, secret-access-key), " +
  "else LITEFLEET_ACCESS_KEY_ID/LITEFLEET_SECRET_ACCESS_KEY, " +
  "else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the AWS SDK default chain (shared config, instance role)";

/**
 * Picks the first complete key pair in lookup order.
 *
 * @throws {ReplicaError} when a source has only one half of a key pair, which
 * would otherwise silently fall through to the next source
 * @example
 * ```ts
 * resolveS3Credentials({ type: "s3", bucket: "b", path: "" }, { env: process.env, replica: "s3://b" });
 * ```
 */
export function resolveS3Credentials(
  spec: S3ReplicaSpec,
  options: { env: Record<string, string | undefined>; replica: string },
): ResolvedS3Credentials {
  const { env, replica } = options;
  const sources: [string, string | undefined, string | undefined, string | undefined][] = [
    ["the replica config", spec.accessKeyId, spec.secretAccessKey, undefined],
    ["LITEFLEET_ACCESS_KEY_ID", env["LITEFLEET_ACCESS_KEY_ID"], env["LITEFLEET_SECRET_ACCESS_KEY"], undefined],
    ["AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]],
  ];
  for (const [source, accessKeyId, secretAccessKey, sessionToken] of sources) {
    const hasId = accessKeyId !== undefined && accessKeyId !== "";
    const hasSecret = secretAccessKey !== undefined && secretAccessKey !== "";
    if (hasId && hasSecret) {
      return {
        credentials: {
          accessKeyId,
          secretAccessKey,
          ...(sessionToken === undefined || sessionToken === "" ? {} : { sessionToken }),
        },
        source,
      };
    }
    if (hasId !== hasSecret) {
      throw new ReplicaError(
        `Cannot configure S3 credentials for replica '${replica}': ${source} has ` +
          `${hasId ? "an access key id but no secret access key" : "a secret access key but no access key id"}`,
        { replica, hint: `Set both halves of the key pair; ${CREDENTIAL_SOURCES_HINT}` },
      );
    }
  }
  return { source: "the AWS SDK default credential chain" };
}

/**
 * Shows enough of an access key id to recognise it, `AKIA…XYZ`; short ids
 * keep only their first character.
 */
export function maskAccessKeyId(id: string): string {
  return id.length >= 12 ? `${id.slice(0, 4)}…${id.slice(-3)}` : `${id.slice(0, 1)}…`;
}
