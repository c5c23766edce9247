/**
 * Where an S3 replica's credentials come from, in order: the replica spec,
 * `LITEFLEET_ACCESS_KEY_ID`/`LITEFLEET_SECRET_ACCESS_KEY`,
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
 * the AWS shared files: `~/.aws/credentials` then `~/.aws/config`
 * (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`), profile `AWS_PROFILE`
 * or `default`, static keys only. Instance roles (IMDS), ECS container
 * credentials, SSO, web identity, `role_arn` and `credential_process`
 * profiles are not supported (docs/CONFIG.md). Also how to show a key in
 * messages.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ReplicaError } from "../../errors.ts";
import type { S3ReplicaSpec } from "../spec.ts";
import type { S3Credentials } from "./sigv4.ts";

/** Static credentials (if any) and a description of where they came from. */
export interface ResolvedS3Credentials {
  /** Undefined until the AWS shared files are read (`loadSharedCredentials`). */
  readonly credentials?: S3Credentials;
  /** For messages: `the replica config`, `LITEFLEET_ACCESS_KEY_ID`, … */
  readonly source: string;
}

/** The lookup order, for hints shown to operators. */
export const CREDENTIAL_SOURCES_HINT =
  "litefleet takes S3 credentials from the replica config (access-key-id, secret-access-key), " +
  "else LITEFLEET_ACCESS_KEY_ID/LITEFLEET_SECRET_ACCESS_KEY, " +
  "else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the static keys of profile AWS_PROFILE (or default) " +
  "in ~/.aws/credentials or ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE); " +
  "instance roles, SSO and web identity are not supported";

/** The error thrown when no source has credentials (mapped to "no S3 credentials were found"). */
export class CredentialsProviderError extends Error {
  override readonly name = "CredentialsProviderError";
}

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
  return { source: `the AWS shared files (profile '${profileOf(env)}')` };
}

function profileOf(env: Record<string, string | undefined>): string {
  const p = env["AWS_PROFILE"];
  return p === undefined || p === "" ? "default" : p;
}

/** Profile keys that name a credential source litefleet does not implement. */
const UNSUPPORTED_KEYS = ["role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file"];

/**
 * Reads the static keys of profile `AWS_PROFILE` (else `default`) from the
 * AWS shared credentials file, else the shared config file (section
 * `[profile <name>]`, or `[default]`). A missing file is skipped.
 *
 * @throws {CredentialsProviderError} when neither file has both keys for the profile
 * @example
 * ```ts
 * const { credentials, source } = await loadSharedCredentials({ env: process.env });
 * ```
 */
export async function loadSharedCredentials(options: {
  env: Record<string, string | undefined>;
}): Promise<ResolvedS3Credentials & { credentials: S3Credentials }> {
  const { env } = options;
  const home = env["HOME"] ?? homedir();
  const profile = profileOf(env);
  const files = [
    { path: env["AWS_SHARED_CREDENTIALS_FILE"] ?? join(home, ".aws", "credentials"), section: profile },
    {
      path: env["AWS_CONFIG_FILE"] ?? join(home, ".aws", "config"),
      section: profile === "default" ? "default" : `profile ${profile}`,
    },
  ];
  const unsupported: string[] = [];
  for (const { path, section } of files) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as { code?: unknown }).code === "ENOENT" || (err as { code?: unknown }).code === "ENOTDIR") continue;
      throw new CredentialsProviderError(`Cannot read AWS shared file '${path}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    const values = parseIni(text).get(section);
    if (values === undefined) continue;
    const accessKeyId = values.get("aws_access_key_id");
    const secretAccessKey = values.get("aws_secret_access_key");
    if (accessKeyId && secretAccessKey) {
      const sessionToken = values.get("aws_session_token");
      return {
        credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
        source: `${path} (profile '${profile}')`,
      };
    }
    unsupported.push(...UNSUPPORTED_KEYS.filter((k) => values.has(k)).map((k) => `${k} in ${path}`));
  }
  throw new CredentialsProviderError(
    `no access key was found for profile '${profile}' in ${files.map((f) => `'${f.path}'`).join(" or ")}` +
      (unsupported.length === 0 ? "" : ` (not supported: ${unsupported.join(", ")})`),
  );
}

/** Sections of an INI file: name → key → value (keys lower case, `#`/`;` comments skipped). */
function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header !== null) {
      const name = header[1]!.replace(/\s+/g, " ");
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      continue;
    }
    const eq = line.indexOf("=");
    // Indented lines continue a nested block (s3 = …); they hold no keys we read.
    if (current === undefined || eq < 0 || /^\s/.test(raw)) continue;
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}

/**
 * Shows enough of an access key id to recognise it, `AKIA…XYZ`; short ids
 * keep only their first character.
 */
export function maskAccessKeyId(id: string): string {
  return id.length >= 12 ? `${id.slice(0, 4)}…${id.slice(-3)}` : `${id.slice(0, 1)}…`;
}
