/**
 * Byte sizes written the way Litestream's `ByteSize` reads them: "5MiB"
 * (binary), "5MB" (decimal), "100B", or a plain integer number of bytes.
 *
 * @module
 */

/** Bytes per unit. Decimal units are powers of 1000, `i` units powers of 1024. */
const BYTES_PER_UNIT: Readonly<Record<string, bigint>> = {
  b: 1n,
  k: 1000n,
  kb: 1000n,
  m: 1000n ** 2n,
  mb: 1000n ** 2n,
  g: 1000n ** 3n,
  gb: 1000n ** 3n,
  t: 1000n ** 4n,
  tb: 1000n ** 4n,
  ki: 1024n,
  kib: 1024n,
  mi: 1024n ** 2n,
  mib: 1024n ** 2n,
  gi: 1024n ** 3n,
  gib: 1024n ** 3n,
  ti: 1024n ** 4n,
  tib: 1024n ** 4n,
};

const SIZE = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i;

/**
 * Parses a byte size into a number of bytes.
 *
 * Units are case-insensitive: `B`, `KB`/`K` (1000), `MB`/`M`, `GB`/`G`,
 * `TB`/`T`, `KiB`/`Ki` (1024), `MiB`/`Mi`, `GiB`/`Gi`, `TiB`/`Ti`. A number
 * without a unit is a count of bytes. Fractions are allowed when the result is
 * a whole number of bytes ("1.5KiB" = 1536).
 *
 * @example
 * ```ts
 * parseByteSize("5MiB"); // 5_242_880
 * parseByteSize("5MB"); // 5_000_000
 * parseByteSize(4096); // 4096
 * ```
 *
 * @param text the size, e.g. `"5MiB"`
 * @returns the size in bytes
 * @throws {TypeError} for a value that is neither a string nor a number
 * @throws {SyntaxError} for text that is not a size or has an unknown unit
 * @throws {RangeError} for a negative, fractional-byte or too large size
 */
export function parseByteSize(text: string | number): number {
  if (typeof text === "number") {
    if (!Number.isSafeInteger(text) || text < 0) {
      throw new RangeError(
        `Cannot parse byte size '${text}': a plain number must be a non-negative whole number of bytes`,
      );
    }
    return text;
  }
  if (typeof text !== "string") {
    throw new TypeError(`Cannot parse byte size: expected a string, received ${typeof text}`);
  }
  const s = text.trim();
  if (s.startsWith("-")) {
    throw new RangeError(`Cannot parse byte size '${text}': sizes must not be negative`);
  }
  const m = SIZE.exec(s);
  if (m === null) {
    throw new SyntaxError(
      `Cannot parse byte size '${text}': expected a number and an optional unit (e.g. '5MiB', '512KiB', '100B')`,
    );
  }
  const whole = m[1] ?? "0";
  const frac = m[2] ?? "";
  const unit = (m[3] ?? "").toLowerCase();
  const perUnit = unit === "" ? 1n : BYTES_PER_UNIT[unit];
  if (perUnit === undefined) {
    throw new SyntaxError(
      `Cannot parse byte size '${text}': unknown unit '${m[3]}'; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB`,
    );
  }
  let bytes = BigInt(whole) * perUnit;
  if (frac !== "") {
    const scale = 10n ** BigInt(frac.length);
    const fracBytes = BigInt(frac) * perUnit;
    if (fracBytes % scale !== 0n) {
      throw new RangeError(`Cannot parse byte size '${text}': the size is not a whole number of bytes`);
    }
    bytes += fracBytes / scale;
  }
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Cannot parse byte size '${text}': the size is too large`);
  }
  return Number(bytes);
}

/**
 * Formats a byte count with the largest binary unit that divides it exactly,
 * so {@linkcode parseByteSize} reads it back unchanged: `5MiB`, `1536B`.
 *
 * @param bytes a non-negative integer
 * @returns the formatted size
 * @throws {RangeError} when `bytes` is not a non-negative safe integer
 */
export function formatByteSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`Cannot format byte size ${bytes}: expected a non-negative integer`);
  }
  for (const [unit, size] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
