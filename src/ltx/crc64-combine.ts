/**
 * CRC-64 (ISO, Go `hash/crc64` conventions) algebra for changing a few bytes
 * of a long message without reading it again.
 *
 * The CRC is affine over GF(2): for messages `m` and `d` of one length,
 * `crc(m ⊕ d) = crc(m) ⊕ raw(d)`, where `raw` is the CRC with a zero start
 * register and no final complement. A delta that is zero but for short
 * segments is the XOR of each segment's `raw` shifted through the zero
 * bytes that follow it; a shift by `n` zero bytes is a 64×64 GF(2) matrix
 * raised to the power `n`, applied in log₂(n) steps from precomputed
 * squares (zlib's `crc32_combine` does the same for CRC-32).
 *
 * @module
 */

/** The reflected ISO polynomial (Go `crc64.ISO`). */
const POLY = 0xd800_0000_0000_0000n;
const MASK = 0xffff_ffff_ffff_ffffn;

/** A GF(2) 64×64 matrix: entry `i` is the image of bit `i`. */
type Matrix = bigint[];

function times(mat: Matrix, vec: bigint): bigint {
  let sum = 0n;
  for (let i = 0; vec !== 0n; i++, vec >>= 1n) if ((vec & 1n) !== 0n) sum ^= mat[i]!;
  return sum;
}

function square(mat: Matrix): Matrix {
  return mat.map((column) => times(mat, column));
}

/** `ZERO_BYTES[k]` shifts the register through 2^k zero bytes; built on first use. */
const ZERO_BYTES: Matrix[] = [];

function zeroBytes(k: number): Matrix {
  if (ZERO_BYTES.length === 0) {
    // One zero bit: bit 0 falls off and folds in the polynomial, the rest move down.
    let op: Matrix = [POLY, ...Array.from({ length: 63 }, (_, i) => 1n << BigInt(i))];
    for (let bits = 1; bits < 8; bits *= 2) op = square(op);
    ZERO_BYTES.push(op);
  }
  while (ZERO_BYTES.length <= k) ZERO_BYTES.push(square(ZERO_BYTES.at(-1)!));
  return ZERO_BYTES[k]!;
}

/**
 * The register `reg` after `count` zero bytes (register convention of
 * {@linkcode rawCrc64}).
 * @throws {RangeError} when `count` is not a non-negative safe integer
 */
export function shiftCrc64(reg: bigint, count: number): bigint {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`Cannot shift a CRC-64 by ${count} bytes: need a non-negative integer`);
  }
  let out = reg & MASK;
  for (let k = 0, n = count; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) out = times(zeroBytes(k), out);
  return out;
}

/** The CRC-64 of `bytes` from a zero register, without the final complement (for deltas; keep them short). */
export function rawCrc64(bytes: Uint8Array): bigint {
  let reg = 0n;
  for (const byte of bytes) {
    reg ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) reg = (reg & 1n) !== 0n ? (reg >> 1n) ^ POLY : reg >> 1n;
  }
  return reg;
}

/** One changed stretch of a message: where it starts and old ⊕ new of its bytes. */
export interface CrcDelta {
  readonly offset: number;
  readonly xor: Uint8Array;
}

/**
 * What `crc(message)` turns into when the bytes at each delta change (XOR
 * the result into the old CRC), for a message of `length` bytes.
 * @throws {RangeError} when a delta lies outside the message
 */
export function crc64DeltaOf(length: number, deltas: readonly CrcDelta[]): bigint {
  let sum = 0n;
  for (const { offset, xor } of deltas) {
    const after = length - offset - xor.length;
    if (offset < 0 || after < 0) {
      throw new RangeError(`Cannot combine a CRC-64 delta at ${offset} (${xor.length} bytes) in ${length} bytes`);
    }
    sum ^= shiftCrc64(rawCrc64(xor), after);
  }
  return sum;
}
