import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../test/harness/cli.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { parseConfig } from "../config/parse.ts";
import { parsePrivateKey } from "../fleet/signing.ts";

describe("fleet keygen", () => {
  test("prints fleet.operator-keys YAML that parseConfig() takes as is, holding the written key's public half (issue #12)", async () => {
    await using dir = await makeTempDir("keygen-");
    const r = await runCli(["fleet", "keygen", "--out", "operator.key"], { cwd: dir.path });
    expect(r.stderr).toContain(`Wrote the private key to ${join(dir.path, "operator.key")} (mode 0600)`);
    expect(r.code).toBe(0);
    const key = parsePrivateKey(readFileSync(join(dir.path, "operator.key"), "utf8"));
    expect(statSync(join(dir.path, "operator.key")).mode & 0o777).toBe(0o600);
    expect(r.stdout).toBe(`fleet:\n  operator-keys:\n    - ${key.publicKey}  # key id ${key.keyId}\n`);
    const options = { env: {}, cwd: dir.path, deviceId: "dev-1" };
    // Alone, and pasted below an existing config.
    expect(parseConfig(r.stdout, options).fleet.operatorKeys).toEqual([key.publicKey]);
    const config = parseConfig(`dbs:\n  - path: app.db\n    replica: { path: replica }\n${r.stdout}`, options);
    expect(config.fleet.operatorKeys).toEqual([key.publicKey]);
  });

  test("never overwrites an existing key file (exit 2)", async () => {
    await using dir = await makeTempDir("keygen-");
    expect((await runCli(["fleet", "keygen", "--out", "k"], { cwd: dir.path })).code).toBe(0);
    const before = readFileSync(join(dir.path, "k"), "utf8");
    const again = await runCli(["fleet", "keygen", "--out", "k"], { cwd: dir.path });
    expect(again.stderr).toContain("the file exists (keys are never overwritten)");
    expect(again.code).toBe(2);
    expect(readFileSync(join(dir.path, "k"), "utf8")).toBe(before);
  });
});
