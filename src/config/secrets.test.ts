/**
 * The secret invariant across the whole parser: values of secret keys
 * (`secret-access-key`, `access-key-id`, credentials in URLs) never appear in
 * a `ConfigError`'s message, value or cause.
 */
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const OPTIONS: ParseConfigOptions = { env: {}, cwd: "/srv", deviceId: "host-1" };

const configErrorOf = (text: string, options: Partial<ParseConfigOptions> = {}): ConfigError =>
  thrownConfigError(() => parseConfig(text, { ...OPTIONS, ...options }));

describe("parseConfig secrets", () => {
  const SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRET";
  const KEY_ID = "AKIAIOSFODNN7SECRETID";
  const cases: { name: string; text: string; field: string }[] = [
    {
      name: "secret of the wrong type",
      text: `secret-access-key: [${SECRET}]\naccess-key-id: ${KEY_ID}\n`,
      field: "secret-access-key",
    },
    {
      name: "numeric secret",
      text: "access-key-id: 12345678901234567\nsecret-access-key: x\n",
      field: "access-key-id",
    },
    { name: "secret without its key id", text: `secret-access-key: ${SECRET}\n`, field: "access-key-id" },
    {
      name: "secret containing an unset variable",
      text: `access-key-id: ${KEY_ID}\nsecret-access-key: 'wJalr$XUtnFEMIK7MDENGbPxRfiCYSECRET'\n`,
      field: "secret-access-key",
    },
    {
      name: "secret with a stray dollar",
      text: `access-key-id: ${KEY_ID}\nsecret-access-key: '${SECRET}$'\n`,
      field: "secret-access-key",
    },
    { name: "YAML error inside a secret", text: `secret-access-key: "${SECRET}\\q"\n`, field: "" },
    { name: "unterminated secret", text: `secret-access-key: "${SECRET}\n`, field: "" },
    { name: "secret under a misspelled key", text: `secret-acess-key: ${SECRET}\n`, field: "secret-acess-key" },
    {
      name: "replica secret with an error elsewhere",
      text: `dbs:\n  - path: a.db\n    replica: { type: file, path: r, access-key-id: ${KEY_ID}, secret-access-key: ${SECRET} }\n`,
      field: "dbs[0].replica.access-key-id",
    },
    {
      name: "secret in a URL",
      text: `dbs:\n  - path: a.db\n    replica: { url: 's3://${KEY_ID}:${SECRET}@bucket/p?secret=${SECRET}' }\n`,
      field: "dbs[0].replica.url",
    },
  ];
  for (const { name, text, field } of cases) {
    test(`err: ${name} is reported without the secret`, () => {
      const e = configErrorOf(text);
      expect(e.field).toBe(field);
      for (const s of [SECRET, KEY_ID, "wJalr", "12345678901234567"]) {
        expect(e.message).not.toContain(s);
        expect(JSON.stringify(e.value ?? null)).not.toContain(s);
        expect(String(e.cause ?? "")).not.toContain(s);
      }
    });
  }

  test("parseConfig() names the variable when a secret is exactly one reference", () => {
    const e = configErrorOf("access-key-id: $AWS_KEY\nsecret-access-key: ${AWS_SECRET}\n", {
      env: { AWS_KEY: "k" },
    });
    expect(e.field).toBe("secret-access-key");
    expect(e.message).toBe(
      "Cannot read config: environment variable 'AWS_SECRET' used in 'secret-access-key' is not set",
    );
  });

  test("parseConfig() hides the variable name inside a secret literal", () => {
    const e = configErrorOf("access-key-id: k\nsecret-access-key: 'abc$DEFghi'\n");
    expect(e.message).toBe("Cannot read config: 'secret-access-key' refers to an environment variable that is not set");
  });
});
