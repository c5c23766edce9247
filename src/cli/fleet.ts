/**
 * `litefleet fleet …`: the operator's commands (docs/FLEET.md).
 *
 * - `keygen --out FILE`: a new Ed25519 operator key (private key file, mode
 *   0600, never overwritten) and, on stdout, the `fleet.operator-keys` YAML
 *   to paste into device configs;
 * - `status [--watch] [--json] [filters]`: the fleet from retained status
 *   messages, one row per database, problems first, under a one-line
 *   summary; `--state`, `--lag-over`, `--search`, `--version` filter the
 *   rows (`fleet/fleet-query.ts`, the same as the dashboard's URL);
 * - `send DEVICE COMMAND [args]`: a signed command, following its replies;
 *   its exit code follows the final reply's code ({@linkcode exitCodeOfReply});
 * - `dashboard [--addr] [--history FILE | --no-history]`: a live web page on
 *   localhost, keeping a history file (`fleet-history.ts`);
 * - `history DEVICE`: a device's timeline, from a dashboard or its file
 *   (`fleet-history.ts`).
 *
 * The broker comes from `--broker` (else `$LITEFLEET_MQTT_URL`, else the
 * config's `mqtt.url`); the password only from `$LITEFLEET_MQTT_PASSWORD`
 * or the config, never from a flag (flags show in `ps`).
 *
 * @module
 */

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { isBrokerUrl } from "../protocol/broker-url.ts";
import { DEFAULT_HEALTH_THRESHOLDS, formatAge, type HealthThresholds } from "../fleet/device-health.ts";
import {
  FilterError,
  filterDevices,
  fleetSummary,
  formatSummary,
  isNoFilter,
  parseFilter,
  type FleetFilter,
} from "../fleet/fleet-query.ts";
import { FleetView, type DeviceView } from "../fleet/fleet-view.ts";
import { parseDashboardAddr } from "../fleet/dashboard/listen-addr.ts";
import type { ReplyMessage } from "../protocol/messages.ts";
import { NoReplyError, connectBroker, sendCommand, type BrokerSettings } from "../fleet/operator.ts";
import { generateOperatorKey, parsePrivateKey, type OperatorPrivateKey } from "../protocol/signing.ts";
import { checkTopicId, DEFAULT_TOPIC_ROOT } from "../protocol/topics.ts";
import { UsageError } from "../errors.ts";
import { durationOption } from "./duration-option.ts";
import type { DashboardHistoryOptions } from "./fleet-history.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";
import { table } from "./text-table.ts";

/** Broker options shared by the fleet subcommands. */
export interface BrokerOptions {
  readonly config?: string;
  readonly broker?: string;
  readonly username?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly protocol?: string;
  readonly topicRoot?: string;
}

/** Runs `fleet keygen`. */
export function runFleetKeygen(io: CliIo, options: { out?: string }): number {
  if (options.out === undefined)
    throw new UsageError(
      "Cannot make a key without --out",
      "litefleet fleet keygen --out ~/.config/litefleet/operator.key",
    );
  const out = resolve(io.cwd, options.out);
  if (existsSync(out))
    throw new UsageError(
      `Cannot write '${out}': the file exists (keys are never overwritten)`,
      "choose another --out path",
    );
  const key = generateOperatorKey();
  writeFileSync(out, key.privatePem, { mode: 0o600, flag: "wx" });
  io.stderr(`Wrote the private key to ${out} (mode 0600). Keep it off the devices.\n`);
  io.stderr(
    "Paste this into each device's config (with a 'fleet:' section already there, add only the '- ed25519:…' line under its 'operator-keys:'):\n\n",
  );
  // stdout is the pasteable part alone, YAML the config parser takes as is
  // (issue #12: the key line used to come without its indentation and '- ').
  io.stdout(`fleet:\n  operator-keys:\n    - ${key.publicKey}  # key id ${key.keyId}\n`);
  return ExitCode.ok;
}

/** Commands whose default `--timeout` is {@linkcode LONG_TIMEOUT_MS}: they read or write whole databases. */
const LONG_COMMANDS = new Set(["restore", "verify"]);
const LONG_TIMEOUT_MS = 10 * 60_000;
const TIMEOUT_MS = 60_000;

/**
 * The exit code of `fleet send` for the final reply (docs/CLI.md): 0 done
 * (3 when a verify did not prove equality); "rejected" 7 ("bad-arguments"
 * 2); "failed" by its code: "usage" 2, "checksum-mismatch"/"corrupt" 3,
 * "timeout" 5, any other (or none, from an older device) 1.
 */
export function exitCodeOfReply(reply: Pick<ReplyMessage, "status" | "code" | "result">): number {
  if (reply.status === "done") return reply.result?.["ok"] === false ? ExitCode.integrity : ExitCode.ok;
  if (reply.status === "rejected") return reply.code === "bad-arguments" ? ExitCode.usage : ExitCode.refused;
  if (reply.status !== "failed") return ExitCode.failure;
  switch (reply.code) {
    case "usage":
      return ExitCode.usage;
    case "checksum-mismatch":
    case "corrupt":
      return ExitCode.integrity;
    case "timeout":
      return ExitCode.timeout;
    default:
      return ExitCode.failure;
  }
}

/** The command's options of `fleet send` (one device or many). */
export interface SendOptions {
  keyFile?: string;
  db?: string;
  txid?: string;
  timestamp?: string;
  output?: string;
  full?: boolean;
  timeout?: string;
  ttl?: string;
  json?: boolean;
}

/**
 * The operator key from `--operator-key` or `$LITEFLEET_OPERATOR_KEY`.
 * @throws {UsageError} when there is none, or it is not an Ed25519 private key
 */
export function loadSigner(io: CliIo, keyFile: string | undefined): OperatorPrivateKey {
  const file = keyFile ?? io.env["LITEFLEET_OPERATOR_KEY"];
  if (file === undefined)
    throw new UsageError(
      "Cannot sign the command: no operator key",
      "pass --operator-key FILE (from 'litefleet fleet keygen') or set $LITEFLEET_OPERATOR_KEY",
    );
  try {
    return parsePrivateKey(readFileSync(resolve(io.cwd, file), "utf8"));
  } catch (err) {
    throw new UsageError(
      `Cannot use operator key '${file}': ${(err as Error).message}`,
      "make one with 'litefleet fleet keygen --out FILE'",
    );
  }
}

/** The command's `args` from the options, and how long to wait for its final reply and how long it stays valid. */
export function commandRequest(
  command: string,
  options: SendOptions,
): { args: Record<string, unknown>; timeoutMs: number; ttlMs: number } {
  const args: Record<string, unknown> = {};
  if (options.db !== undefined) args["db"] = options.db;
  if (options.txid !== undefined) args["txid"] = options.txid;
  // Digits alone are Unix milliseconds, anything else an RFC 3339 time (docs/FLEET.md).
  if (options.timestamp !== undefined)
    args["timestamp"] = /^\d+$/.test(options.timestamp) ? Number(options.timestamp) : options.timestamp;
  if (options.output !== undefined) args["output"] = options.output;
  if (options.full) args["full"] = true;
  const ttlMs = durationOption(options.ttl, "--ttl", 300_000);
  const timeoutMs = durationOption(
    options.timeout,
    "--timeout",
    LONG_COMMANDS.has(command) ? LONG_TIMEOUT_MS : TIMEOUT_MS,
  );
  return { args, timeoutMs, ttlMs };
}

/** Runs `fleet send`. */
export async function runFleetSend(
  io: CliIo,
  device: string,
  command: string,
  options: BrokerOptions & SendOptions & { id?: string },
) {
  try {
    checkTopicId(device, "device id");
  } catch (err) {
    throw new UsageError((err as Error).message, "device ids are shown by 'litefleet fleet status'");
  }
  const signer = loadSigner(io, options.keyFile);
  const { args, timeoutMs, ttlMs } = commandRequest(command, options);
  const settings = brokerSettings(io, options);
  const client = await connectBroker(settings.broker);
  let last: ReplyMessage | undefined;
  try {
    for await (const reply of sendCommand(
      client,
      { root: settings.root, device, name: command, args, ttlMs, ...(options.id ? { id: options.id } : {}) },
      { signer, protocolVersion: settings.broker.protocolVersion, timeoutMs },
    )) {
      last = reply;
      if (options.json) io.stdout(`${JSON.stringify(reply)}\n`);
      else
        io.stderr(
          `${reply.status}${reply.step ? ` ${reply.step}` : ""}${reply.code ? ` [${reply.code}]` : ""}${reply.error ? `: ${reply.error}` : ""}\n`,
        );
    }
  } catch (err) {
    if (!(err instanceof NoReplyError)) throw err;
    io.stderr(`Error: ${err.message}\n`);
    return err.answered ? ExitCode.timeout : ExitCode.unreachable;
  } finally {
    await client.endAsync();
  }
  if (!options.json && last?.result) io.stdout(`${JSON.stringify(last.result, null, 2)}\n`);
  return last === undefined ? ExitCode.failure : exitCodeOfReply(last);
}

/** The filter and RPO options of `fleet status` and `fleet dashboard`. */
export interface ViewOptions {
  readonly state?: string;
  readonly lagOver?: string;
  readonly search?: string;
  readonly version?: string;
  readonly rpo?: string;
}

/** `fleet status` prints once no retained message arrived for this long (`--wait`), by default (ms). */
export const DEFAULT_QUIET_MS = 500;
/** … and at the latest after this long (ms), however the messages trickle in. */
const MAX_WAIT_MS = 60_000;
/** `fleet status --watch` reprints at most this often (ms). */
const WATCH_PRINT_MS = 1_000;

function viewFilter(options: ViewOptions): FleetFilter {
  try {
    return parseFilter({
      state: options.state,
      lagOver: options.lagOver,
      search: options.search,
      version: options.version,
    });
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    throw new UsageError(
      err.message
        .replace("Cannot filter by state", "Cannot use --state")
        .replace("Cannot filter by lag-over", "Cannot use --lag-over"),
      'e.g. --state error,offline --lag-over 1h --search gw- --version 0.9 (docs/FLEET.md "Fleet views")',
    );
  }
}

function viewThresholds(options: ViewOptions): HealthThresholds {
  return { ...DEFAULT_HEALTH_THRESHOLDS, rpoMs: durationOption(options.rpo, "--rpo", DEFAULT_HEALTH_THRESHOLDS.rpoMs) };
}

/** A confirming sleep of {@linkcode retainedQuiet} (ms). */
const SETTLE_MS = 20;

const sleep = (ms: number) => new Promise<void>((resolveSleep) => setTimeout(resolveSleep, ms));

/**
 * Resolves once retained messages stop arriving: `quietMs` after the last
 * one (or after the subscription, with none), at the latest after
 * {@linkcode MAX_WAIT_MS}. Live messages do not count: a fleet that keeps
 * publishing would never fall quiet. A quiet period is confirmed by three
 * short sleeps that came back on time with no message meanwhile: on a busy
 * machine the process may not run for a while, and then the quiet period
 * is over by the clock while the messages that arrived meanwhile wait
 * unread in the socket.
 */
async function retainedQuiet(view: FleetView, quietMs: number): Promise<void> {
  const started = performance.now();
  let last = started;
  const off = view.onChange((change) => {
    if (change.retained) last = performance.now();
  });
  const overdue = () => performance.now() - started >= MAX_WAIT_MS;
  try {
    for (;;) {
      const idle = performance.now() - last;
      if (idle < quietMs) {
        await sleep(quietMs - idle);
        continue;
      }
      const mark = last;
      let onTime = 0;
      while (onTime < 3 && last === mark && !overdue()) {
        const before = performance.now();
        await sleep(SETTLE_MS);
        if (performance.now() - before < 2 * SETTLE_MS) onTime++;
      }
      if (last === mark || overdue()) return;
    }
  } finally {
    off();
  }
}

/**
 * Runs `fleet status`: prints the fleet once (after the retained messages
 * arrived) or, with `--watch`, again after changes (at most once a second).
 */
export async function runFleetStatus(
  io: CliIo,
  options: BrokerOptions & ViewOptions & { watch?: boolean; json?: boolean; wait?: string },
): Promise<number> {
  const filter = viewFilter(options);
  const thresholds = viewThresholds(options);
  const quietMs = durationOption(options.wait, "--wait", DEFAULT_QUIET_MS);
  const settings = brokerSettings(io, options);
  const now = io.now ?? Date.now;
  const client = await connectBroker(settings.broker);
  const view = await FleetView.open(client, {
    root: settings.root,
    thresholds,
    now,
    staleCheckMs: options.watch ? 1000 : 0,
  });
  try {
    await retainedQuiet(view, quietMs);
    const print = () => {
      const at = now();
      const all = view.devices();
      const shown = filterDevices(all, filter);
      const summary = formatSummary(fleetSummary(all, at), formatAge);
      const rows = (list: readonly DeviceView[]) => list.reduce((n, d) => n + d.rows.length, 0);
      const showing = isNoFilter(filter) ? "" : `showing ${rows(shown)} of ${rows(all)} rows\n`;
      if (options.json) {
        io.stderr(`${summary}\n${showing}`);
        io.stdout(`${JSON.stringify(shown)}\n`);
      } else io.stdout(`${summary}\n${showing}${formatTable(shown, at)}`);
    };
    print();
    if (options.watch) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const off = view.onChange((change) => {
        if (change.kind === "event" || timer !== undefined) return;
        timer = setTimeout(() => {
          timer = undefined;
          print();
        }, WATCH_PRINT_MS);
      });
      await new Promise<void>((resolveStop) => {
        const unregister = io.onSignal(() => {
          unregister();
          resolveStop();
        });
      });
      off();
      clearTimeout(timer);
    }
  } finally {
    await view.close();
    // Forced: retained messages may still be on their way, and a polite DISCONNECT then waits
    // for the broker to close a connection it is still writing to (issue #15: it hung).
    await client.endAsync(true);
  }
  return ExitCode.ok;
}

/** Where `fleet dashboard` listens without `--addr`. */
const DEFAULT_DASHBOARD_ADDR = "127.0.0.1:9398";

/**
 * `--addr` of `fleet dashboard`, checked.
 * @throws {UsageError} when it is not `host:port` with a port in 0-65535
 */
function dashboardAddr(addr: string | undefined): string {
  const text = addr ?? DEFAULT_DASHBOARD_ADDR;
  try {
    parseDashboardAddr(text, "--addr");
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new UsageError(
      err.message,
      `e.g. --addr ${DEFAULT_DASHBOARD_ADDR}, --addr [::1]:8080, or --addr 0.0.0.0:9398 on every interface (port 0 picks a free one)`,
    );
  }
  return text;
}

/** What to try when the dashboard cannot listen, by the system error's code. */
function listenHint(code: string | undefined): string {
  switch (code) {
    case "EADDRINUSE":
      return "another process listens there: stop it, or pass another --addr (e.g. --addr 127.0.0.1:0 for a free port)";
    case "EACCES":
      return "ports below 1024 need privileges: pass --addr with a port above 1023 (e.g. --addr 127.0.0.1:9398)";
    case "EADDRNOTAVAIL":
      return "pass --addr with an address of this machine (e.g. --addr 127.0.0.1:9398, or 0.0.0.0:9398 for every interface)";
    default:
      return "pass another --addr (e.g. --addr 127.0.0.1:0 for a free port)";
  }
}

/**
 * Runs `fleet dashboard` until SIGINT/SIGTERM, keeping history in a file
 * (`fleet-history.ts`) unless `--no-history`. The command line (`--addr`,
 * `--rpo`, the broker options) is checked first, then the history file is
 * opened: either one wrong stops the command before it connects. An
 * address it cannot listen on exits 1 with the system's code and a hint.
 */
export async function runFleetDashboard(
  io: CliIo,
  options: BrokerOptions & Pick<ViewOptions, "rpo"> & DashboardHistoryOptions & { addr?: string },
): Promise<number> {
  const thresholds = viewThresholds(options);
  const addr = dashboardAddr(options.addr);
  const settings = brokerSettings(io, options);
  // The history side loads only for the dashboard (issue #13).
  const { describeHistory, openDashboardHistory } = await import("./fleet-history.ts");
  const history = await openDashboardHistory(io, options);
  let client: Awaited<ReturnType<typeof connectBroker>>;
  let view: FleetView;
  try {
    client = await connectBroker(settings.broker);
    view = await FleetView.open(client, { root: settings.root, thresholds });
  } catch (err) {
    history?.store.close();
    throw err;
  }
  // The dashboard's server, page and history recorder load only for this subcommand (issue #13).
  const { HistoryRecorder } = await import("../fleet/history/history-recorder.ts");
  const recorder = history === null ? null : new HistoryRecorder(view, history.store, history.options);
  void recorder?.prune().catch(() => undefined);
  const { DashboardListenError, startDashboard } = await import("../fleet/dashboard/server.ts");
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  try {
    dashboard = await startDashboard({ view, addr, history: recorder });
  } catch (err) {
    await recorder?.stop();
    await view.close();
    await client.endAsync(true);
    if (!(err instanceof DashboardListenError)) throw err;
    io.stderr(`Error: ${err.message}\nTry: ${listenHint(err.code)}\n`);
    return ExitCode.failure;
  }
  // Listening for the signal before saying how to send it: a Ctrl-C right after the line stops cleanly.
  const stopped = new Promise<void>((resolveStop) => {
    const unregister = io.onSignal(() => {
      unregister();
      resolveStop();
    });
  });
  io.stderr(describeHistory(history));
  io.stderr(`Fleet dashboard on ${dashboard.url} (Ctrl-C to stop)\n`);
  await stopped;
  await dashboard.close();
  await recorder?.stop();
  await view.close();
  await client.endAsync(true);
  return ExitCode.ok;
}

/** 5368709120 → "5.0 GiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * One row per database (a device that lists none: one row with DB `-`),
 * in the order given (`filterDevices` sorts problems first): the device,
 * the database, its state (offline with why), when the device was last
 * heard from, how old the row's data is, lag, pending files, TXID, agent
 * version, free disk, and the first problem. Without data (a device first
 * seen offline that never sent telemetry) the data columns show "-", never
 * zeros.
 */
export function formatTable(devices: readonly DeviceView[], now: number): string {
  const rows = [
    ["DEVICE", "DB", "STATE", "LAST SEEN", "DATA AGE", "LAG", "PENDING", "TXID", "AGENT", "FREE DISK", "PROBLEM"],
  ];
  for (const d of devices) {
    const disk =
      d.disk === null
        ? "-"
        : `${formatBytes(d.disk.free)}${d.disk.total > 0 ? ` (${Math.round((100 * d.disk.free) / d.disk.total)}%)` : ""}`;
    for (const r of d.rows) {
      const known = r.db !== null;
      const problem =
        r.problems.length === 0
          ? ""
          : `${r.problems[0]}${r.problems.length > 1 ? ` (+${r.problems.length - 1} more)` : ""}`;
      rows.push([
        d.device,
        r.db ?? "-",
        r.state === "offline" ? `offline (${d.reason ?? "?"})` : r.state,
        `${formatAge(now - d.heardAt)} ago`,
        d.dataAt === null ? "-" : formatAge(now - d.dataAt),
        known && r.lagMs !== null ? formatAge(r.lagMs) : "-",
        known ? String(r.pendingFiles) : "-",
        r.txid ?? "-",
        d.agent ?? "-",
        disk,
        problem,
      ]);
    }
  }
  return table(rows);
}

/** Broker settings from flags, env and config (see the module documentation). */
export function brokerSettings(io: CliIo, options: BrokerOptions): { broker: BrokerSettings; root: string } {
  // The operator's config needs only what connects (mqtt.url, credentials, TLS): no state-dir.
  const config = loadConfig(io, options.config, "operator")?.mqtt;
  const url = options.broker ?? io.env["LITEFLEET_MQTT_URL"] ?? config?.url;
  if (url === undefined)
    throw new UsageError(
      "Cannot reach the fleet: no MQTT broker",
      "pass --broker mqtt://host:1883, set $LITEFLEET_MQTT_URL, or --config with an 'mqtt' section",
    );
  if (!isBrokerUrl(url)) {
    // The config's mqtt.url was checked when it was read: a bad URL came from the flag or the
    // environment. The URL is not quoted: it may hold a password (mqtt://user:pass@host).
    const from = options.broker !== undefined ? "--broker" : "$LITEFLEET_MQTT_URL";
    throw new UsageError(
      `Cannot use ${from}: it must start with mqtt://, mqtts://, ws:// or wss://`,
      from === "--broker"
        ? "e.g. --broker mqtts://broker.example.com:8883"
        : "e.g. LITEFLEET_MQTT_URL=mqtts://broker.example.com:8883",
    );
  }
  let protocolVersion: 4 | 5 = config?.protocolVersion ?? 5;
  if (options.protocol !== undefined) {
    if (options.protocol === "5") protocolVersion = 5;
    else if (options.protocol === "3.1.1" || options.protocol === "4") protocolVersion = 4;
    else throw new UsageError(`Cannot use --protocol '${options.protocol}'`, "--protocol 5 or --protocol 3.1.1");
  }
  const username = options.username ?? io.env["LITEFLEET_MQTT_USERNAME"] ?? config?.username;
  const password = io.env["LITEFLEET_MQTT_PASSWORD"] ?? config?.password;
  const tls = {
    ca: options.ca ?? config?.ca,
    cert: options.cert ?? config?.cert,
    key: options.key ?? config?.key,
  };
  const broker: BrokerSettings = {
    url,
    protocolVersion,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls.ca !== undefined ? { ca: resolve(io.cwd, tls.ca) } : {}),
    ...(tls.cert !== undefined ? { cert: resolve(io.cwd, tls.cert) } : {}),
    ...(tls.key !== undefined ? { key: resolve(io.cwd, tls.key) } : {}),
  };
  return { broker, root: options.topicRoot ?? config?.topicRoot ?? DEFAULT_TOPIC_ROOT };
}
