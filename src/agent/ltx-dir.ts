/**
 * A local directory of LTX files laid out like a file replica
 * (`<root>/ltx/<level>/<min>-<max>.ltx`). Used for the capture spool and for
 * each replica's local copies of what it uploads (the sources of
 * compaction, so the device never downloads anything).
 *
 * @module
 */

import { linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatLtxFileName, parseLtxFileName } from "../ltx/file-name.ts";
import type { Txid } from "../ltx/txid.ts";
import { createAtomicFile, TEMP_SUFFIX, type AtomicFile } from "../platform/atomic-write.ts";
import { openFileReader } from "../platform/random-access.ts";
import type { LtxFileInfo, LtxFileKey } from "../replica/client.ts";

/** Bytes per read when a link must fall back to a copy. */
const COPY_CHUNK = 1 << 20;

/** See the module documentation. */
export class LtxDir {
  readonly root: string;

  /** Uses `root`, creating level directories on demand; removes temp files left by a crash. */
  constructor(root: string) {
    this.root = root;
    mkdirSync(join(root, "ltx"), { recursive: true });
    for (const level of readdirSync(join(root, "ltx"))) {
      const dir = join(root, "ltx", level);
      for (const name of readdirSync(dir)) if (name.endsWith(TEMP_SUFFIX)) rmSync(join(dir, name), { force: true });
    }
  }

  /** Path of a file. */
  path(key: LtxFileKey): string {
    return join(this.root, "ltx", String(key.level), formatLtxFileName(key.minTxid, key.maxTxid));
  }

  /** Starts writing a file atomically. */
  create(level: number, minTxid: Txid, maxTxid: Txid): AtomicFile {
    mkdirSync(join(this.root, "ltx", String(level)), { recursive: true });
    return createAtomicFile(this.path({ level, minTxid, maxTxid }));
  }

  /** Files of a level in ascending TXID order (createdAt = mtime = LTX timestamp). */
  list(level: number): LtxFileInfo[] {
    const dir = join(this.root, "ltx", String(level));
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: LtxFileInfo[] = [];
    for (const name of names) {
      const parsed = parseLtxFileName(name);
      if (!parsed) continue;
      const st = statSync(join(dir, name));
      out.push({ level, ...parsed, size: st.size, createdAt: st.mtime });
    }
    return out.sort((a, b) => (a.minTxid < b.minTxid ? -1 : a.minTxid > b.minTxid ? 1 : 0));
  }

  /**
   * Puts `f` of `src` (a directory on the same file system) here under the
   * same name, as a hard link: no data is copied, so it works on a full
   * disk. Falls back to a copy across file systems. Returns the new entry.
   */
  link(src: LtxDir, f: LtxFileInfo): LtxFileInfo {
    mkdirSync(join(this.root, "ltx", String(f.level)), { recursive: true });
    const to = this.path(f);
    rmSync(to, { force: true });
    try {
      linkSync(src.path(f), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      const file = this.create(f.level, f.minTxid, f.maxTxid);
      try {
        const from = openFileReader(src.path(f));
        try {
          for (let at = 0; at < from.size; at += COPY_CHUNK) file.write(from.read(at, Math.min(COPY_CHUNK, from.size - at)));
        } finally {
          from.close();
        }
        file.commit({ mtime: f.createdAt });
      } catch (copyErr) {
        file.abort();
        throw copyErr;
      }
    }
    return { ...f };
  }

  /**
   * Files of a level like `list`, without those a longer file of the level
   * wholly holds: the inputs a merge had not removed yet when the process
   * died (its output is written before they go). They are removed here, so
   * no later merge or upload meets overlapping files.
   */
  listMerged(level: number): LtxFileInfo[] {
    const files = this.list(level).sort((a, b) => (a.minTxid < b.minTxid ? -1 : a.minTxid > b.minTxid ? 1 : a.maxTxid > b.maxTxid ? -1 : 1));
    const out: LtxFileInfo[] = [];
    let end = 0n;
    for (const f of files) {
      if (out.length > 0 && f.maxTxid <= end) {
        this.remove(f);
        continue;
      }
      out.push(f);
      if (f.maxTxid > end) end = f.maxTxid;
    }
    return out;
  }

  /** Reads a whole file (small files and tests only: uploads and merges read files in pieces). */
  read(key: LtxFileKey): Uint8Array {
    return readFileSync(this.path(key));
  }

  /** Removes a file (missing is fine). */
  remove(key: LtxFileKey): void {
    rmSync(this.path(key), { force: true });
  }
}
