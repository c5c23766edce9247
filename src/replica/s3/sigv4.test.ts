import { describe, expect, test } from "bun:test";
// The AWS SDK's own signer (installed with the dev dependency
// @aws-sdk/client-s3) as an independent reference.
import { SignatureV4 } from "@smithy/signature-v4";
import { signRequest, uriEncode, UNSIGNED_PAYLOAD } from "./sigv4.ts";

/** The SDK's hash interface over Bun's hasher (HMAC when given a secret). */
class Sha256 {
  readonly #hasher: Bun.CryptoHasher;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hasher =
      secret === undefined ? new Bun.CryptoHasher("sha256") : new Bun.CryptoHasher("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hasher.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.#hasher.digest());
  }
  reset(): void {}
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  return data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const now = new Date("2025-03-04T05:06:07.000Z");

async function reference(method: string, url: URL, headers: Record<string, string>, session?: string): Promise<string> {
  const signer = new SignatureV4({
    credentials: { ...credentials, ...(session === undefined ? {} : { sessionToken: session }) },
    region: "eu-west-1",
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === "" ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query,
      headers: { ...headers },
    },
    { signingDate: now },
  );
  return String(signed.headers["authorization"]);
}

describe("signRequest", () => {
  test.each([
    ["GET", "https://s3.eu-west-1.amazonaws.com/bkt?list-type=2&prefix=app%2Fdb%2F0000%2F&start-after=a%20b", {}],
    [
      "PUT",
      `https://bkt.s3.eu-west-1.amazonaws.com/${uriEncode("app/db/0009/x y+z.ltx", true)}`,
      {
        "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-amz-meta-litestream-timestamp": "2025-03-04T05:06:07.123Z",
        "x-amz-content-sha256": UNSIGNED_PAYLOAD,
      },
    ],
    [
      "POST",
      "http://127.0.0.1:9000/bkt?delete=",
      { "content-md5": "abc", "content-type": "application/xml", "x-amz-content-sha256": UNSIGNED_PAYLOAD },
    ],
    ["PUT", "http://127.0.0.1:9000/bkt/k?partNumber=2&uploadId=a%2Fb%3D", { "x-amz-content-sha256": UNSIGNED_PAYLOAD }],
  ])("signRequest() signs %s %s as the AWS SDK's signer does", async (method, href, extra) => {
    const url = new URL(href);
    const headers: Record<string, string> = { host: url.host, ...extra };
    signRequest({ method, url, headers }, { credentials, region: "eu-west-1", now });
    const expected = await reference(method, url, {
      host: url.host,
      ...extra,
      "x-amz-content-sha256": headers["x-amz-content-sha256"]!,
      "x-amz-date": headers["x-amz-date"]!,
    });
    expect(headers["authorization"]).toBe(expected);
  });

  test("signRequest() signs the session token of temporary credentials", async () => {
    const url = new URL("https://s3.eu-west-1.amazonaws.com/bkt/key");
    const headers: Record<string, string> = { host: url.host };
    signRequest(
      { method: "GET", url, headers },
      { credentials: { ...credentials, sessionToken: "tok/en+=" }, region: "eu-west-1", now },
    );
    expect(headers["x-amz-security-token"]).toBe("tok/en+=");
    expect(headers["authorization"]).toBe(
      await reference(
        "GET",
        url,
        {
          host: url.host,
          "x-amz-content-sha256": headers["x-amz-content-sha256"]!,
          "x-amz-date": headers["x-amz-date"]!,
          "x-amz-security-token": "tok/en+=",
        },
        "tok/en+=",
      ),
    );
  });

  test("uriEncode() keeps only unreserved characters (and '/' in keys)", () => {
    expect(uriEncode("a b/c+d~é", true)).toBe("a%20b/c%2Bd~%C3%A9");
    expect(uriEncode("a/b")).toBe("a%2Fb");
  });
});
