/**
 * The databases of the `large` benchmark and what it measures on files:
 * generating a database of a given size fast ({@linkcode generateDatabase}),
 * its size compressed page by page with LZ4 as LTX stores pages
 * ({@linkcode lz4PageBytes}), a streamed SHA-256 ({@linkcode sha256File}),
 * a checkpoint that folds the WAL into the file
 * ({@linkcode checkpointDatabase}), and a directory tree's size and latest
 * change ({@linkcode treeStats}).
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { lz4CompressBlock } from "../src/platform/lz4.ts";
import type { LargeDatabaseSettings } from "./large-settings.ts";

/** Bytes in one MB as the issue and `--sizes` count them. */
export const MB = 1_000_000;

/** A generated database. */
export interface GeneratedDatabase {
  readonly path: string;
  /** File size, bytes. */
  readonly bytes: number;
  readonly pages: number;
  readonly rows: number;
  /** Seconds the generation took. */
  readonly seconds: number;
}

/** Rows inserted between two checks of the file size. */
const ROWS_PER_CHECK = 1024;
/** Read size of the streaming file functions. */
const CHUNK_BYTES = 4 * 1024 * 1024;

const SENSORS = ["temperature", "humidity", "pressure", "co2", "voltage", "current", "vibration", "light"] as const;
const STATES = ["ok", "ok", "ok", "warn", "alarm"] as const;

/**
 * Creates a WAL-mode database of at least `sizeMB` MB at `path`: one table
 * of rows that each fill about one page, half random bytes (a BLOB) and
 * half templated telemetry text, inserted in one transaction with no
 * journal (the fastest way SQLite writes a fresh file), then switched to
 * WAL. The same settings and size give the same bytes.
 *
 * @throws {Error} when SQLite cannot create the file
 */
export function generateDatabase(path: string, sizeMB: number, settings: LargeDatabaseSettings): GeneratedDatabase {
  const started = performance.now();
  const target = sizeMB * MB;
  const db = new Database(path, { create: true, strict: true });
  let rows = 0;
  try {
    db.run(`PRAGMA page_size = ${settings.pageSize}`);
    db.run("PRAGMA journal_mode = OFF");
    db.run("PRAGMA synchronous = OFF");
    db.run("CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB NOT NULL, note TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO blobs(data, note) VALUES (?, ?)");
    const pageCount = db.query<{ n: number }, []>("SELECT page_count AS n FROM pragma_page_count()");
    const next = xorshift32(settings.seed);
    const words = new Uint32Array(Math.ceil(settings.randomBytesPerRow / 4));
    const bytes = new Uint8Array(words.buffer, 0, settings.randomBytesPerRow);
    db.transaction(() => {
      while ((pageCount.get()?.n ?? 0) * settings.pageSize < target) {
        for (let i = 0; i < ROWS_PER_CHECK; i++, rows++) {
          for (let w = 0; w < words.length; w++) words[w] = next();
          insert.run(bytes, telemetryText(next, rows, settings.textBytesPerRow));
        }
      }
    })();
    db.run("PRAGMA journal_mode = WAL");
  } finally {
    db.close();
  }
  const fileBytes = statSync(path).size;
  return {
    path,
    bytes: fileBytes,
    pages: fileBytes / settings.pageSize,
    rows,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Returns a xorshift32 generator of unsigned 32-bit words; the seed must not be 0. */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Telemetry lines of row `row`, exactly `length` characters. */
function telemetryText(next: () => number, row: number, length: number): string {
  let text = "";
  for (let line = 0; text.length < length; line++) {
    const r = next();
    const sensor = SENSORS[r & 7] ?? "temperature";
    const state = STATES[(r >>> 3) % STATES.length] ?? "ok";
    const value = ((r >>> 8) % 1_000_000) / 1000;
    text += `ts=${1_767_225_600 + row * 60 + line} device=gw-${(row % 50).toString().padStart(4, "0")} sensor=${sensor} value=${value.toFixed(3)} state=${state} fw=2.4.1\n`;
  }
  return text.slice(0, length);
}

/**
 * Returns the sum, over every `pageSize` page of the file at `path`, of
 * the page's LZ4 block size: what LTX v3 stores for the pages (without its
 * per-page headers), so the least a first sync in the v0.5 layout can upload.
 *
 * @throws {Error} when the file cannot be read
 */
export function lz4PageBytes(path: string, pageSize: number): number {
  let total = 0;
  forEachChunk(path, (chunk) => {
    for (let off = 0; off < chunk.length; off += pageSize)
      total += lz4CompressBlock(chunk.subarray(off, off + pageSize)).length;
  });
  return total;
}

/**
 * Returns the hex SHA-256 of the file at `path`, read in chunks.
 *
 * @throws {Error} when the file cannot be read
 */
export function sha256File(path: string): string {
  const hasher = new Bun.CryptoHasher("sha256");
  forEachChunk(path, (chunk) => hasher.update(chunk));
  return hasher.digest("hex");
}

function forEachChunk(path: string, use: (chunk: Uint8Array) => void): void {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(CHUNK_BYTES);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      use(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Folds the WAL of the database at `path` into its file
 * (`PRAGMA wal_checkpoint(TRUNCATE)`), so that the file holds the state a
 * restore of the latest position must reproduce byte for byte. Only call it
 * once no agent has the database open.
 *
 * @throws {Error} when SQLite cannot open the database or the checkpoint is blocked
 */
export function checkpointDatabase(path: string): void {
  const db = new Database(path, { strict: true });
  try {
    const r = db.query<{ busy: number }, []>("PRAGMA wal_checkpoint(TRUNCATE)").get();
    if (r?.busy) throw new Error(`Cannot checkpoint '${path}': the checkpoint was blocked`);
  } finally {
    db.close();
  }
}

/** Size and latest change of a directory tree. */
export interface TreeStats {
  /** Regular files. */
  readonly files: number;
  /** Sum of their sizes, bytes. */
  readonly bytes: number;
  /** Latest `mtimeMs` of any file or directory (renames change a directory's), epoch ms; 0 for a missing tree. */
  readonly latestChangeMs: number;
}

/** Returns the {@linkcode TreeStats} of `dir`; a missing `dir` (or an entry removed while walking) counts as empty. */
export function treeStats(dir: string): TreeStats {
  let files = 0;
  let bytes = 0;
  let latestChangeMs = 0;
  const walk = (path: string): void => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return;
    }
    latestChangeMs = Math.max(latestChangeMs, st.mtimeMs);
    if (st.isFile()) {
      files++;
      bytes += st.size;
      return;
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const name of names) walk(join(path, name));
  };
  walk(dir);
  return { files, bytes, latestChangeMs };
}
