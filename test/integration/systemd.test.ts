/**
 * The systemd packaging: `systemd/install.sh` into a staging root (files,
 * modes, idempotency, a user's config never overwritten, no secret printed)
 * and `systemd/litefleet.service` checked by `systemd-analyze verify` when
 * systemd's tools are installed (skipped, with the reason, when not).
 */
import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir } from "../harness/temp-dir.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const INSTALL_SH = join(ROOT, "systemd", "install.sh");
const UNIT = join(ROOT, "systemd", "litefleet.service");
const EXAMPLE_CONFIG = join(ROOT, "etc", "litefleet.example.yml");
const EXAMPLE_ENV = join(ROOT, "systemd", "litefleet.env.example");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs install.sh with `sh` (the file mode in a checkout is not relied on). */
function install(args: string[]): Run {
  const p = Bun.spawnSync(["sh", INSTALL_SH, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** A stand-in for the litefleet binary: any file will do for the installer. */
function writeFakeBinary(path: string, text: string): void {
  writeFileSync(path, `#!/bin/sh\n# ${text}\nexit 0\n`, { mode: 0o644 });
}

/** Where install.sh puts each file under `root`. */
function paths(root: string) {
  return {
    binary: join(root, "usr/local/bin/litefleet"),
    config: join(root, "etc/litefleet.yml"),
    env: join(root, "etc/litefleet.env"),
    unit: join(root, "etc/systemd/system/litefleet.service"),
  };
}

/** The unit's `Key=value` settings (comments dropped), in file order. */
function unitSettings(text: string): Array<[string, string]> {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith(";") && !line.startsWith("["))
    .map((line) => {
      const eq = line.indexOf("=");
      return [line.slice(0, eq), line.slice(eq + 1)];
    });
}

describe("systemd/install.sh", () => {
  test("installs into --root, and a second run changes nothing", async () => {
    await using dir = await makeTempDir("systemd-install-");
    const root = join(dir.path, "root");
    await mkdir(root);
    const bin = join(dir.path, "litefleet-linux-test");
    writeFakeBinary(bin, "v1");
    const p = paths(root);

    const first = install(["--root", root, "--no-start", "--binary", bin]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`installed ${p.binary}`);
    expect(first.stdout).toContain(`installed ${p.config}`);
    expect(first.stdout).toContain(`installed ${p.env}`);
    expect(first.stdout).toContain(`installed ${p.unit}`);
    expect(first.stdout).toContain("done: 4 change(s)");
    expect(first.stdout).toContain("not running systemctl under --root");

    expect(readFileSync(p.binary, "utf8")).toBe(readFileSync(bin, "utf8"));
    expect(readFileSync(p.config, "utf8")).toBe(readFileSync(EXAMPLE_CONFIG, "utf8"));
    expect(readFileSync(p.env, "utf8")).toBe(readFileSync(EXAMPLE_ENV, "utf8"));
    expect(readFileSync(p.unit, "utf8")).toBe(readFileSync(UNIT, "utf8"));
    expect({ binary: modeOf(p.binary), env: modeOf(p.env), config: modeOf(p.config), unit: modeOf(p.unit) }).toEqual({
      binary: 0o755,
      env: 0o600,
      config: 0o644,
      unit: 0o644,
    });

    // The operator edits the config and puts a secret in the env file.
    const editedConfig = "dbs:\n  - path: /var/lib/app/app.db\n    replica:\n      url: s3://fleet/${DEVICE_ID}/app\n";
    writeFileSync(p.config, editedConfig);
    const secret = "wJalrXUtnFEMI-not-a-real-secret";
    appendFileSync(p.env, `LITEFLEET_SECRET_ACCESS_KEY=${secret}\n`);

    const second = install(["--root", root, "--no-start", "--binary", bin]);
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("nothing changed");
    expect(second.stdout).not.toMatch(/^install\.sh: (installed|updated) /m);
    expect(second.stdout).toContain(`kept ${p.config} (it exists; never overwritten)`);
    expect(second.stdout).toContain(`unchanged ${p.binary}`);
    expect(second.stdout).not.toContain(secret);
    expect(readFileSync(p.config, "utf8")).toBe(editedConfig);
    expect(readFileSync(p.env, "utf8")).toContain(secret);
    expect({ binary: modeOf(p.binary), env: modeOf(p.env) }).toEqual({ binary: 0o755, env: 0o600 });

    // An upgrade replaces the binary only.
    writeFakeBinary(bin, "v2");
    const upgrade = install(["--root", root, "--no-start", "--binary", bin]);
    expect(upgrade.code).toBe(0);
    expect(upgrade.stdout).toContain(`updated ${p.binary}`);
    expect(upgrade.stdout).toContain("done: 1 change(s)");
    expect(readFileSync(p.binary, "utf8")).toContain("# v2");
    expect(modeOf(p.binary)).toBe(0o755);
    expect(readFileSync(p.config, "utf8")).toBe(editedConfig);
  });

  test.each([
    {
      name: "unknown option",
      args: ["--frobnicate"],
      code: 2,
      message: "Error: Cannot parse options: unknown argument '--frobnicate'",
    },
    {
      name: "--binary without a path",
      args: ["--binary"],
      code: 2,
      message: "Error: Cannot parse options: --binary needs a path",
    },
    {
      name: "missing binary",
      args: ["--binary", "/nonexistent/litefleet"],
      code: 1,
      message: "Error: Cannot install the binary: '/nonexistent/litefleet' does not exist",
    },
  ])("fails clearly on $name", async ({ args, code, message }) => {
    await using dir = await makeTempDir("systemd-install-");
    const r = install(["--root", dir.path, "--no-start", ...args]);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/^Try: /m);
  });
});

describe("systemd/litefleet.service", () => {
  test("has the settings OPERATIONS.md relies on, and none systemd 252 rejects", () => {
    const settings = unitSettings(readFileSync(UNIT, "utf8"));
    const get = (key: string) => settings.filter(([k]) => k === key).map(([, v]) => v);
    expect(get("ExecStart")).toEqual(["/usr/local/bin/litefleet replicate --config /etc/litefleet.yml"]);
    expect({ user: get("User"), group: get("Group") }).toEqual({ user: ["litefleet"], group: ["litefleet"] });
    expect(get("Restart")).toEqual(["on-failure"]);
    expect(get("StartLimitIntervalSec")).toEqual(["0"]);
    expect(get("TimeoutStopSec")).toEqual(["45"]);
    expect(get("EnvironmentFile")).toEqual(["-/etc/litefleet.env"]);
    expect(get("ReadWritePaths")).toEqual(["/var/lib/litefleet"]);
    expect(get("ProtectSystem")).toEqual(["strict"]);
    // Bun's JIT needs writable+executable memory; systemd 252 does not know RestartSteps.
    for (const key of ["MemoryDenyWriteExecute", "RestartSteps", "RestartMaxDelaySec"]) expect(get(key)).toEqual([]);
    // A requested stop of `replicate --exec` exits 0 by itself (issue #12); a 143 that was
    // not requested must stay a failure that Restart=on-failure acts on.
    expect(get("SuccessExitStatus")).toEqual([]);
  });

  const analyze = Bun.which("systemd-analyze");
  if (analyze === null) {
    process.stderr.write("systemd.test.ts: skipping 'systemd-analyze verify': systemd-analyze is not on PATH\n");
  }

  test.skipIf(analyze === null)("passes systemd-analyze verify without a warning", async () => {
    await using dir = await makeTempDir("systemd-verify-");
    const root = join(dir.path, "root");
    await mkdir(root);
    const bin = join(dir.path, "litefleet-linux-test");
    writeFakeBinary(bin, "verify");
    expect(install(["--root", root, "--no-start", "--binary", bin]).code).toBe(0);

    // verify checks that ExecStart's program exists and is executable. It
    // needs no running systemd, but with --root it also wants the whole
    // target tree under the root, so check a copy of the installed unit whose
    // ExecStart names the binary installed under the temporary root.
    const p = paths(root);
    const unit = readFileSync(p.unit, "utf8");
    expect(unit).toContain("\nExecStart=/usr/local/bin/litefleet ");
    const check = join(dir.path, "check");
    await mkdir(check);
    const verify = (text: string) => {
      writeFileSync(join(check, "litefleet.service"), text);
      const r = Bun.spawnSync(
        [analyze ?? "systemd-analyze", "verify", "--man=no", "--recursive-errors=no", join(check, "litefleet.service")],
        { stdout: "pipe", stderr: "pipe" },
      );
      return { code: r.exitCode, output: (r.stdout.toString() + r.stderr.toString()).trim() };
    };
    const copy = unit.replace("\nExecStart=/usr/local/bin/litefleet ", `\nExecStart=${p.binary} `);

    expect(verify(copy)).toEqual({ code: 0, output: "" });
    // The check itself works here: an unknown key is reported.
    expect(verify(copy.replace("\nRestartSec=5\n", "\nRestartSec=5\nNoSuchSetting=yes\n")).output).toContain(
      "NoSuchSetting",
    );
  });
});
