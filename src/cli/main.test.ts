import { describe, expect, test } from "bun:test";
import { runCli } from "../../test/harness/cli.ts";
import { OutputError } from "../errors.ts";
import type { CliIo } from "./io.ts";
import { normalizeArgs, runAndFlush } from "./main.ts";

describe("normalizeArgs", () => {
  test("rewrites Litestream-style single-dash long options only", () => {
    expect(normalizeArgs(["restore", "-config", "a.yml", "-o", "x", "-txid", "5", "-if-db-not-exists", "db"])).toEqual([
      "restore",
      "--config",
      "a.yml",
      "-o",
      "x",
      "--txid",
      "5",
      "--if-db-not-exists",
      "db",
    ]);
    expect(normalizeArgs(["-bogus", "--config=x"])).toEqual(["-bogus", "--config=x"]);
  });

  test("rewrites restore's -integrity-check, -parallelism, -dry-run and -follow-interval; -f stays the short option", () => {
    expect(
      normalizeArgs([
        "restore",
        "-integrity-check",
        "quick",
        "-parallelism=4",
        "-dry-run",
        "-f",
        "-follow-interval",
        "2s",
      ]),
    ).toEqual([
      "restore",
      "--integrity-check",
      "quick",
      "--parallelism=4",
      "--dry-run",
      "-f",
      "--follow-interval",
      "2s",
    ]);
  });
});

describe("main", () => {
  const cases: Array<{ name: string; args: string[]; code: number; stdout?: RegExp; stderr?: RegExp }> = [
    { name: "no arguments prints help", args: [], code: 2, stdout: /Usage: litefleet/ },
    { name: "--help", args: ["--help"], code: 0, stdout: /replicate/ },
    { name: "restore --help", args: ["restore", "--help"], code: 0, stdout: /--timestamp/ },
    {
      name: "version",
      args: ["version"],
      code: 0,
      stdout: /^litefleet \d+\.\d+\.\d+ \(commit dev, [a-z0-9]+-[a-z0-9]+ \(source\), sqlite 3\./,
    },
    {
      name: "--version",
      args: ["--version"],
      code: 0,
      stdout: /^litefleet \d+\.\d+\.\d+ \(commit dev, [a-z0-9]+-[a-z0-9]+ \(source\), sqlite 3\.[\d.]+\)\n$/,
    },
    {
      name: "-V",
      args: ["-V"],
      code: 0,
      stdout: /^litefleet \d+\.\d+\.\d+ \(commit dev, [a-z0-9]+-[a-z0-9]+ \(source\), sqlite 3\.[\d.]+\)\n$/,
    },
    { name: "unknown command", args: ["frobnicate"], code: 2, stderr: /unknown command/ },
    { name: "restore without source", args: ["restore"], code: 2, stderr: /missing required argument/ },
    {
      name: "bad --txid",
      args: ["restore", "--txid", "xyz", "-o", "/tmp/x", "file:///nonexistent"],
      code: 2,
      stderr: /Cannot parse --txid 'xyz'/,
    },
    {
      name: "--txid with --timestamp",
      args: ["restore", "--txid", "1", "--timestamp", "2026-01-01T00:00:00Z", "file:///x"],
      code: 2,
      stderr: /Cannot combine --txid and --timestamp/,
    },
    {
      name: "bad --timestamp",
      args: ["restore", "--timestamp", "yesterday", "-o", "/tmp/x", "file:///x"],
      code: 2,
      stderr: /RFC 3339/,
    },
    { name: "URL without -o", args: ["restore", "file:///x"], code: 2, stderr: /Try: add -o PATH/ },
    {
      name: "unsupported URL scheme",
      args: ["restore", "-o", "/tmp/x", "gs://b/p"],
      code: 2,
      stderr: /scheme 'gs' is not supported/,
    },
    {
      name: "missing config file",
      args: ["replicate", "--config", "/nonexistent.yml"],
      code: 2,
      stderr:
        /Cannot read config file '\/nonexistent.yml': it does not exist \(ENOENT\): pass --config with an existing file, or set LITEFLEET_CONFIG/,
    },
    {
      name: "a directory as the config file",
      args: ["replicate", "--config", "/tmp"],
      code: 2,
      stderr: /Cannot read config file '\/tmp': it is a directory, not a file \(EISDIR\): pass the YAML file itself/,
    },
    {
      name: "replicate with one argument",
      args: ["replicate", "/tmp/a.db"],
      code: 2,
      stderr: /expected DB_PATH and REPLICA_URL/,
    },
    {
      name: "unknown source",
      args: ["ltx", "/nonexistent/dir"],
      code: 2,
      stderr: /Cannot find replica for '\/nonexistent\/dir'/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = await runCli(c.args, { env: {} });
      if (c.stdout) expect(r.stdout).toMatch(c.stdout);
      if (c.stderr) expect(r.stderr).toMatch(c.stderr);
      expect(r.code).toBe(c.code);
    });
  }
});

describe("runAndFlush", () => {
  // The process's own streams are covered end to end by test/integration/piped-output.test.ts (issue #16);
  // here, how a stream's failure, as io.flush() reports it, becomes the exit status.
  const cases: Array<{ name: string; args: string[]; failure: OutputError; code: number; stderr: string }> = [
    {
      name: "stdout EPIPE after success: 141, silent",
      args: ["version"],
      failure: new OutputError("Cannot write to stdout: EPIPE", { stream: "stdout", code: "EPIPE" }),
      code: 141,
      stderr: "",
    },
    {
      name: "stdout EPIPE after a usage error keeps 2",
      args: ["frobnicate"],
      failure: new OutputError("Cannot write to stdout: EPIPE", { stream: "stdout", code: "EPIPE" }),
      code: 2,
      stderr: "unknown command",
    },
    {
      name: "stdout ENOSPC after success: 1 with a message",
      args: ["version"],
      failure: new OutputError("Cannot write to stdout: ENOSPC", { stream: "stdout", code: "ENOSPC" }),
      code: 1,
      stderr: "Error: Cannot write to stdout: ENOSPC\n",
    },
    {
      name: "stderr EPIPE changes nothing",
      args: ["version"],
      failure: new OutputError("Cannot write to stderr: EPIPE", { stream: "stderr", code: "EPIPE" }),
      code: 0,
      stderr: "",
    },
    {
      name: "stderr EIO after success: 1",
      args: ["version"],
      failure: new OutputError("Cannot write to stderr: EIO", { stream: "stderr", code: "EIO" }),
      code: 1,
      stderr: "",
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      let stderr = "";
      const io: CliIo = {
        stdout: () => {},
        stderr: (t) => void (stderr += t),
        flush: () => Promise.reject(c.failure),
        env: {},
        cwd: process.cwd(),
        isTty: false,
        onSignal: () => () => {},
      };
      expect(await runAndFlush(c.args, io)).toBe(c.code);
      if (c.stderr === "") expect(stderr).toBe("");
      else expect(stderr).toContain(c.stderr);
    });
  }
});
