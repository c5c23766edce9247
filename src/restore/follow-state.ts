/**
 * The files `restore --follow` keeps beside its copy `<output>`:
 *
 * - `<output>-txid`: the TXID the copy is at, as stock Litestream writes it
 *   (16 lower-case hex digits and a newline), replaced atomically after
 *   each applied file;
 * - `<output>-follow`: litefleet's own state (JSON): the source's page-1
 *   bytes that the copy changes (18–19, the journal mode, and 24–27, the
 *   file change counter), so the copy's database checksum can be computed
 *   on resume, and `applying`, the file whose apply began and did not end
 *   (written before the first page is, removed after the last): while set,
 *   the copy may be torn.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { CorruptFileError } from "../errors.ts";
import { formatTxid, parseTxid, type Txid } from "../ltx/txid.ts";
import { atomicWrite } from "../platform/atomic-write.ts";
import type { LtxFileKey } from "../replica/client.ts";

/** What `<output>-follow` holds. */
export interface FollowState {
  /** The source's page-1 bytes 18, 19, 24, 25, 26, 27 (hex), as the LTX files carry them. */
  readonly page1: string;
  /** The file being applied when the copy was last written; absent when it is whole. */
  readonly applying?: { readonly level: number; readonly minTxid: string; readonly maxTxid: string };
}

/** Path of the TXID sidecar, as stock Litestream names it. */
export function txidPath(output: string): string {
  return `${output}-txid`;
}

/** Path of litefleet's follow state. */
export function followStatePath(output: string): string {
  return `${output}-follow`;
}

/** Writes `<output>-txid` atomically (temp file, fsync, rename, fsync dir). */
export async function writeTxidFile(output: string, txid: Txid): Promise<void> {
  await atomicWrite(txidPath(output), new TextEncoder().encode(`${formatTxid(txid)}\n`));
}

/**
 * Reads `<output>-txid`, or undefined when it does not exist.
 * @throws {CorruptFileError} when it does not hold a TXID
 */
export function readTxidFile(output: string): Txid | undefined {
  const path = txidPath(output);
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, "utf8").trim();
  try {
    if (!/^[0-9a-f]{1,16}$/.test(text)) throw new Error("not hex");
    return parseTxid(text);
  } catch {
    throw new CorruptFileError(`Cannot resume follow mode: '${path}' does not hold a TXID ('${text.slice(0, 40)}')`, {
      path,
    });
  }
}

/** Writes `<output>-follow` atomically. */
export async function writeFollowState(output: string, state: FollowState): Promise<void> {
  await atomicWrite(followStatePath(output), new TextEncoder().encode(`${JSON.stringify(state)}\n`));
}

/**
 * Reads `<output>-follow`, or undefined when it does not exist.
 * @throws {CorruptFileError} when it is not a state this module wrote
 */
export function readFollowState(output: string): FollowState | undefined {
  const path = followStatePath(output);
  if (!existsSync(path)) return undefined;
  let state: FollowState;
  try {
    state = JSON.parse(readFileSync(path, "utf8")) as FollowState;
  } catch {
    state = { page1: "" };
  }
  if (typeof state.page1 !== "string" || !/^[0-9a-f]{12}$/.test(state.page1)) {
    throw new CorruptFileError(`Cannot resume follow mode: '${path}' is not a follow state litefleet wrote`, { path });
  }
  return state;
}

/** The key of the file being applied, as the state records it. */
export function applyingKey(state: FollowState): LtxFileKey | undefined {
  const a = state.applying;
  return a === undefined ? undefined : { level: a.level, minTxid: parseTxid(a.minTxid), maxTxid: parseTxid(a.maxTxid) };
}
