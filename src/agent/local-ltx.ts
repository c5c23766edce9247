/**
 * Streams an LTX file into the local state directory: encoder chunks go
 * straight to a temp file that replaces the final name only when complete,
 * so memory stays at one page and a crash leaves no partial file.
 *
 * @module
 */

import { LtxEncoder } from "../ltx/encoder.ts";
import type { LtxHeader } from "../ltx/header.ts";
import type { LocalStore } from "./local-store.ts";

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
 * Writes `content` as `ltx/<level>/<min>-<max>.ltx` in `store`. Returns the
 * file size.
 * @throws whatever encoding or the file system throws; nothing is left behind then
 */
export function writeLocalLtx(store: LocalStore, content: LocalLtxContent): number {
  const { header } = content;
  const file = store.createLtxFile(content.level, header.minTxid, header.maxTxid);
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
