import { describe, expect, test } from "bun:test";
import type { CommandBody } from "./messages.ts";
import {
  canonicalJson,
  generateOperatorKey,
  parsePrivateKey,
  parsePublicKey,
  signatureProblem,
  signCommand,
} from "./signing.ts";

const body: CommandBody = {
  id: "cmd-0001",
  device: "dev-1",
  name: "sync",
  args: { b: 1, a: [2, { d: 1, c: 2 }] },
  issuedAt: 1,
  expiresAt: 2,
};

describe("canonicalJson", () => {
  test("sorts keys at every level and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { z: undefined, y: [1, { q: 2, p: "x" }] } })).toBe(
      '{"a":{"y":[1,{"p":"x","q":2}]},"b":1}',
    );
  });
});

describe("signCommand / signatureProblem", () => {
  const op = generateOperatorKey();
  const signer = parsePrivateKey(op.privatePem);
  const pinned = [parsePublicKey(op.publicKey)];

  test("OK: a signed command verifies against the pinned key, whatever the key order on the wire", () => {
    expect(signer.keyId).toBe(op.keyId);
    expect(pinned[0]!.keyId).toBe(op.keyId);
    const msg = signCommand(body, signer);
    const reordered = JSON.parse(
      JSON.stringify({
        ...msg,
        body: {
          expiresAt: 2,
          issuedAt: 1,
          args: { a: [2, { c: 2, d: 1 }], b: 1 },
          name: "sync",
          device: "dev-1",
          id: "cmd-0001",
        },
      }),
    );
    expect(signatureProblem(reordered, pinned)).toBeUndefined();
  });

  test("ErrTampered: any change to the body breaks the signature", () => {
    const msg = signCommand(body, signer);
    expect(signatureProblem({ ...msg, body: { ...body, device: "dev-2" } }, pinned)).toBe(
      "the signature does not match the command",
    );
    expect(signatureProblem({ ...msg, body: { ...body, expiresAt: 3 } }, pinned)).toBe(
      "the signature does not match the command",
    );
  });

  test("ErrUnknownKey: a key the device does not pin, and a garbage signature", () => {
    const other = parsePrivateKey(generateOperatorKey().privatePem);
    expect(signatureProblem(signCommand(body, other), pinned)).toContain("does not trust");
    expect(signatureProblem({ ...signCommand(body, signer), signature: "abc" }, pinned)).toContain("not 64 bytes");
  });

  test("rotation: either of two pinned keys verifies", () => {
    const next = generateOperatorKey();
    const keys = [...pinned, parsePublicKey(next.publicKey)];
    expect(signatureProblem(signCommand(body, parsePrivateKey(next.privatePem)), keys)).toBeUndefined();
    expect(signatureProblem(signCommand(body, signer), keys)).toBeUndefined();
  });

  test("ErrBadKey: malformed keys get clear errors", () => {
    expect(() => parsePublicKey("rsa:abc")).toThrow("expected 'ed25519:<base64url>'");
    expect(() => parsePublicKey("ed25519:AAAA")).toThrow("not 32 bytes");
    expect(() => parsePrivateKey("not a pem")).toThrow("not a PEM private key");
  });
});

describe("the docs/FLEET.md test vector", () => {
  // docs/FLEET.md "Implementing a client": a third party checks its own code against these.
  const pem =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n";
  const vector: CommandBody = {
    id: "c0123456789abcdef",
    device: "gw-01",
    name: "restore",
    args: { timestamp: "2026-11-22T10:00:00Z", db: "/var/lib/app/app.db", timeoutMs: 595000 },
    issuedAt: 1795318328140,
    expiresAt: 1795318628140,
  };

  test("public key line, key id, canonical body and signature", () => {
    const key = parsePrivateKey(pem);
    expect(key.publicKey).toBe("ed25519:6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw");
    expect(key.keyId).toBe("kfe812c12f3ab4ce6");
    expect(canonicalJson(vector)).toBe(
      '{"args":{"db":"/var/lib/app/app.db","timeoutMs":595000,"timestamp":"2026-11-22T10:00:00Z"},"device":"gw-01","expiresAt":1795318628140,"id":"c0123456789abcdef","issuedAt":1795318328140,"name":"restore"}',
    );
    expect(signCommand(vector, key).signature).toBe(
      "7UvBY5BkfeURc2cODg5zddlyXTyHqf1SxijUjs5Nz0d_aH6iDPMwhskHaDMYkQdAaHtOHmB9O5OiP7WmRDZ-AQ",
    );
  });

  test("canonical escaping and numbers", () => {
    expect(canonicalJson({ b: [1, 2.5, -0, 1e21, 0.1, true, null], a: 'é\n\u0001"\\/', B: {}, "": 0 })).toBe(
      '{"":0,"B":{},"a":"é\\n\\u0001\\"\\\\/","b":[1,2.5,0,1e+21,0.1,true,null]}',
    );
  });
});
