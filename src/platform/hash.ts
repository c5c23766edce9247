/**
 * The hashes the S3 client needs (SigV4's SHA-256 and HMAC-SHA-256,
 * `Content-MD5`), from Bun's native hasher: importing `node:crypto` for
 * them costs about 3.6 MiB of RSS (docs/BENCHMARKS.md, issue #13).
 *
 * @module
 */

/** Data a hash accepts. */
export type HashInput = string | Uint8Array;

/** The hex SHA-256 of `data`. */
export function sha256Hex(data: HashInput): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** HMAC-SHA-256 of `data` under `key`. */
export function hmacSha256(key: HashInput, data: HashInput): Uint8Array {
  return new Bun.CryptoHasher("sha256", key).update(data).digest();
}

/** The hex HMAC-SHA-256 of `data` under `key`. */
export function hmacSha256Hex(key: HashInput, data: HashInput): string {
  return new Bun.CryptoHasher("sha256", key).update(data).digest("hex");
}

/** The base64 MD5 of `data`, as `Content-MD5` wants it. */
export function md5Base64(data: HashInput): string {
  return new Bun.CryptoHasher("md5").update(data).digest("base64");
}
