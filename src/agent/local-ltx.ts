/**
 * Streams an LTX file into the local state directory: encoder chunks go
 * straight to a temp file that replaces the final name only when complete,
 * so memory stays at one page and a crash leaves no partial file.
 *
 * @module
 */

import { compactLtxFiles } from "../ltx/compactor.ts";
import { decodeLtxFile } from "../ltx/decoder.ts";
import { LtxEncoder } from "../ltx/encoder.ts";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
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
    const enc = new LtxEncoder(header, (chunk) => file.write(chunk));
    for (const { pgno, data } of content.pages) enc.encodePage(pgno, data);
    const { size } = enc.finish(content.postApply());
    file.commit({ mtime: new Date(header.timestamp) });
    return size;
  } catch (err) {
    file.abort();
    throw err;
  }
}

/**
 * Merges contiguous local files (each page once, newest wins) into one file
 * `<first min>-<last max>` at `level` in `dst`, with the last input's
 * timestamp and node ID (the writer: every local file is this state's
 * own). Every input is verified (file checksum) on the way.
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
  },
): LtxFileInfo {
  const inputs = options.files.map((f) => decodeLtxFile(src.read(f), { path: src.path(f), autoRecoverable: true }));
  const first = options.files[0];
  const last = options.files[options.files.length - 1];
  if (!first || !last) throw new RangeError("Cannot merge LTX files: no input files");
  const file = options.dst.create(options.level, first.minTxid, last.maxTxid);
  try {
    const nodeId = inputs[inputs.length - 1]?.header.nodeId ?? 0n;
    const { header, size } = compactLtxFiles(inputs, (chunk) => file.write(chunk), { nodeId });
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
    const tailLength = size >= HEADER_SIZE + TRAILER_SIZE ? readSync(fd, tail, 0, TRAILER_SIZE, size - TRAILER_SIZE) : 0;
    return { header, postApplyChecksum: decodeTrailer(tail.subarray(0, tailLength), { path }).postApplyChecksum };
  } finally {
    closeSync(fd);
  }
}
