/**
 * The sixth s3rver 3.7.1 defect (the five others are in `s3-server.ts`,
 * which installs this fix too), found by running Litestream v0.3.13
 * against it.
 *
 * A listing with a delimiter loses every common prefix whose "directory"
 * holds only deeper keys. `FilesystemStore.listObjects` prunes its directory
 * walk below the first delimiter after the prefix (to avoid walking whole
 * subtrees) and adds a common prefix only when it meets a key, so for
 * `prefix=ls-1s/app.db/generations/&delimiter=/` over the keys
 * `…/generations/<id>/snapshots/00000000.snapshot.lz4` and
 * `…/generations/<id>/wal/…` it enters `<id>/`, finds no key directly in
 * it, does not descend into `snapshots/` or `wal/`, and answers with no
 * common prefix at all. Litestream finds its generations exactly that way,
 * so `litestream restore` failed with "no matching backups found" and
 * `litestream generations` listed nothing, although every snapshot and WAL
 * segment had been uploaded.
 *
 * The fix keeps s3rver's answer and adds the missing common prefixes, found
 * by walking the file names under the prefix (no metadata is read). As
 * before, common prefixes do not count toward `max-keys`.
 *
 * @module
 */

import { createRequire } from "node:module";

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}

interface ListResult {
  objects: unknown[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

interface FilesystemStoreClass {
  prototype: {
    listObjects(bucket: string, options: ListOptions): Promise<ListResult>;
    getBucketPath(bucket: string): string;
  };
  encodeKeyPath(key: string): string;
  decodeKeyPath(path: string): string;
}

const require = createRequire(import.meta.url);
const PATCHED = Symbol.for("litefleet.s3rverDelimiterFix");

/**
 * Installs the fix described in the module doc, on top of the sorted walk
 * `s3-server.ts` installs first. Calling it twice does nothing.
 */
export function fixS3rverDelimiterListing(): void {
  const Store = require("s3rver/lib/stores/filesystem") as FilesystemStoreClass;
  const utils = require("s3rver/lib/utils") as {
    walk: (dir: string, filter?: (dir: string) => boolean) => Iterable<string>;
  };
  const proto = Store.prototype as FilesystemStoreClass["prototype"] & { [PATCHED]?: true };
  if (proto[PATCHED]) return;
  const listObjects = proto.listObjects;
  // s3rver stores the body of key `a/b/c` at `<bucket>/a/b/c._S3rver_object`.
  const objectSuffix = "._S3rver_object";
  proto.listObjects = async function (bucket, options) {
    const result = await listObjects.call(this, bucket, options);
    const { delimiter = "", startAfter = "", prefix = "" } = options;
    if (delimiter === "") return result;
    const bucketPath = this.getBucketPath(bucket);
    const prefixPath = [bucketPath, Store.encodeKeyPath(prefix)].join("/");
    const found = new Set(result.commonPrefixes);
    const walk = utils.walk(bucketPath, (dir) => dir.startsWith(prefixPath) || prefixPath.startsWith(dir));
    for (const path of walk) {
      if (!path.endsWith(objectSuffix)) continue;
      const key = Store.decodeKeyPath(path.slice(bucketPath.length + 1, -objectSuffix.length));
      if (key <= startAfter || !key.startsWith(prefix)) continue;
      const idx = key.indexOf(delimiter, prefix.length);
      if (idx !== -1) found.add(key.slice(0, idx + delimiter.length));
    }
    return { ...result, commonPrefixes: [...found].sort() };
  };
  proto[PATCHED] = true;
}
