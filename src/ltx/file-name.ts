/**
 * LTX file names: `<minTxid>-<maxTxid>.ltx`, each TXID as 16 lower-case hex
 * digits, as Litestream and the LTX tools name them.
 *
 * @module
 */

import { formatTxid, txid } from "./txid.ts";
import type { Txid } from "./txid.ts";

const FILE_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/;

/**
 * Returns the file name of an LTX file covering `minTxid` to `maxTxid`.
 *
 * @example
 * ```ts
 * formatLtxFileName(txid(1), txid(0x2a)); // "0000000000000001-000000000000002a.ltx"
 * ```
 */
export function formatLtxFileName(minTxid: Txid, maxTxid: Txid): string {
  return `${formatTxid(minTxid)}-${formatTxid(maxTxid)}.ltx`;
}

/**
 * Parses an LTX file name (a base name, no directory). Upper-case hex,
 * other lengths and other extensions are not LTX file names.
 *
 * @returns the TXID range, or undefined when `name` is not an LTX file name
 * @example
 * ```ts
 * parseLtxFileName("0000000000000001-000000000000002a.ltx"); // { minTxid: 1n, maxTxid: 42n }
 * parseLtxFileName("notes.txt"); // undefined
 * ```
 */
export function parseLtxFileName(name: string): { minTxid: Txid; maxTxid: Txid } | undefined {
  const match = FILE_NAME.exec(name);
  if (match === null) return undefined;
  const [, min = "", max = ""] = match;
  return { minTxid: txid(BigInt(`0x${min}`)), maxTxid: txid(BigInt(`0x${max}`)) };
}
