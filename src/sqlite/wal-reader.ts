/**
 * Reads SQLite WAL files: the 32-byte header, frames, salts and the
 * cumulative checksum, in both byte orders. Pure over a `readAt` callback, so
 * it never touches the file system itself.
 *
 * Only committed frames are published: frames are buffered per transaction
 * and become visible at the commit frame. Reading stops at the first short
 * read, salt mismatch or checksum mismatch, which is how SQLite itself finds
 * the end of a valid WAL.
 *
 * @module
 */

/** Size of the WAL file header. */
export const WAL_HEADER_SIZE = 32;
/** Size of each frame header. */
export const WAL_FRAME_HEADER_SIZE = 24;

const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

/** A running WAL checksum: two uint32 words. */
export type WalChecksum = readonly [number, number];

/** The decoded WAL header. */
export interface WalHeader {
  /** True when checksum words are read big-endian (magic 0x377f0683). */
  readonly bigEndian: boolean;
  readonly pageSize: number;
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
  /** Header checksum, the seed for the first frame's cumulative checksum. */
  readonly checksum: WalChecksum;
}

/** Reads up to `length` bytes at `offset`; a shorter result means end of file. */
export type ReadAt = (offset: number, length: number) => Uint8Array;

/**
 * Adds `data` (a multiple of 8 bytes) to a running WAL checksum.
 * For each 8-byte unit: `s0 += w0 + s1; s1 += w1 + s0` with uint32 wraparound.
 */
export function walChecksum(bigEndian: boolean, data: Uint8Array, seed: WalChecksum): WalChecksum {
  if (data.length % 8 !== 0) {
    throw new RangeError(`Cannot checksum WAL data: length '${data.length}' is not a multiple of 8`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let s0 = seed[0];
  let s1 = seed[1];
  const le = !bigEndian;
  for (let i = 0; i < data.length; i += 8) {
    s0 = (s0 + view.getUint32(i, le) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, le) + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * Decodes and validates a WAL header. Returns `undefined` when the bytes are
 * not a valid header (short, wrong magic, unsupported version, bad page size
 * or checksum): SQLite treats such a WAL as empty.
 */
export function decodeWalHeader(bytes: Uint8Array): WalHeader | undefined {
  if (bytes.length < WAL_HEADER_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAL_HEADER_SIZE);
  const magic = view.getUint32(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return undefined;
  if (view.getUint32(4) !== 3007000) return undefined;
  const pageSize = view.getUint32(8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  const bigEndian = magic === MAGIC_BE;
  const sum = walChecksum(bigEndian, bytes.subarray(0, 24), [0, 0]);
  if (sum[0] !== view.getUint32(24) || sum[1] !== view.getUint32(28)) return undefined;
  return {
    bigEndian,
    pageSize,
    checkpointSeq: view.getUint32(12),
    salt1: view.getUint32(16),
    salt2: view.getUint32(20),
    checksum: sum,
  };
}

/** The committed content of one stretch of WAL. */
export interface WalSegment {
  /** Offset reading started at. */
  readonly startOffset: number;
  /** Offset just past the last commit frame read (== startOffset when none). */
  readonly endOffset: number;
  /** Latest committed frame offset for each page number. */
  readonly pages: ReadonlyMap<number, number>;
  /** Database size in pages after the last commit read; 0 when no commit was read. */
  readonly commit: number;
  /** Cumulative checksum at `endOffset` (the seed for the next read). */
  readonly checksum: WalChecksum;
  /** Number of commit frames (transactions) read. */
  readonly transactions: number;
}

/** Where a segment read starts. */
export interface WalReadStart {
  /** Offset of the first frame to read (32 for the start of the WAL). */
  readonly offset: number;
  /** Cumulative checksum of the frame before `offset` (the header checksum at 32). */
  readonly seed: WalChecksum;
  /**
   * Stop after the first commit at or past this many bytes read, so one sync
   * stays bounded. The segment still ends at a commit boundary.
   */
  readonly maxBytes?: number;
  /** Never read frames at or past this offset. */
  readonly until?: number;
}

/** How many frames to read per `readAt` call. */
const FRAMES_PER_READ = 64;

/**
 * Reads committed frames from `start.offset` until the end of the valid WAL
 * (or `maxBytes`). Pages above a commit's database size are dropped (the
 * database shrank), as SQLite does.
 */
export function readWalSegment(readAt: ReadAt, header: WalHeader, start: WalReadStart): WalSegment {
  const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
  const committed = new Map<number, number>();
  let pending = new Map<number, number>();
  let checksum = start.seed;
  let endOffset = start.offset;
  let commit = 0;
  let transactions = 0;
  let offset = start.offset;
  const maxBytes = start.maxBytes ?? Number.POSITIVE_INFINITY;
  const until = start.until ?? Number.POSITIVE_INFINITY;

  for (;;) {
    // Never past `until`: the file goes on with frames of earlier WAL
    // generations (the WAL is reused, not truncated), and reading (and
    // allocating) 64 frames of them on every idle poll of every database
    // was a steady cost of the agent (issue #13).
    const wanted = Math.min(FRAMES_PER_READ, Math.max(0, Math.ceil((until - offset) / frameSize)));
    if (wanted === 0) break;
    const chunk = readAt(offset, frameSize * wanted);
    const frames = Math.floor(chunk.length / frameSize);
    if (frames === 0) break;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let stop = false;
    for (let i = 0; i < frames; i++) {
      const base = i * frameSize;
      if (offset + base >= until) {
        stop = true;
        break;
      }
      if (view.getUint32(base + 8) !== header.salt1 || view.getUint32(base + 12) !== header.salt2) {
        stop = true;
        break;
      }
      let sum = walChecksum(header.bigEndian, chunk.subarray(base, base + 8), checksum);
      sum = walChecksum(header.bigEndian, chunk.subarray(base + WAL_FRAME_HEADER_SIZE, base + frameSize), sum);
      if (sum[0] !== view.getUint32(base + 16) || sum[1] !== view.getUint32(base + 20)) {
        stop = true;
        break;
      }
      checksum = sum;
      const pgno = view.getUint32(base);
      const frameOffset = offset + base;
      pending.set(pgno, frameOffset);
      const dbSize = view.getUint32(base + 4);
      if (dbSize !== 0) {
        for (const [p, o] of pending) committed.set(p, o);
        pending = new Map();
        for (const p of committed.keys()) if (p > dbSize) committed.delete(p);
        commit = dbSize;
        endOffset = frameOffset + frameSize;
        transactions++;
        if (endOffset - start.offset >= maxBytes) {
          stop = true;
          break;
        }
      }
    }
    if (stop || frames < wanted) break;
    offset += frames * frameSize;
  }
  // `checksum` may have advanced past the last commit into an unfinished
  // transaction; the seed for the next read must be the one at endOffset.
  return {
    startOffset: start.offset,
    endOffset,
    pages: committed,
    commit,
    checksum: endOffset === start.offset ? start.seed : checksumAt(readAt, header, endOffset),
    transactions,
  };
}

/**
 * Reads the cumulative checksum stored in the frame that ends at `endOffset`.
 * Returns the header checksum when `endOffset` is the start of the WAL.
 */
export function checksumAt(readAt: ReadAt, header: WalHeader, endOffset: number): WalChecksum {
  if (endOffset === WAL_HEADER_SIZE) return header.checksum;
  const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
  const frameHeader = readAt(endOffset - frameSize, WAL_FRAME_HEADER_SIZE);
  if (frameHeader.length < WAL_FRAME_HEADER_SIZE) {
    throw new RangeError(`Cannot read WAL frame header: offset '${endOffset - frameSize}' is past the end`);
  }
  const view = new DataView(frameHeader.buffer, frameHeader.byteOffset, WAL_FRAME_HEADER_SIZE);
  return [view.getUint32(16), view.getUint32(20)];
}

/**
 * Checks that the frame ending at `endOffset` still belongs to the WAL we
 * read before: same salts and the same cumulative checksum. Because the
 * checksum covers every earlier frame, a match means the WAL up to
 * `endOffset` is unchanged, and reading can resume there.
 */
export function frameMatches(
  readAt: ReadAt,
  header: WalHeader,
  options: { endOffset: number; checksum: WalChecksum },
): boolean {
  if (options.endOffset === WAL_HEADER_SIZE) return true;
  const frameSize = WAL_FRAME_HEADER_SIZE + header.pageSize;
  if (options.endOffset < WAL_HEADER_SIZE + frameSize) return false;
  if ((options.endOffset - WAL_HEADER_SIZE) % frameSize !== 0) return false;
  const frameHeader = readAt(options.endOffset - frameSize, WAL_FRAME_HEADER_SIZE);
  if (frameHeader.length < WAL_FRAME_HEADER_SIZE) return false;
  const view = new DataView(frameHeader.buffer, frameHeader.byteOffset, WAL_FRAME_HEADER_SIZE);
  return (
    view.getUint32(8) === header.salt1 &&
    view.getUint32(12) === header.salt2 &&
    view.getUint32(16) === options.checksum[0] &&
    view.getUint32(20) === options.checksum[1]
  );
}
