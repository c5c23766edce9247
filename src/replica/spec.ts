/**
 * A replica's location and settings, as parsed from a URL or config. This is
 * plain data: `replica/registry.ts` turns it into a `ReplicaClient`.
 *
 * @module
 */

/** A directory replica: `<path>/ltx/<level>/<min>-<max>.ltx`. */
export interface FileReplicaSpec {
  readonly type: "file";
  /** Absolute directory path. */
  readonly path: string;
}

/** An S3 (or S3-compatible) replica: `<prefix>/<level %04x>/<min>-<max>.ltx`. */
export interface S3ReplicaSpec {
  readonly type: "s3";
  readonly bucket: string;
  /** Key prefix without leading or trailing `/`; may be empty. */
  readonly path: string;
  /** Custom endpoint (MinIO, R2, s3rver …); implies path-style addressing. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  /** Skip TLS certificate verification (self-signed endpoints). */
  readonly skipVerify?: boolean;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

/** Any replica location. */
export type ReplicaSpec = FileReplicaSpec | S3ReplicaSpec;
