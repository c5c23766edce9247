/**
 * A replica in a local (or mounted) directory:
 * `<dir>/ltx/<level decimal>/<min>-<max>.ltx`, file mtime = LTX timestamp,
 * as a layout over `FileObjectStore`.
 *
 * @module
 */

import { LtxReplicaClient } from "../ltx-replica-client.ts";
import type { FileReplicaSpec } from "../spec.ts";
import { FileObjectStore } from "./object-store.ts";

/**
 * Stores LTX files in a directory tree. Writes are atomic (temp file in the
 * same directory, fsync, rename, fsync of the directory); the LTX timestamp
 * is kept as the file's mtime and returned as `createdAt` by listings.
 *
 * @example
 * ```ts
 * const client = new FileReplicaClient({ type: "file", path: "/backups/app" });
 * await client.init();
 * ```
 */
export class FileReplicaClient extends LtxReplicaClient {
  /** Creates a client for `spec.path`; no I/O happens until a method is called. */
  constructor(spec: FileReplicaSpec) {
    super(new FileObjectStore(spec.path, { initDir: "ltx" }), {
      levelPrefix: (level) => `ltx/${level}/`,
      root: "ltx/",
    });
  }
}
