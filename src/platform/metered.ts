/**
 * Whether the uplink is metered (LTE, a phone hotspot), as the OS says:
 * NetworkManager's `Metered` state, read with `busctl` (D-Bus) or `nmcli`.
 * See docs/METERED.md.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { systemClock, type Clock } from "./clock.ts";

/** What the probe concluded, and from what. */
export interface MeteredState {
  readonly metered: boolean;
  /**
   * Where the answer came from, for logs and `litefleet status`:
   * `NetworkManager (guess-yes)`, `NetworkManager device 'wwan0' (yes)`, or
   * `no NetworkManager (busctl: not found; nmcli: not found): assuming not metered`.
   */
  readonly source: string;
}

/** What a command printed and how it ended. */
export interface CommandResult {
  /** Exit status; 127 when the program was not found, 124 when it timed out. */
  readonly code: number;
  readonly stdout: string;
}

/** Runs `cmd` (program and arguments, no shell) for at most `timeoutMs`. */
export type CommandRunner = (cmd: string[], timeoutMs: number) => Promise<CommandResult>;

/** Options for `probeMetered`. */
export interface ProbeMeteredOptions {
  /** Runs the commands. @default runCommand */
  readonly run?: CommandRunner;
  /** The limit for each command. @default 1000 */
  readonly timeoutMs?: number;
}

/**
 * NetworkManager's `NMMetered` values by number: 0 unknown, 1 yes, 2 no,
 * 3 guess-yes, 4 guess-no. The `Metered` property of
 * `org.freedesktop.NetworkManager` is the state of the device that holds the
 * best default route.
 */
export const NM_METERED_NAMES = ["unknown", "yes", "no", "guess-yes", "guess-no"] as const;

/** One of `NM_METERED_NAMES`. */
export type NmMeteredName = (typeof NM_METERED_NAMES)[number];

/** `nmcli`'s words for the same values (`nmc_device_metered_to_string`, in the C locale). */
const NMCLI_NAMES: Readonly<Record<string, NmMeteredName>> = {
  unknown: "unknown",
  yes: "yes",
  no: "no",
  "yes (guessed)": "guess-yes",
  "no (guessed)": "guess-no",
};

const BUSCTL = [
  "busctl",
  "get-property",
  "org.freedesktop.NetworkManager",
  "/org/freedesktop/NetworkManager",
  "org.freedesktop.NetworkManager",
  "Metered",
];

/**
 * A public address whose route names the uplink device; `ip route get`
 * only looks the route up, nothing is sent.
 */
const ROUTE_PROBE_ADDRESS = "1.1.1.1";

/** The default time limit of each probe command. */
export const DEFAULT_PROBE_TIMEOUT_MS = 1000;

/**
 * Asks NetworkManager whether the uplink is metered. Never throws: when
 * NetworkManager cannot be asked the link counts as not metered, and
 * `source` says why.
 *
 * 1. `busctl get-property org.freedesktop.NetworkManager
 *    /org/freedesktop/NetworkManager org.freedesktop.NetworkManager Metered`
 *    prints `u <n>`: the state of the device with the best default route.
 * 2. Without an answer from busctl (not installed, no access to the system
 *    bus): `ip route get 1.1.1.1` names the uplink device, and
 *    `nmcli -t -f GENERAL.METERED device show <dev>` prints
 *    `GENERAL.METERED:yes (guessed)`.
 *
 * `yes` and `guess-yes` count as metered, as NetworkManager's documentation
 * advises; `unknown`, `no` and `guess-no` do not.
 *
 * @example
 * ```ts
 * const { metered, source } = await probeMetered();
 * ```
 */
export async function probeMetered(options: ProbeMeteredOptions = {}): Promise<MeteredState> {
  const { run = runCommand, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS } = options;
  const tryRun = async (cmd: string[]): Promise<CommandResult> => {
    try {
      return await run(cmd, timeoutMs);
    } catch {
      return { code: 126, stdout: "" };
    }
  };

  const bus = await tryRun(BUSCTL);
  const busValue = bus.code === 0 ? /^u\s+(\d+)\s*$/.exec(bus.stdout.trim())?.[1] : undefined;
  if (busValue !== undefined) return fromName("NetworkManager", nameOf(Number(busValue)));
  const busFailure = bus.code === 0 ? `unexpected output '${bus.stdout.trim()}'` : describeExit(bus.code);

  const route = await tryRun(["ip", "route", "get", ROUTE_PROBE_ADDRESS]);
  const device = route.code === 0 ? /\bdev\s+(\S+)/.exec(route.stdout)?.[1] : undefined;
  if (device === undefined) {
    const why = route.code === 0 ? "no device in its output" : describeExit(route.code);
    return notMetered(`no NetworkManager (busctl: ${busFailure}; ip route: ${why})`);
  }

  const nm = await tryRun(["nmcli", "-t", "-f", "GENERAL.METERED", "device", "show", device]);
  const line = nm.code === 0 ? /^GENERAL\.METERED:(.*)$/m.exec(nm.stdout)?.[1]?.trim() : undefined;
  const name = line === undefined ? undefined : NMCLI_NAMES[line];
  if (name !== undefined) return fromName(`NetworkManager device '${device}'`, name);
  const nmFailure = nm.code !== 0 ? describeExit(nm.code) : `unexpected output '${nm.stdout.trim()}'`;
  return notMetered(`no NetworkManager (busctl: ${busFailure}; nmcli: ${nmFailure})`);
}

/**
 * The default `CommandRunner`: runs the program directly (no shell) with
 * `LC_ALL=C`, so `nmcli` prints untranslated words, and kills it after
 * `timeoutMs`. Never throws: a missing program gives code 127, a timeout
 * 124, any other failure to start 126.
 */
export function runCommand(cmd: string[], timeoutMs: number): Promise<CommandResult> {
  const [file, ...args] = cmd;
  if (file === undefined) return Promise.resolve({ code: 127, stdout: "" });
  return new Promise((resolve) => {
    try {
      execFile(
        file,
        args,
        {
          encoding: "utf8",
          timeout: timeoutMs,
          killSignal: "SIGKILL",
          maxBuffer: 1024 * 1024,
          windowsHide: true,
          env: { ...process.env, LC_ALL: "C" },
        },
        (err, stdout) => {
          if (err === null) return resolve({ code: 0, stdout });
          if (err.code === "ENOENT") return resolve({ code: 127, stdout: "" });
          if (err.killed === true || (err.signal !== undefined && err.signal !== null))
            return resolve({ code: 124, stdout });
          resolve({ code: typeof err.code === "number" ? err.code : 126, stdout });
        },
      );
    } catch (err) {
      const code = typeof err === "object" && err !== null && "code" in err ? err.code : undefined;
      resolve({ code: code === "ENOENT" ? 127 : 126, stdout: "" });
    }
  });
}

/** Options for `MeteredProbe`. */
export interface MeteredProbeOptions {
  /** Finds the current state. @default probeMetered */
  readonly probe?: () => Promise<MeteredState>;
  /** The source of time for the cache. @default systemClock */
  readonly clock?: Clock;
  /** How long an answer is reused, in ms; 0 asks every time. @default 60000 */
  readonly cacheMs?: number;
}

/**
 * Caches the metered state so the upload loop can ask on every tick: the
 * probe runs at most once per `cacheMs`, and concurrent callers share one
 * run. A failed probe (only a custom one can fail) is not cached.
 *
 * @example
 * ```ts
 * const probe = new MeteredProbe();
 * if ((await probe.current()).metered) throttle.setRate(meteredRate);
 * ```
 */
export class MeteredProbe {
  readonly #probe: () => Promise<MeteredState>;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  #cached: { state: MeteredState; at: number } | undefined;
  #pending: Promise<MeteredState> | undefined;

  /**
   * Creates a probe; nothing runs until `current()`.
   * @throws {RangeError} when `cacheMs` is negative or not finite
   */
  constructor(options: MeteredProbeOptions = {}) {
    const { probe = () => probeMetered(), clock = systemClock, cacheMs = 60_000 } = options;
    if (!(Number.isFinite(cacheMs) && cacheMs >= 0)) {
      throw new RangeError(
        `Cannot create metered probe: 'cacheMs' must be a non-negative finite number, got '${cacheMs}'`,
      );
    }
    this.#probe = probe;
    this.#clock = clock;
    this.#cacheMs = cacheMs;
  }

  /**
   * The state from the last `cacheMs`, or a fresh probe.
   * @throws whatever a custom `probe` throws (the default never does)
   */
  current(): Promise<MeteredState> {
    const cached = this.#cached;
    if (cached !== undefined && this.#clock.monotonic() - cached.at < this.#cacheMs)
      return Promise.resolve(cached.state);
    this.#pending ??= this.#probe()
      .then((state) => {
        this.#cached = { state, at: this.#clock.monotonic() };
        return state;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }
}

function nameOf(value: number): NmMeteredName {
  return NM_METERED_NAMES[value] ?? "unknown";
}

function fromName(source: string, name: NmMeteredName): MeteredState {
  return { metered: name === "yes" || name === "guess-yes", source: `${source} (${name})` };
}

function notMetered(why: string): MeteredState {
  return { metered: false, source: `${why}: assuming not metered` };
}

function describeExit(code: number): string {
  if (code === 127) return "not found";
  if (code === 124) return "timed out";
  return `exit ${code}`;
}
