/**
 * Operator keys and command signatures: Ed25519 (`node:crypto`) over the
 * canonical JSON of a command body (keys sorted at every level, no
 * whitespace). The broker never holds a key, so a compromised broker can
 * drop or repeat commands but cannot forge or alter one.
 *
 * Formats:
 * - public key: `ed25519:<base64url of the 32-byte key>` (in the device
 *   config, one or more, for rotation);
 * - key id: `k` + the first 16 hex digits of SHA-256 of the raw public key
 *   (carried by each command so the device picks the right pinned key);
 * - private key: PKCS#8 PEM, written with mode 0600 by `fleet keygen`.
 *
 * @module
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import type { CommandBody, CommandMessage } from "./messages.ts";

const PUBLIC_PREFIX = "ed25519:";

/** A pinned operator public key. */
export interface OperatorPublicKey {
  readonly keyId: string;
  /** `ed25519:<base64url>`. */
  readonly text: string;
  readonly key: KeyObject;
}

/** An operator's signing key. */
export interface OperatorPrivateKey {
  readonly keyId: string;
  /** The matching public key, `ed25519:<base64url>`. */
  readonly publicKey: string;
  readonly key: KeyObject;
}

/** Serializes `value` with sorted object keys and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value))
    throw new RangeError("Cannot serialize a non-finite number canonically");
  return JSON.stringify(value) ?? "null";
}

/** Makes a new operator key pair. */
export function generateOperatorKey(): { privatePem: string; publicKey: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const text = publicKeyText(publicKey);
  return {
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKey: text,
    keyId: keyIdOf(publicKey),
  };
}

/**
 * Parses a pinned public key (`ed25519:<base64url>`).
 * @throws {RangeError} naming what is wrong (never echoing more than the prefix)
 */
export function parsePublicKey(text: string): OperatorPublicKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PUBLIC_PREFIX)) {
    throw new RangeError(
      `Cannot parse operator public key: expected 'ed25519:<base64url>' (from 'litefleet fleet keygen')`,
    );
  }
  const raw = Buffer.from(trimmed.slice(PUBLIC_PREFIX.length), "base64url");
  if (raw.length !== 32 || raw.toString("base64url") !== trimmed.slice(PUBLIC_PREFIX.length)) {
    throw new RangeError(
      `Cannot parse operator public key '${trimmed.slice(0, 20)}…': it is not 32 bytes of base64url`,
    );
  }
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  return { keyId: keyIdOf(key), text: trimmed, key };
}

/**
 * Loads a PKCS#8 PEM private key.
 * @throws {RangeError} when it is not an Ed25519 private key
 */
export function parsePrivateKey(pem: string): OperatorPrivateKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new RangeError(
      "Cannot load operator private key: it is not a PEM private key (make one with 'litefleet fleet keygen')",
    );
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new RangeError(`Cannot load operator private key: it is ${key.asymmetricKeyType ?? "unknown"}, not ed25519`);
  }
  const pub = createPublicKey(key);
  return { keyId: keyIdOf(pub), publicKey: publicKeyText(pub), key };
}

/** Signs `body` into a command message. */
export function signCommand(body: CommandBody, signer: OperatorPrivateKey): CommandMessage {
  const signature = sign(null, Buffer.from(canonicalJson(body)), signer.key).toString("base64url");
  return { v: 1, type: "command", body, keyId: signer.keyId, signature };
}

/**
 * Checks a command's signature against the pinned keys.
 * @returns undefined when valid, else why not
 */
export function signatureProblem(msg: CommandMessage, keys: readonly OperatorPublicKey[]): string | undefined {
  const key = keys.find((k) => k.keyId === msg.keyId);
  if (!key) return `signed by key ${JSON.stringify(msg.keyId)}, which this device does not trust`;
  const sig = Buffer.from(msg.signature, "base64url");
  if (sig.length !== 64) return "the signature is not 64 bytes of base64url";
  return verify(null, Buffer.from(canonicalJson(msg.body)), key.key, sig)
    ? undefined
    : "the signature does not match the command";
}

function publicKeyText(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  return `${PUBLIC_PREFIX}${jwk.x ?? ""}`;
}

function keyIdOf(key: KeyObject): string {
  const raw = Buffer.from(key.export({ format: "jwk" }).x ?? "", "base64url");
  return `k${createHash("sha256").update(raw).digest("hex").slice(0, 16)}`;
}
