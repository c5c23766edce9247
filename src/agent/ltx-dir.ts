/**
 * A local directory of LTX files laid out like a file replica
 * (`<root>/ltx/<level>/<min>-<max>.ltx`). Used for the capture spool and for
 * each replica's local copies of what it uploads (the sources of
 * compaction, so the device never downloads anything).
 *
 * The directory is this process's alone (one agent per state directory),
 * so its listing is kept in memory: each level is read from disk once, the
 * first time it is asked for, and every change made through this object
 * (`create`…`commit`, `link`, `remove`) updates it. No tick lists a
 * directory. Temp files left by a crash are not this class's business:
 * `LocalStore.open` sweeps them once (architecture-next §3).
 *
 * @module
 */

import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { formatLtxFileName, parseLtxFileName } from "../ltx/file-name.ts";
import type { Txid } from "../ltx/txid.ts";
import { createAtomicFile, type AtomicFile } from "../platform/atomic-write.ts";
import { openFileReader } from "../platform/random-access.ts";
import type { LtxFileInfo, LtxFileKey } from "../replica/client.ts";

/** Bytes per read when a link must fall back to a copy. */
const COPY_CHUNK = 1 << 20;

/** See the module documentation. */
export class LtxDir {
  readonly root: string;
  /** Per level: file name → entry, once read from disk. */
  #index = new Map<number, Map<string, LtxFileInfo>>();
  /** Level directories known to exist. */
  #made = new Set<number>();

  /** Uses `root`; nothing is read or created until a level is used. */
  constructor(root: string) {
    this.root = root;
  }

  /** Path of a file. */
  path(key: LtxFileKey): string {
    return join(this.root, "ltx", String(key.level), formatLtxFileName(key.minTxid, key.maxTxid));
  }

  /**
   * Starts writing a file atomically; the listing holds it once `commit`
   * returns (dated by the `mtime` given, else now).
   */
  create(level: number, minTxid: Txid, maxTxid: Txid): AtomicFile {
    this.#mkdir(level);
    const file = createAtomicFile(this.path({ level, minTxid, maxTxid }));
    const entries = this.#level(level);
    return {
      write: (chunk) => file.write(chunk),
      get size() {
        return file.size;
      },
      commit: (options = {}) => {
        file.commit(options);
        const createdAt = options.mtime ?? new Date();
        entries.set(formatLtxFileName(minTxid, maxTxid), { level, minTxid, maxTxid, size: file.size, createdAt });
      },
      abort: () => file.abort(),
    };
  }

  /** Files of a level in ascending TXID order, by min then max (createdAt = mtime = LTX timestamp). */
  list(level: number): LtxFileInfo[] {
    return [...this.#level(level).values()].sort((a, b) =>
      a.minTxid !== b.minTxid
        ? a.minTxid < b.minTxid
          ? -1
          : 1
        : a.maxTxid < b.maxTxid
          ? -1
          : a.maxTxid > b.maxTxid
            ? 1
            : 0,
    );
  }

  /**
   * Puts `f` of `src` (a directory on the same file system) here under the
   * same name, at `level` (default `f`'s), as a hard link: no data is
   * copied, so it works on a full disk. Falls back to a copy across file
   * systems. Returns the new entry.
   */
  link(src: LtxDir, f: LtxFileInfo, level = f.level): LtxFileInfo {
    this.#mkdir(level);
    const key = { ...f, level };
    const to = this.path(key);
    unlinkIfExists(to);
    try {
      linkSync(src.path(f), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      const file = this.create(level, f.minTxid, f.maxTxid);
      try {
        const from = openFileReader(src.path(f));
        try {
          for (let at = 0; at < from.size; at += COPY_CHUNK)
            file.write(from.read(at, Math.min(COPY_CHUNK, from.size - at)));
        } finally {
          from.close();
        }
        file.commit({ mtime: f.createdAt });
      } catch (copyErr) {
        file.abort();
        throw copyErr;
      }
    }
    const entry = { ...f, level };
    this.#level(level).set(formatLtxFileName(f.minTxid, f.maxTxid), entry);
    return { ...entry };
  }

  /**
   * Files of a level like `list`, without those a longer file of the level
   * wholly holds: the inputs a merge had not removed yet when the process
   * died (its output is written before they go). They are removed here, so
   * no later merge or upload meets overlapping files.
   */
  listMerged(level: number): LtxFileInfo[] {
    const files = this.list(level).sort((a, b) =>
      a.minTxid < b.minTxid ? -1 : a.minTxid > b.minTxid ? 1 : a.maxTxid > b.maxTxid ? -1 : 1,
    );
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
    unlinkIfExists(this.path(key));
    this.#level(key.level).delete(formatLtxFileName(key.minTxid, key.maxTxid));
  }

  /** The entries of `level`, read from disk the first time. */
  #level(level: number): Map<string, LtxFileInfo> {
    let entries = this.#index.get(level);
    if (entries) return entries;
    entries = new Map();
    const dir = join(this.root, "ltx", String(level));
    let names: string[] = [];
    try {
      names = readdirSync(dir);
      this.#made.add(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    for (const name of names) {
      const parsed = parseLtxFileName(name);
      if (!parsed) continue;
      const st = statSync(join(dir, name));
      entries.set(name, { level, ...parsed, size: st.size, createdAt: st.mtime });
    }
    this.#index.set(level, entries);
    return entries;
  }

  #mkdir(level: number): void {
    if (this.#made.has(level)) return;
    mkdirSync(join(this.root, "ltx", String(level)), { recursive: true });
    this.#made.add(level);
  }
}

/**
 * Removes a file; a missing one is fine. One unlink, where `rmSync` with
 * `force` first stats the path (a syscall per removed spool file, issue #13).
 */
function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
