/**
 * Turns an LTX file with database checksums (flags 0) into the same file
 * with the NoChecksum flag — pre-apply and post-apply checksums zero, the
 * file checksum valid for the new bytes — without reading its pages: only
 * the header's flags and pre-apply checksum and the trailer change, and the
 * file checksum is corrected with CRC-64 algebra (`crc64-combine.ts`).
 *
 * The file checksum does not hash the file's bytes but (see `encoder.ts`)
 * header ‖ per page (6-byte page header ‖ 4-byte size ‖ the *uncompressed*
 * page) ‖ 6-byte end marker ‖ page index ‖ 8-byte index size ‖ 8-byte
 * post-apply checksum, so the position of the trailer's post-apply checksum
 * in that stream depends on the page count, which is read from the page
 * index (one varint terminator per number: 3 per page, 1 for the end),
 * streamed in small reads so memory stays flat whatever the file's size.
 *
 * Replicas store files in this form so that stock Litestream restores them
 * (its compactor writes NoChecksum output and refuses a post-apply checksum
 * it copied from a checked input); the checksums taken out travel beside
 * the object (`replica/checksum-record.ts`).
 *
 * @module
 */

import { CorruptFileError } from "../errors.ts";
import { overlaySource, type ByteSource } from "../platform/byte-source.ts";
import { CHECKSUM_FLAG } from "./checksum.ts";
import { crc64DeltaOf } from "./crc64-combine.ts";
import { checkPageIndexSize, INDEX_SIZE_FROM_END, MIN_FILE_SIZE } from "./decoder.ts";
import {
  decodeHeader,
  HEADER_FLAG_NO_CHECKSUM,
  HEADER_SIZE,
  MAGIC,
  hasNoChecksum,
  PAGE_HEADER_SIZE,
  TRAILER_SIZE,
} from "./header.ts";

/** The database checksums a NoChecksum copy no longer holds, bound to the copy's bytes. */
export interface DatabaseChecksums {
  /** The header's pre-apply checksum (0 for a snapshot). */
  readonly preApply: bigint;
  /** The trailer's post-apply checksum. */
  readonly postApply: bigint;
  /** The file checksum of the NoChecksum copy: which bytes these checksums belong to. */
  readonly file: bigint;
}

/** A body to store and the checksums taken out of it (none when it had none). */
export interface NoChecksumCopy {
  readonly body: ByteSource;
  readonly checksums: DatabaseChecksums | undefined;
}

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);

/** Bytes per read while counting the page index's entries. */
const INDEX_READ_SIZE = 64 * 1024;

/** Offset of the pre-apply checksum in the header. */
const PRE_APPLY_OFFSET = 40;

/**
 * The NoChecksum form of the LTX file in `source`, as a view over it (same
 * size; the 100 header bytes and the 16 trailer bytes differ). A body that
 * has no database checksums to take out — an LTX file with the NoChecksum
 * flag already, or bytes that do not start with the LTX magic at all —
 * comes back as it is, with no checksums.
 *
 * @param path names the file in errors
 * @throws {CorruptFileError} when an LTX header, its size or its page index is malformed
 */
export async function toNoChecksum(source: ByteSource, path: string): Promise<NoChecksumCopy> {
  const as: NoChecksumCopy = { body: source, checksums: undefined };
  if (source.size < MAGIC_BYTES.length) return as;
  const magic = await source.read(0, MAGIC_BYTES.length);
  if (magic.some((b, i) => b !== MAGIC_BYTES[i])) return as;
  if (source.size < MIN_FILE_SIZE) {
    throw new CorruptFileError(`Cannot convert '${path}' to NoChecksum: it has ${source.size} bytes`, { path });
  }
  const oldHeader = (await source.read(0, HEADER_SIZE)).slice();
  const header = decodeHeader(oldHeader, { path });
  if (hasNoChecksum(header)) return as;
  const tail = await source.read(source.size - INDEX_SIZE_FROM_END, INDEX_SIZE_FROM_END);
  const view = new DataView(tail.buffer, tail.byteOffset, INDEX_SIZE_FROM_END);
  const indexSize = checkPageIndexSize(view.getBigUint64(0), source.size, { path });
  const postApply = view.getBigUint64(8);
  const oldFile = view.getBigUint64(16);
  const pages = await countPages(source, indexSize, path);
  // The hashed stream: header, pages (uncompressed), end marker, index, index size, post-apply.
  const hashed = HEADER_SIZE + pages * (PAGE_HEADER_SIZE + 4 + header.pageSize) + PAGE_HEADER_SIZE + indexSize + 16;

  const newHeader = oldHeader.slice();
  const hv = new DataView(newHeader.buffer);
  hv.setUint32(4, header.flags | HEADER_FLAG_NO_CHECKSUM);
  hv.setBigUint64(PRE_APPLY_OFFSET, 0n);
  const postXor = new Uint8Array(8);
  new DataView(postXor.buffer).setBigUint64(0, postApply);
  const delta = crc64DeltaOf(hashed, [
    { offset: 0, xor: newHeader.map((b, i) => b ^ oldHeader[i]!) },
    { offset: hashed - 8, xor: postXor },
  ]);
  // Bit 63 of the CRC is lost in the stored checksum, and set again: the other 63 bits carry the delta.
  const file = CHECKSUM_FLAG | (oldFile ^ delta);
  const trailer = new Uint8Array(TRAILER_SIZE);
  new DataView(trailer.buffer).setBigUint64(8, file);
  return {
    body: overlaySource(source, [
      { offset: 0, bytes: newHeader },
      { offset: source.size - TRAILER_SIZE, bytes: trailer },
    ]),
    checksums: { preApply: header.preApplyChecksum, postApply, file },
  };
}

/** The number of pages in the page index (of `indexSize` bytes, ending 24 bytes before the end). */
async function countPages(source: ByteSource, indexSize: number, path: string): Promise<number> {
  const start = source.size - INDEX_SIZE_FROM_END - indexSize;
  let ends = 0;
  let last = 0;
  for (let at = start; at < start + indexSize; at += INDEX_READ_SIZE) {
    const chunk = await source.read(at, Math.min(INDEX_READ_SIZE, start + indexSize - at));
    for (const b of chunk) if (b < 0x80) ends++;
    last = chunk[chunk.length - 1]!;
  }
  if (last !== 0 || (ends - 1) % 3 !== 0) {
    throw new CorruptFileError(`Cannot convert '${path}' to NoChecksum: its page index is malformed`, {
      path,
      offset: start,
    });
  }
  return (ends - 1) / 3;
}
