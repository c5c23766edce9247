import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import { CredentialsProviderError, loadSharedCredentials, resolveS3Credentials } from "./credentials.ts";

const SPEC = { type: "s3", bucket: "b", path: "" } as const;

describe("loadSharedCredentials", () => {
  test("loadSharedCredentials() reads profile AWS_PROFILE from the credentials file before the config file", async () => {
    await using dir = await makeTempDir("litefleet-aws-");
    const credentials = join(dir.path, "credentials");
    const config = join(dir.path, "config");
    writeFileSync(
      credentials,
      "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n# comment\n[work]\naws_access_key_id=AKIAWORK\naws_secret_access_key=s2\naws_session_token = tok\n",
    );
    writeFileSync(
      config,
      "[profile work]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = s3\n[profile cfg-only]\nregion = eu-west-1\naws_access_key_id = AKIACFG\naws_secret_access_key = s4\n",
    );
    const env = { AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: config };
    expect(await loadSharedCredentials({ env })).toEqual({
      credentials: { accessKeyId: "AKIADEFAULT", secretAccessKey: "s1" },
      source: `${credentials} (profile 'default')`,
    });
    expect((await loadSharedCredentials({ env: { ...env, AWS_PROFILE: "work" } })).credentials).toEqual({
      accessKeyId: "AKIAWORK",
      secretAccessKey: "s2",
      sessionToken: "tok",
    });
    expect(await loadSharedCredentials({ env: { ...env, AWS_PROFILE: "cfg-only" } })).toEqual({
      credentials: { accessKeyId: "AKIACFG", secretAccessKey: "s4" },
      source: `${config} (profile 'cfg-only')`,
    });
  });

  test("loadSharedCredentials() looks in ~/.aws of HOME and names unsupported sources when nothing is found", async () => {
    await using dir = await makeTempDir("litefleet-aws-");
    const err = await loadSharedCredentials({ env: { HOME: dir.path } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsProviderError);
    expect((err as Error).message).toBe(
      `no access key was found for profile 'default' in '${join(dir.path, ".aws", "credentials")}' or '${join(dir.path, ".aws", "config")}'`,
    );
    const config = join(dir.path, "config");
    writeFileSync(config, "[profile sso]\nsso_session = corp\nregion = us-east-1\n");
    await expect(
      loadSharedCredentials({ env: { HOME: dir.path, AWS_CONFIG_FILE: config, AWS_PROFILE: "sso" } }),
    ).rejects.toThrow(`(not supported: sso_session in ${config})`);
  });

  test("resolveS3Credentials() falls back to the shared files only when no static pair is set", () => {
    expect(resolveS3Credentials(SPEC, { env: { AWS_PROFILE: "p" }, replica: "s3://b" })).toEqual({
      source: "the AWS shared files (profile 'p')",
    });
    expect(
      resolveS3Credentials(SPEC, { env: { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" }, replica: "s3://b" })
        .source,
    ).toBe("AWS_ACCESS_KEY_ID");
  });
});
