import { describe, expect, test } from "bun:test";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import type { Clock } from "./clock.ts";
import {
  MeteredProbe,
  probeMetered,
  runCommand,
  type CommandResult,
  type CommandRunner,
  type MeteredState,
} from "./metered.ts";

const BUSCTL =
  "busctl get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Metered";
const IP_ROUTE = "ip route get 1.1.1.1";
const NMCLI = (dev: string): string => `nmcli -t -f GENERAL.METERED device show ${dev}`;
const NOT_FOUND: CommandResult = { code: 127, stdout: "" };

/** A `CommandRunner` answering from a table keyed by the joined command line; records every call. */
function fakeRun(answers: Record<string, CommandResult>): CommandRunner & { calls: string[]; timeouts: number[] } {
  const calls: string[] = [];
  const timeouts: number[] = [];
  const run = async (cmd: string[], timeoutMs: number): Promise<CommandResult> => {
    calls.push(cmd.join(" "));
    timeouts.push(timeoutMs);
    return answers[cmd.join(" ")] ?? NOT_FOUND;
  };
  return Object.assign(run, { calls, timeouts });
}

describe("probeMetered()", () => {
  test.each([
    ["u 0\n", false, "NetworkManager (unknown)"],
    ["u 1\n", true, "NetworkManager (yes)"],
    ["u 2\n", false, "NetworkManager (no)"],
    ["u 3\n", true, "NetworkManager (guess-yes)"],
    ["u 4\n", false, "NetworkManager (guess-no)"],
    ["u 9\n", false, "NetworkManager (unknown)"],
  ])("reads busctl output %j", async (stdout, metered, source) => {
    const run = fakeRun({ [BUSCTL]: { code: 0, stdout } });
    expect(await probeMetered({ run })).toEqual({ metered, source });
    expect(run.calls).toEqual([BUSCTL]);
    expect(run.timeouts).toEqual([1000]);
  });

  test.each([
    ["yes", true, "yes"],
    ["no", false, "no"],
    ["yes (guessed)", true, "guess-yes"],
    ["no (guessed)", false, "guess-no"],
    ["unknown", false, "unknown"],
  ])("falls back to nmcli on the route device when busctl fails: %j", async (word, metered, name) => {
    const run = fakeRun({
      [BUSCTL]: { code: 1, stdout: "" },
      [IP_ROUTE]: { code: 0, stdout: "1.1.1.1 via 10.64.0.1 dev wwan0 src 10.64.0.7 uid 1000 \n    cache \n" },
      [NMCLI("wwan0")]: { code: 0, stdout: `GENERAL.METERED:${word}\n` },
    });
    expect(await probeMetered({ run, timeoutMs: 250 })).toEqual({
      metered,
      source: `NetworkManager device 'wwan0' (${name})`,
    });
    expect(run.calls).toEqual([BUSCTL, IP_ROUTE, NMCLI("wwan0")]);
    expect(run.timeouts).toEqual([250, 250, 250]);
  });

  test("falls back to nmcli when busctl prints something unexpected", async () => {
    const run = fakeRun({
      [BUSCTL]: { code: 0, stdout: 's "what"\n' },
      [IP_ROUTE]: { code: 0, stdout: "1.1.1.1 dev eth0 src 192.168.1.5\n" },
      [NMCLI("eth0")]: { code: 0, stdout: "GENERAL.METERED:no\n" },
    });
    expect(await probeMetered({ run })).toEqual({ metered: false, source: "NetworkManager device 'eth0' (no)" });
  });

  test("assumes not metered when neither busctl nor nmcli is installed", async () => {
    const run = fakeRun({ [IP_ROUTE]: { code: 0, stdout: "1.1.1.1 via 192.0.2.1 dev eth0 src 192.0.2.2\n" } });
    expect(await probeMetered({ run })).toEqual({
      metered: false,
      source: "no NetworkManager (busctl: not found; nmcli: not found): assuming not metered",
    });
  });

  test("assumes not metered when NetworkManager is not running", async () => {
    const run = fakeRun({
      [BUSCTL]: { code: 1, stdout: "" },
      [IP_ROUTE]: { code: 0, stdout: "1.1.1.1 via 192.0.2.1 dev eth0 src 192.0.2.2\n" },
      [NMCLI("eth0")]: { code: 8, stdout: "" },
    });
    expect(await probeMetered({ run })).toEqual({
      metered: false,
      source: "no NetworkManager (busctl: exit 1; nmcli: exit 8): assuming not metered",
    });
  });

  test("assumes not metered without a route, without asking nmcli", async () => {
    const run = fakeRun({ [BUSCTL]: { code: 124, stdout: "" }, [IP_ROUTE]: { code: 2, stdout: "" } });
    expect(await probeMetered({ run })).toEqual({
      metered: false,
      source: "no NetworkManager (busctl: timed out; ip route: exit 2): assuming not metered",
    });
    expect(run.calls).toEqual([BUSCTL, IP_ROUTE]);
  });

  test("never throws, even when the runner does", async () => {
    const run: CommandRunner = () => Promise.reject(new Error("spawn failed"));
    expect(await probeMetered({ run })).toEqual({
      metered: false,
      source: "no NetworkManager (busctl: exit 126; ip route: exit 126): assuming not metered",
    });
  });

  test("runs the real busctl found on PATH", async () => {
    await using dir = await makeTempDir("litefleet-metered-");
    // Answers only the exact property query, like NetworkManager on a phone hotspot.
    await writeScript(
      join(dir.path, "busctl"),
      `[ "$*" = "get-property org.freedesktop.NetworkManager /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Metered" ] || exit 2\necho "u 3"`,
    );
    expect(await withPath(dir.path, () => probeMetered())).toEqual({
      metered: true,
      source: "NetworkManager (guess-yes)",
    });
  });

  test("runs the real ip and nmcli found on PATH when busctl fails", async () => {
    await using dir = await makeTempDir("litefleet-metered-");
    await writeScript(
      join(dir.path, "busctl"),
      `echo "Failed to connect to bus: No such file or directory" >&2\nexit 1`,
    );
    await writeScript(join(dir.path, "ip"), `echo "1.1.1.1 via 10.0.0.1 dev usb0 src 10.0.0.2 uid 0"`);
    await writeScript(
      join(dir.path, "nmcli"),
      `[ "$LC_ALL" = C ] || exit 3\n[ "$*" = "-t -f GENERAL.METERED device show usb0" ] || exit 2\necho "GENERAL.METERED:yes"`,
    );
    expect(await withPath(dir.path, () => probeMetered())).toEqual({
      metered: true,
      source: "NetworkManager device 'usb0' (yes)",
    });
  });
});

describe("runCommand()", () => {
  test("returns the exit code and stdout", async () => {
    expect(await runCommand(["sh", "-c", "echo hello; exit 3"], 5000)).toEqual({ code: 3, stdout: "hello\n" });
    expect(await runCommand(["sh", "-c", "echo ok"], 5000)).toEqual({ code: 0, stdout: "ok\n" });
  });

  test("returns 127 for a missing program", async () => {
    expect(await runCommand(["litefleet-no-such-program-here"], 5000)).toEqual({ code: 127, stdout: "" });
    expect(await runCommand([], 5000)).toEqual({ code: 127, stdout: "" });
  });

  test("returns 124 when the program outlives the timeout", async () => {
    const start = performance.now();
    const result = await runCommand(["sleep", "5"], 100);
    expect(result.code).toBe(124);
    expect(performance.now() - start).toBeLessThan(2000);
  });
});

/** A fake clock for the cache: time moves only when the test says so. */
class FakeClock implements Clock {
  time = 0;
  now(): number {
    return this.time;
  }
  monotonic(): number {
    return this.time;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

describe("MeteredProbe", () => {
  function countingProbe(states: MeteredState[]): (() => Promise<MeteredState>) & { count: number } {
    const probe = Object.assign(
      async (): Promise<MeteredState> => {
        const state = states[Math.min(probe.count, states.length - 1)];
        probe.count++;
        if (state === undefined) throw new Error("no state");
        return state;
      },
      { count: 0 },
    );
    return probe;
  }
  const METERED = { metered: true, source: "NetworkManager (yes)" };
  const FREE = { metered: false, source: "NetworkManager (no)" };

  test("current() reuses an answer for cacheMs, then probes again", async () => {
    const clock = new FakeClock();
    const probe = countingProbe([METERED, FREE]);
    const cache = new MeteredProbe({ probe, clock, cacheMs: 1000 });
    expect(await cache.current()).toEqual(METERED);
    clock.time = 999;
    expect(await cache.current()).toEqual(METERED);
    expect(probe.count).toBe(1);
    clock.time = 1000;
    expect(await cache.current()).toEqual(FREE);
    expect(probe.count).toBe(2);
  });

  test("current() shares one probe between concurrent callers", async () => {
    const probe = countingProbe([METERED]);
    const cache = new MeteredProbe({ probe, clock: new FakeClock() });
    expect(await Promise.all([cache.current(), cache.current(), cache.current()])).toEqual([METERED, METERED, METERED]);
    expect(probe.count).toBe(1);
  });

  test("current() probes every time with cacheMs 0", async () => {
    const probe = countingProbe([METERED, FREE]);
    const cache = new MeteredProbe({ probe, clock: new FakeClock(), cacheMs: 0 });
    expect(await cache.current()).toEqual(METERED);
    expect(await cache.current()).toEqual(FREE);
  });

  test("current() does not cache a failed probe", async () => {
    let fail = true;
    const cache = new MeteredProbe({
      probe: async () => {
        if (fail) throw new Error("D-Bus is down");
        return FREE;
      },
      clock: new FakeClock(),
    });
    await expect(cache.current()).rejects.toThrow("D-Bus is down");
    fail = false;
    expect(await cache.current()).toEqual(FREE);
  });

  test("the constructor rejects a negative cacheMs with RangeError", () => {
    expect(() => new MeteredProbe({ cacheMs: -1 })).toThrow(
      "Cannot create metered probe: 'cacheMs' must be a non-negative finite number, got '-1'",
    );
  });
});

async function writeScript(path: string, body: string): Promise<void> {
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
}

/** Runs `fn` with `dir` first on PATH, so its scripts shadow the real programs. */
async function withPath<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env["PATH"];
  process.env["PATH"] = `${dir}:${saved ?? ""}`;
  try {
    return await fn();
  } finally {
    process.env["PATH"] = saved;
  }
}
