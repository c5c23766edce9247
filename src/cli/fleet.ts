/**
 * `litefleet fleet …`: the operator's commands (docs/FLEET.md).
 *
 * - `keygen --out FILE`: a new Ed25519 operator key (private key file, mode
 *   0600, never overwritten) and, on stdout, the `fleet.operator-keys` YAML
 *   to paste into device configs;
 * - `status [--watch] [--json]`: the fleet from retained status messages,
 *   one state per device (starting, ok, degraded, error, offline);
 * - `send DEVICE COMMAND [args]`: a signed command, following its replies;
 *   its exit code follows the final reply's code ({@linkcode exitCodeOfReply});
 * - `dashboard [--addr]`: a live web page on localhost.
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
import { formatAge } from "../fleet/device-health.ts";
import { FleetView, type DeviceView } from "../fleet/fleet-view.ts";
import type { ReplyMessage } from "../protocol/messages.ts";
import { NoReplyError, connectBroker, sendCommand, type BrokerSettings } from "../fleet/operator.ts";
import { generateOperatorKey, parsePrivateKey, type OperatorPrivateKey } from "../protocol/signing.ts";
import { checkTopicId, DEFAULT_TOPIC_ROOT } from "../protocol/topics.ts";
import { UsageError } from "../errors.ts";
import { durationOption } from "./duration-option.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { loadConfig } from "./load-config.ts";

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
      "pass --key FILE (from 'litefleet fleet keygen') or set $LITEFLEET_OPERATOR_KEY",
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

/** Runs `fleet status`: prints the fleet once (after retained messages arrive) or, with `--watch`, on every change. */
export async function runFleetStatus(
  io: CliIo,
  options: BrokerOptions & { watch?: boolean; json?: boolean; wait?: string },
): Promise<number> {
  const settings = brokerSettings(io, options);
  const client = await connectBroker(settings.broker);
  const view = await FleetView.open(client, { root: settings.root });
  try {
    // Retained messages arrive right after the subscription; give them a moment.
    await new Promise((r) => setTimeout(r, durationOption(options.wait, "--wait", 1000)));
    const print = () => {
      const devices = view.devices();
      if (options.json) io.stdout(`${JSON.stringify(devices)}\n`);
      else io.stdout(formatTable(devices, (io.now ?? Date.now)()));
    };
    print();
    if (options.watch) {
      const off = view.onChange(print);
      await new Promise<void>((resolveStop) => {
        const unregister = io.onSignal(() => {
          unregister();
          resolveStop();
        });
      });
      off();
    }
  } finally {
    await view.close();
    await client.endAsync();
  }
  return ExitCode.ok;
}

/** Runs `fleet dashboard` until SIGINT/SIGTERM. */
export async function runFleetDashboard(io: CliIo, options: BrokerOptions & { addr?: string }): Promise<number> {
  const settings = brokerSettings(io, options);
  const client = await connectBroker(settings.broker);
  const view = await FleetView.open(client, { root: settings.root });
  // The dashboard's server and page load only for this subcommand (issue #13).
  const { startDashboard } = await import("../fleet/dashboard/server.ts");
  const dashboard = await startDashboard({ view, addr: options.addr ?? "127.0.0.1:9398" });
  io.stderr(`Fleet dashboard on ${dashboard.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolveStop) => {
    const unregister = io.onSignal(() => {
      unregister();
      resolveStop();
    });
  });
  await dashboard.close();
  await view.close();
  await client.endAsync();
  return ExitCode.ok;
}

/**
 * One row per device: its state (offline with why), when it was last heard
 * from, how old the data in the row is, and its first problem. Without
 * data (a device first seen offline that never sent telemetry) the data
 * columns show "-", never zeros.
 */
export function formatTable(devices: readonly DeviceView[], now: number): string {
  const rows = [["DEVICE", "STATE", "LAST SEEN", "DATA AGE", "LAG", "PENDING", "TXID", "PROBLEM"]];
  for (const d of devices) {
    const known = d.dbs.length > 0;
    const txid = !known ? "-" : d.dbs.length === 1 ? (d.dbs[0]?.txid ?? "-") : `${d.dbs.length} dbs`;
    const problem =
      d.problems.length === 0
        ? ""
        : `${d.problems[0]}${d.problems.length > 1 ? ` (+${d.problems.length - 1} more)` : ""}`;
    rows.push([
      d.device,
      d.state === "offline" ? `offline (${d.reason ?? "?"})` : d.state,
      `${formatAge(now - d.lastSeen)} ago`,
      d.dataAt === null ? "-" : formatAge(now - d.dataAt),
      known ? formatAge(d.maxLagMs) : "-",
      known ? String(d.pendingFiles) : "-",
      txid,
      problem,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** Broker settings from flags, env and config (see the module documentation). */
export function brokerSettings(io: CliIo, options: BrokerOptions): { broker: BrokerSettings; root: string } {
  const config = loadConfig(io, options.config)?.mqtt;
  const url = options.broker ?? io.env["LITEFLEET_MQTT_URL"] ?? config?.url;
  if (url === undefined)
    throw new UsageError(
      "Cannot reach the fleet: no MQTT broker",
      "pass --broker mqtt://host:1883, set $LITEFLEET_MQTT_URL, or --config with an 'mqtt' section",
    );
  if (!isBrokerUrl(url))
    throw new UsageError(
      "Cannot use --broker: it must start with mqtt://, mqtts://, ws:// or wss://",
      "e.g. --broker mqtts://broker.example.com:8883",
    );
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
