import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../test/harness/cli.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { parseConfig } from "../config/parse.ts";
import type { DeviceView } from "../fleet/fleet-view.ts";
import { parsePrivateKey } from "../protocol/signing.ts";
import { exitCodeOfReply, formatTable } from "./fleet.ts";
import { ExitCode } from "./io.ts";

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

describe("exitCodeOfReply()", () => {
  test("maps the final reply and its code onto the exit codes", () => {
    const cases: [Parameters<typeof exitCodeOfReply>[0], number][] = [
      [{ status: "done", result: { dbs: [] } }, ExitCode.ok],
      [{ status: "done", result: { ok: false } }, ExitCode.integrity],
      [{ status: "rejected", code: "bad-signature" }, ExitCode.refused],
      [{ status: "rejected", code: "busy" }, ExitCode.refused],
      [{ status: "rejected" }, ExitCode.refused],
      [{ status: "rejected", code: "bad-arguments" }, ExitCode.usage],
      [{ status: "rejected", code: "too-large" }, ExitCode.refused],
      [{ status: "failed", code: "usage" }, ExitCode.usage],
      [{ status: "failed", code: "checksum-mismatch" }, ExitCode.integrity],
      [{ status: "failed", code: "corrupt" }, ExitCode.integrity],
      [{ status: "failed", code: "timeout" }, ExitCode.timeout],
      [{ status: "failed", code: "replica" }, ExitCode.failure],
      [{ status: "failed", code: "no-restore-point" }, ExitCode.failure],
      [{ status: "failed", code: "from-a-newer-agent" }, ExitCode.failure],
      [{ status: "failed" }, ExitCode.failure],
    ];
    expect(cases.map(([reply]) => exitCodeOfReply(reply))).toEqual(cases.map(([, code]) => code));
  });
});

describe("formatTable()", () => {
  const base: DeviceView = {
    device: "gw-04",
    state: "offline",
    problems: [],
    online: false,
    reason: "lost",
    session: 3,
    lastSeen: 100_000,
    dataAt: null,
    agent: "0.1.0",
    dbs: [],
    dbState: null,
    maxLagMs: 0,
    pendingFiles: 0,
    pendingBytes: 0,
    lastUploadAt: null,
    lastError: null,
  };

  test("an offline device without data: its state, last seen, and dashes rather than zeros", () => {
    expect(formatTable([base], 400_000)).toBe(
      [
        "DEVICE  STATE           LAST SEEN  DATA AGE  LAG  PENDING  TXID  PROBLEM",
        "gw-04   offline (lost)  5 min ago  -         -    -        -",
        "",
      ].join("\n"),
    );
  });

  test("a device with data: its age, lag and first problem", () => {
    const db = {
      path: "/data/app.db",
      txid: "00000000000000a1",
      state: "error" as const,
      pendingFiles: 2,
      pendingBytes: 9,
      lagMs: 90_000,
      lastUploadAt: 1,
      lastError: "x",
      size: 1,
      captureError: null,
      diskFull: false,
      replicas: [],
    };
    const view: DeviceView = {
      ...base,
      state: "error",
      online: true,
      reason: null,
      dataAt: 390_000,
      lastSeen: 390_000,
      dbs: [db],
      maxLagMs: 90_000,
      pendingFiles: 2,
      problems: ["replica 's3' of '/data/app.db' fails: x", "more"],
    };
    expect(formatTable([view], 400_000).split("\n")[1]).toBe(
      "gw-04   error  10 s ago   10 s      1 min  2        00000000000000a1  replica 's3' of '/data/app.db' fails: x (+1 more)",
    );
  });
});
