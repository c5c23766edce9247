/**
 * Read-only access to a Litestream v0.3 replica (reference §4.1):
 * `generations/<16hex>/snapshots/<index %08x>.snapshot.lz4` and
 * `generations/<16hex>/wal/<index %08x>_<offset %08x>.wal.lz4`, under a file
 * replica's directory or an S3 prefix. `createdAt` is the file mtime or the
 * S3 `LastModified` (v0.3 stores no metadata).
 *
 * S3 is listed without a delimiter (one flat listing of `generations/`), so
 * servers that drop common prefixes in delimiter listings (s3rver) work.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { NotFoundError, ReplicaError } from "../../errors.ts";
import { s3Access } from "../../replica/s3-sdk.ts";
import type { ReplicaSpec, S3ReplicaSpec } from "../../replica/spec.ts";

/** A v0.3 snapshot. */
export interface V3Snapshot {
  readonly generation: string;
  readonly index: number;
  readonly size: number;
  readonly createdAt: Date;
}

/** A v0.3 WAL segment. */
export interface V3WalSegment {
  readonly generation: string;
  readonly index: number;
  readonly offset: number;
  readonly size: number;
  readonly createdAt: Date;
}

/** Everything a v0.3 replica holds, sorted by generation, index, offset. */
export interface V3Listing {
  readonly snapshots: readonly V3Snapshot[];
  readonly segments: readonly V3WalSegment[];
}

/** A v0.3 replica's storage. */
export interface V3Storage {
  /** A human-readable location without secrets. */
  readonly location: string;
  /** Lists every snapshot and WAL segment. */
  list(): Promise<V3Listing>;
  /** Reads one object by its path relative to the replica root. */
  read(relPath: string): Promise<Uint8Array>;
}

const GENERATION_RE = /^[0-9a-f]{16}$/;
// v0.3 writes %08x, which grows past 8 digits beyond 4 GiB (accepted up to 16 as v0.5 does, #1442).
const SNAPSHOT_RE = /^([0-9a-f]{8,16})\.snapshot\.lz4$/;
const WAL_RE = /^([0-9a-f]{8,16})_([0-9a-f]{8,16})\.wal\.lz4$/;

/** The replica-relative path of a snapshot. */
export function snapshotPath(s: { generation: string; index: number }): string {
  return `generations/${s.generation}/snapshots/${hex8(s.index)}.snapshot.lz4`;
}

/** The replica-relative path of a WAL segment. */
export function segmentPath(s: { generation: string; index: number; offset: number }): string {
  return `generations/${s.generation}/wal/${hex8(s.index)}_${hex8(s.offset)}.wal.lz4`;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * Classifies one replica-relative key; returns nothing for keys that are
 * not v0.3 snapshots or segments.
 */
export function parseV3Key(
  key: string,
  size: number,
  createdAt: Date,
): { snapshot: V3Snapshot } | { segment: V3WalSegment } | undefined {
  const parts = key.split("/");
  if (parts.length !== 4 || parts[0] !== "generations") return undefined;
  const [, generation = "", kind, name = ""] = parts;
  if (!GENERATION_RE.test(generation)) return undefined;
  if (kind === "snapshots") {
    const m = SNAPSHOT_RE.exec(name);
    if (!m) return undefined;
    return { snapshot: { generation, index: parseInt(m[1]!, 16), size, createdAt } };
  }
  if (kind === "wal") {
    const m = WAL_RE.exec(name);
    if (!m) return undefined;
    return { segment: { generation, index: parseInt(m[1]!, 16), offset: parseInt(m[2]!, 16), size, createdAt } };
  }
  return undefined;
}

function sortListing(snapshots: V3Snapshot[], segments: V3WalSegment[]): V3Listing {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  snapshots.sort((a, b) => cmp(a.generation, b.generation) || a.index - b.index);
  segments.sort((a, b) => cmp(a.generation, b.generation) || a.index - b.index || a.offset - b.offset);
  return { snapshots, segments };
}

/** A v0.3 file replica rooted at `dir`. */
export class V3FileStorage implements V3Storage {
  readonly location: string;
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
    this.location = dir;
  }

  list(): Promise<V3Listing> {
    const snapshots: V3Snapshot[] = [];
    const segments: V3WalSegment[] = [];
    const root = join(this.#dir, "generations");
    let gens: string[];
    try {
      gens = readdirSync(root);
    } catch {
      return Promise.resolve({ snapshots, segments });
    }
    for (const gen of gens) {
      for (const kind of ["snapshots", "wal"]) {
        let names: string[];
        try {
          names = readdirSync(join(root, gen, kind));
        } catch {
          continue;
        }
        for (const name of names) {
          const key = `generations/${gen}/${kind}/${name}`;
          const st = statSync(join(this.#dir, key), { throwIfNoEntry: false });
          if (!st?.isFile()) continue;
          const parsed = parseV3Key(key, st.size, st.mtime);
          if (parsed && "snapshot" in parsed) snapshots.push(parsed.snapshot);
          else if (parsed) segments.push(parsed.segment);
        }
      }
    }
    return Promise.resolve(sortListing(snapshots, segments));
  }

  read(relPath: string): Promise<Uint8Array> {
    const path = join(this.#dir, relPath);
    try {
      return Promise.resolve(new Uint8Array(readFileSync(path)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        return Promise.reject(new NotFoundError(`Cannot read '${path}': it does not exist`, { path }));
      }
      return Promise.reject(err);
    }
  }
}

/** A v0.3 replica under an S3 prefix. */
export class V3S3Storage implements V3Storage {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(spec: S3ReplicaSpec, options: { env: Record<string, string | undefined> }) {
    const access = s3Access(spec, options);
    this.#client = access.client;
    this.#bucket = access.bucket;
    this.#prefix = access.prefix;
    this.location = access.location;
  }

  async list(): Promise<V3Listing> {
    const snapshots: V3Snapshot[] = [];
    const segments: V3WalSegment[] = [];
    const prefix = `${this.#prefix}generations/`;
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) }),
        );
      } catch (err) {
        throw new ReplicaError(`Cannot list v0.3 generations of '${this.location}': ${(err as Error).message}`, {
          replica: this.location,
          hint: "check the bucket, endpoint and credentials",
          cause: err,
        });
      }
      for (const obj of out.Contents ?? []) {
        if (obj.Key === undefined) continue;
        const parsed = parseV3Key(obj.Key.slice(this.#prefix.length), obj.Size ?? 0, obj.LastModified ?? new Date(0));
        if (parsed && "snapshot" in parsed) snapshots.push(parsed.snapshot);
        else if (parsed) segments.push(parsed.segment);
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
    } while (token !== undefined);
    return sortListing(snapshots, segments);
  }

  async read(relPath: string): Promise<Uint8Array> {
    const key = this.#prefix + relPath;
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      if (!out.Body) throw new Error("empty body");
      return await out.Body.transformToByteArray();
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") {
        throw new NotFoundError(`Cannot read 's3://${this.#bucket}/${key}': it does not exist`, { path: key });
      }
      throw new ReplicaError(`Cannot read 's3://${this.#bucket}/${key}': ${(err as Error).message}`, {
        replica: this.location,
        hint: "check the bucket, endpoint and credentials",
        cause: err,
      });
    }
  }
}

/** Creates the v0.3 storage for a replica spec. */
export function createV3Storage(spec: ReplicaSpec, options: { env: Record<string, string | undefined> }): V3Storage {
  return spec.type === "file" ? new V3FileStorage(spec.path) : new V3S3Storage(spec, options);
}
