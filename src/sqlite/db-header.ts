/**
 * The 100-byte SQLite database header (first bytes of page 1).
 *
 * @module
 */

/** Fields litefleet needs from the database header. */
export interface DbHeader {
  readonly pageSize: number;
  /** Database size in pages as recorded in the header (valid when non-zero). */
  readonly pageCount: number;
  /** 2 when the file is in WAL mode. */
  readonly writeVersion: number;
}

const MAGIC = "SQLite format 3\u0000";

/** Decodes the header; returns `undefined` when `bytes` is not a SQLite database header. */
export function decodeDbHeader(bytes: Uint8Array): DbHeader | undefined {
  if (bytes.length < 100) return undefined;
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 100);
  const raw = view.getUint16(16);
  const pageSize = raw === 1 ? 65536 : raw;
  return { pageSize, pageCount: view.getUint32(28), writeVersion: view.getUint8(18) };
}
