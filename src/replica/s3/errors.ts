/**
 * How S3 failures are reported (the one mapper for every S3 user): a missing object becomes
 * `NotFoundError`; a missing bucket, bad or missing credentials, an
 * untrusted certificate, an unreachable endpoint or a wrong region become
 * `ReplicaError` with a hint; aborts pass through unchanged.
 *
 * @module
 */

import { NotFoundError, ReplicaError, errorMessage } from "../../errors.ts";
import { CREDENTIAL_SOURCES_HINT, maskAccessKeyId, type ResolvedS3Credentials } from "./credentials.ts";

/**
 * An S3 error answer: the HTTP status, and the `<Code>` and `<Message>`
 * of its XML body when it has one (HEAD answers have none). `name` is the
 * code, as S3's own SDKs name their errors.
 */
export class S3ResponseError extends Error {
  /** The S3 error code (`NoSuchKey`, `AccessDenied` …), when the body names one. */
  readonly Code: string | undefined;
  readonly status: number;
  /** `x-amz-request-id`, for support cases. */
  readonly requestId: string | undefined;

  /** Creates the error for one answer. */
  constructor(
    status: number,
    details: { code?: string | undefined; message?: string | undefined; requestId?: string | undefined },
  ) {
    super(details.message ?? `HTTP ${status}`);
    this.name = details.code ?? `HTTP${status}`;
    this.Code = details.code;
    this.status = status;
    this.requestId = details.requestId;
  }
}

/** Error names/codes that mean the credentials are wrong or lack permission. */
const AUTH_ERRORS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "Forbidden",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "AllAccessDisabled",
  "InvalidSecurity",
]);

/** Error names/codes that mean the bucket is in another region than the one configured. */
const REGION_ERRORS = new Set([
  "PermanentRedirect",
  "AuthorizationHeaderMalformed",
  "IllegalLocationConstraintException",
]);

/** Socket error codes that mean the endpoint could not be reached. */
const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ConnectionRefused",
  "TimeoutError",
]);

/** TLS error codes that mean the endpoint's certificate is not trusted. */
const TLS_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The replica an `S3ErrorMapper` reports for: what its messages and hints name. */
export interface S3ErrorContext {
  /** The replica's `location`, carried by every `ReplicaError`. */
  readonly replica: string;
  readonly bucket: string;
  /** The endpoint URL, without user info. */
  readonly endpoint: string;
  /** True when the endpoint comes from the replica config rather than the AWS default. */
  readonly customEndpoint: boolean;
  readonly region: string;
  /** The credentials in use and where they came from (the secret is never shown). */
  readonly credentials: ResolvedS3Credentials;
}

/** Options of `S3ErrorMapper.call` and `S3ErrorMapper.toError`. */
export interface S3ErrorOptions {
  /**
   * Set when the operation addresses one object, so a 404 means that object
   * is missing (`NotFoundError` with this `path`) rather than the bucket.
   */
  readonly objectKey?: string | undefined;
}

/**
 * The one place S3 failures are translated.
 *
 * @example
 * ```ts
 * const errors = new S3ErrorMapper({
 *   replica: "s3://backups/app",
 *   bucket: "backups",
 *   endpoint: "https://s3.us-east-1.amazonaws.com",
 *   customEndpoint: false,
 *   region: "us-east-1",
 *   credentials: { source: "the replica config" },
 * });
 * await errors.call("open replica 's3://backups/app'", (o) => http.request({ method: "GET", ...o }));
 * ```
 */
export class S3ErrorMapper {
  readonly #context: S3ErrorContext;

  /** Creates a mapper whose errors name the given replica. */
  constructor(context: S3ErrorContext) {
    this.#context = context;
  }

  /**
   * Runs one S3 call with the caller's signal, mapping failures with
   * `toError`.
   * @throws whatever `toError` returns for the call's failure
   */
  async call<T>(
    action: string,
    run: (options: { abortSignal?: AbortSignal }) => Promise<T>,
    options: S3ErrorOptions & { signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const { signal, objectKey } = options;
    try {
      return await run(signal === undefined ? {} : { abortSignal: signal });
    } catch (err) {
      throw this.toError(err, action, { objectKey });
    }
  }

  /**
   * Translates a failure of `action` ("Cannot <action>: …"): an abort
   * is returned as is, a missing object becomes `NotFoundError`, known S3,
   * TLS and network failures become `ReplicaError` with a hint, any other
   * HTTP answer a `ReplicaError` without one, and the rest a plain `Error`
   * with `cause`.
   * @returns the error to throw
   */
  toError(err: unknown, action: string, options: S3ErrorOptions = {}): unknown {
    const { objectKey } = options;
    const { replica, bucket, endpoint, customEndpoint, region } = this.#context;
    if (err instanceof Error && err.name === "AbortError") return err;
    const name = s3ErrorName(err);
    const status = httpStatus(err);

    if (name !== "NoSuchBucket" && objectKey !== undefined && (name === "NoSuchKey" || status === 404)) {
      return new NotFoundError(`Cannot ${action}: object '${objectKey}' does not exist`, {
        path: objectKey,
        cause: err,
      });
    }
    if (name === "NoSuchBucket" || status === 404) {
      return new ReplicaError(`Cannot ${action}: bucket '${bucket}' does not exist`, {
        replica,
        hint: `Create the bucket '${bucket}' or fix the bucket name in the replica URL`,
        cause: err,
      });
    }
    if (name === "CredentialsProviderError") {
      return new ReplicaError(`Cannot ${action}: no S3 credentials were found`, {
        replica,
        hint: CREDENTIAL_SOURCES_HINT,
        cause: err,
      });
    }
    if ((name !== undefined && AUTH_ERRORS.has(name)) || status === 401 || status === 403) {
      const { credentials, source } = this.#context.credentials;
      const who =
        credentials === undefined
          ? `credentials from ${source}`
          : `access key '${maskAccessKeyId(credentials.accessKeyId)}' from ${source}`;
      return new ReplicaError(
        `Cannot ${action}: access to bucket '${bucket}' was denied (${name ?? `HTTP ${status}`}) for ${who}`,
        {
          replica,
          hint: `Check the access key, secret key and their permissions on bucket '${bucket}'; ${CREDENTIAL_SOURCES_HINT}`,
          cause: err,
        },
      );
    }
    const code = errorCode(err) ?? name;
    if (code !== undefined && TLS_ERRORS.has(code)) {
      return new ReplicaError(
        `Cannot ${action}: the TLS certificate of endpoint '${endpoint}' is not trusted (${code})`,
        {
          replica,
          hint: "Install the endpoint's CA certificate, or set skip-verify for a self-signed test endpoint",
          cause: err,
        },
      );
    }
    if (code !== undefined && NETWORK_ERRORS.has(code)) {
      return new ReplicaError(`Cannot ${action}: endpoint '${endpoint}' is unreachable (${code})`, {
        replica,
        hint: customEndpoint
          ? `Check that '${endpoint}' is up and reachable from this host, and that the endpoint in the replica config is right`
          : `Check this host's network connection and DNS to '${endpoint}'`,
        cause: err,
      });
    }
    if (name !== undefined && REGION_ERRORS.has(name)) {
      return new ReplicaError(`Cannot ${action}: bucket '${bucket}' is not in region '${region}' (${name})`, {
        replica,
        hint: "Set the bucket's region in the replica config (region, or AWS_REGION without a custom endpoint)",
        cause: err,
      });
    }
    if (status !== undefined) {
      return new ReplicaError(
        `Cannot ${action}: S3 answered '${name ?? "unknown error"}' (HTTP ${status}): ${errorMessage(err)}`,
        {
          replica,
          cause: err,
        },
      );
    }
    return new Error(`Cannot ${action}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The S3 error code of a failure (`Code`, else the error's `name`, such
 * as `NoSuchKey` or `InvalidRange`); undefined for non-errors.
 */
export function s3ErrorName(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  if ("Code" in err && typeof err.Code === "string") return err.Code;
  return err instanceof Error ? err.name : undefined;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") {
    return err.code;
  }
  return undefined;
}

function httpStatus(err: unknown): number | undefined {
  return err instanceof S3ResponseError ? err.status : undefined;
}
