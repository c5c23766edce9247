/**
 * Transaction IDs. A TXID is one litefleet sync (one local L0 file), an
 * unsigned 64-bit integer printed as 16 lower-case hex digits, as in the LTX
 * format and Litestream.
 *
 * @module
 */

declare const txidBrand: unique symbol;

/** A branded uint64. Never use `number` for TXIDs. */
export type Txid = bigint & { readonly [txidBrand]: true };

/** The largest valid TXID. */
export const MAX_TXID = 0xffff_ffff_ffff_ffffn as Txid;

/**
 * Brands a bigint as a TXID.
 * @throws {RangeError} when the value is outside uint64
 */
export function txid(value: bigint | number): Txid {
  const v = BigInt(value);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`Cannot make TXID: value '${v}' is outside uint64`);
  }
  return v as Txid;
}

/** Formats a TXID as 16 lower-case hex digits. */
export function formatTxid(id: Txid): string {
  return id.toString(16).padStart(16, "0");
}

/**
 * Parses a TXID from hex. Accepts 1 to 16 hex digits, with or without `0x`.
 * @throws {SyntaxError} when the text is not hex
 */
export function parseTxid(text: string): Txid {
  const t = text.startsWith("0x") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,16}$/.test(t)) {
    throw new SyntaxError(`Cannot parse TXID: '${text}' is not 1 to 16 hex digits`);
  }
  return BigInt(`0x${t}`) as Txid;
}
