/**
 * Read-only access to a Litestream v0.3 replica (reference §4.1):
 * `generations/<16hex>/snapshots/<index %08x>.snapshot.lz4` and
 * `generations/<16hex>/wal/<index %08x>_<offset %08x>.wal.lz4`, under a file
 * replica's directory or an S3 prefix. `createdAt` is the file mtime or the
 * S3 `LastModified` (v0.3 stores no metadata).
 *
 * Every object goes through the replica's `ObjectStore` and is streamed
 * (`object-reader.ts` decodes it). It is listed
 * without a delimiter (one flat listing of `generations/`), so servers that
 * drop common prefixes in delimiter listings (s3rver) work.
 *
 * @module
 */

import { FileObjectStore } from "../replica/file/object-store.ts";
import { listObjects, type ObjectStore } from "../replica/object-store.ts";
import { S3ObjectStore } from "../replica/s3/object-store.ts";
import type { ReplicaSpec } from "../replica/spec.ts";

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
  /** Streams one object by its path relative to the replica root (never whole: objects are database-sized). */
  open(relPath: string): Promise<AsyncIterable<Uint8Array>>;
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

/**
 * A v0.3 replica in any object store: one flat listing of `generations/`
 * (no delimiter, so servers that drop common prefixes in delimiter
 * listings work), reads through the store.
 */
export class V3ObjectStorage implements V3Storage {
  readonly location: string;
  readonly #store: ObjectStore;

  /** Reads the v0.3 layout under the root of `store`. */
  constructor(store: ObjectStore) {
    this.#store = store;
    this.location = store.location;
  }

  async list(): Promise<V3Listing> {
    const snapshots: V3Snapshot[] = [];
    const segments: V3WalSegment[] = [];
    for await (const obj of listObjects(this.#store, "generations/", {
      action: `list v0.3 generations of '${this.location}'`,
    })) {
      const parsed = parseV3Key(obj.key, obj.size, obj.lastModified);
      if (parsed && "snapshot" in parsed) snapshots.push(parsed.snapshot);
      else if (parsed) segments.push(parsed.segment);
    }
    return sortListing(snapshots, segments);
  }

  /** Streams one object. @throws {NotFoundError} when it does not exist */
  open(relPath: string): Promise<AsyncIterable<Uint8Array>> {
    return this.#store.get(relPath);
  }
}

/** A v0.3 file replica rooted at `dir`. */
export class V3FileStorage extends V3ObjectStorage {
  constructor(dir: string) {
    super(new FileObjectStore(dir));
  }
}

/** Creates the v0.3 storage for a replica spec. */
export function createV3Storage(spec: ReplicaSpec, options: { env: Record<string, string | undefined> }): V3Storage {
  return new V3ObjectStorage(spec.type === "file" ? new FileObjectStore(spec.path) : new S3ObjectStore(spec, options));
}
