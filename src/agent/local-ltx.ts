/**
 * Streams an LTX file into the local state directory: encoder chunks go
 * straight to a temp file that replaces the final name only when complete,
 * so memory stays at one page and a crash leaves no partial file. Merges
 * read their inputs from the files (page index in memory, one frame per
 * input at a time), in bounded groups.
 *
 * @module
 */

import { compactLtxFiles, type CompactLtxResult } from "../ltx/compactor.ts";
import { openLtxFileAt, type LtxFile } from "../ltx/decoder.ts";
import { LtxEncoder, type LtxSink } from "../ltx/encoder.ts";
import { closeSync, fstatSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { TEMP_SUFFIX } from "../platform/atomic-write.ts";
import { GarbagePacer } from "../platform/gc.ts";
import { decodeHeader, decodeTrailer, HEADER_SIZE, TRAILER_SIZE, type LtxHeader } from "../ltx/header.ts";
import type { LtxFileInfo, LtxFileKey } from "../replica/client.ts";
import type { LtxDir } from "./ltx-dir.ts";

/** What to put in the file. */
export interface LocalLtxContent {
  /** 0 for captured files, 9 for snapshots. */
  readonly level: number;
  readonly header: LtxHeader;
  /** Pages in ascending order. */
  readonly pages: Iterable<{ readonly pgno: number; readonly data: Uint8Array }>;
  /** The trailer's post-apply checksum, asked for after the last page. */
  readonly postApply: () => bigint;
}

/**
 * Writes `content` as `ltx/<level>/<min>-<max>.ltx` in `dir`. Returns the
 * file size.
 * @throws whatever encoding or the file system throws; nothing is left behind then
 */
export function writeLocalLtx(dir: LtxDir, content: LocalLtxContent): number {
  const { header } = content;
  const file = dir.create(content.level, header.minTxid, header.maxTxid);
  try {
    const pacer = new GarbagePacer();
    // Each frame is written before the encoder reuses its buffer.
    const enc = new LtxEncoder(header, (chunk) => file.write(chunk), { reuseFrames: true });
    for (const { pgno, data } of content.pages) {
      enc.encodePage(pgno, data);
      pacer.add(data.length);
    }
    const { size } = enc.finish(content.postApply());
    file.commit({ mtime: new Date(header.timestamp) });
    return size;
  } catch (err) {
    file.abort();
    throw err;
  }
}

/**
 * The most files one merge pass reads at once. More inputs (a spool that
 * grew for days offline) are merged in groups into temp files first, so
 * open descriptors and memory (one frame and one page index per open
 * input) stay bounded whatever the count.
 */
export const MERGE_FAN_IN = 32;

/**
 * Merges contiguous local files (each page once, newest wins) into one file
 * `<first min>-<last max>` at `level` in `dst`, with the last input's
 * timestamp and node ID (the writer: every local file is this state's
 * own), and at level 0 its WAL fields (docs/FORMAT.md). Every input is verified (file checksum) on the way. Inputs are
 * read from their files, never whole; past {@linkcode MERGE_FAN_IN} of
 * them, in groups through temp files beside the output.
 */
export function mergeLocalLtx(
  src: LtxDir,
  options: {
    files: readonly LtxFileInfo[];
    dst: LtxDir;
    level: number;
    /**
     * Date the local file (its mtime, hence `createdAt`) by the oldest
     * input instead of the LTX timestamp, so pending data keeps its age.
     */
    dateByOldest?: boolean;
    /** Files per merge pass (tests use small values). */
    fanIn?: number;
  },
): LtxFileInfo {
  const first = options.files[0];
  const last = options.files[options.files.length - 1];
  if (!first || !last) throw new RangeError("Cannot merge LTX files: no input files");
  const nodeId = readLocalLtxEnds(src, last).header.nodeId;
  const file = options.dst.create(options.level, first.minTxid, last.maxTxid);
  try {
    const tempBase = options.dst.path({ level: options.level, minTxid: first.minTxid, maxTxid: last.maxTxid });
    const inputs = options.files.map((f) => src.path(f));
    const pacer = new GarbagePacer();
    const { header, size } = compactPaths(
      inputs,
      (chunk) => {
        file.write(chunk);
        pacer.add(chunk.length);
      },
      {
        nodeId,
        keepWal: options.level === 0,
        fanIn: Math.max(2, options.fanIn ?? MERGE_FAN_IN),
        tempBase,
      },
    );
    const oldest = Math.min(...options.files.map((f) => f.createdAt.getTime()));
    const createdAt = new Date(options.dateByOldest === true ? oldest : header.timestamp);
    file.commit({ mtime: createdAt });
    return { level: options.level, minTxid: first.minTxid, maxTxid: last.maxTxid, size, createdAt };
  } catch (err) {
    file.abort();
    throw err;
  }
}

/**
 * Compacts the LTX files at `paths` (oldest first) into `sink`, reading at
 * most `fanIn` at once: above that, each group of `fanIn` is compacted into
 * a temp file (`<tempBase>.<depth>-<n>.tmp`, removed after use, swept by
 * `LtxDir` after a crash) and the temp files are compacted in turn. Newest
 * page wins either way: groups keep the inputs' order, and a page a later
 * file truncated away and regrew is in the later file.
 */
function compactPaths(
  paths: readonly string[],
  sink: LtxSink,
  options: { nodeId: bigint; keepWal: boolean; fanIn: number; tempBase: string; depth?: number },
): CompactLtxResult {
  if (paths.length <= options.fanIn) {
    const files: LtxFile[] = [];
    try {
      for (const path of paths) files.push(openLtxFileAt(path, { autoRecoverable: true }));
      // Both sinks write each chunk out before they return.
      return compactLtxFiles(files, sink, { nodeId: options.nodeId, keepWal: options.keepWal, reuseFrames: true });
    } finally {
      for (const f of files) f.close();
    }
  }
  const depth = options.depth ?? 0;
  const temps: string[] = [];
  try {
    for (let i = 0; i < paths.length; i += options.fanIn) {
      const temp = `${options.tempBase}.${depth}-${temps.length}${TEMP_SUFFIX}`;
      temps.push(temp);
      const fd = openSync(temp, "w", 0o600);
      try {
        compactPaths(paths.slice(i, i + options.fanIn), (chunk) => writeFully(fd, chunk), {
          ...options,
          depth: depth + 1,
        });
      } finally {
        closeSync(fd);
      }
    }
    return compactPaths(temps, sink, { ...options, depth: depth + 1 });
  } finally {
    for (const temp of temps) rmSync(temp, { force: true });
  }
}

function writeFully(fd: number, chunk: Uint8Array): void {
  let done = 0;
  while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
}

/**
 * Reads only the header and the trailer's post-apply checksum of a local
 * file (two small reads, whatever the file's size). The file checksum is
 * not verified.
 * @throws {CorruptFileError} when the file is too short or its header is invalid
 */
export function readLocalLtxEnds(dir: LtxDir, key: LtxFileKey): { header: LtxHeader; postApplyChecksum: bigint } {
  const path = dir.path(key);
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(HEADER_SIZE);
    const headLength = readSync(fd, head, 0, HEADER_SIZE, 0);
    const header = decodeHeader(head.subarray(0, headLength), { path, autoRecoverable: true });
    const tail = new Uint8Array(TRAILER_SIZE);
    const tailLength =
      size >= HEADER_SIZE + TRAILER_SIZE ? readSync(fd, tail, 0, TRAILER_SIZE, size - TRAILER_SIZE) : 0;
    return { header, postApplyChecksum: decodeTrailer(tail.subarray(0, tailLength), { path }).postApplyChecksum };
  } finally {
    closeSync(fd);
  }
}
