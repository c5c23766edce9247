/**
 * The top-level `mqtt:` section (the fleet link: status, events, commands)
 * and `fleet:` section (who may command this device, and what a command may
 * touch). Both are optional; without `mqtt:` the agent does no MQTT.
 *
 * @module
 */

import { posix } from "node:path";
import { isBrokerUrl } from "../protocol/broker-url.ts";
import { checkTopicId, checkTopicRoot } from "../protocol/topics.ts";
import { parsePublicKey } from "../protocol/signing.ts";
import { errorMessage } from "../errors.ts";
import { configError, fieldPath, type MapReader } from "./map-reader.ts";
import { DEFAULTS, type FleetConfig, type MqttConfig, type OperatorMqttConfig } from "./schema.ts";

const MQTT_KEYS = [
  "url",
  "username",
  "password",
  "ca",
  "cert",
  "key",
  "client-id",
  "topic-root",
  "status-interval",
  "keepalive",
  "protocol",
  "will-delay",
  "state-dir",
  "outbox-max-bytes",
];

/** What {@linkcode readMqtt} needs from the enclosing config. */
export interface MqttContext {
  /** Relative paths resolve against it. */
  readonly base: string;
  /** The default client id. */
  readonly deviceId: string;
  /** The directory of the first database, or of the first directory entry: the default state dir. */
  readonly firstDbDir: string | undefined;
  /**
   * Who reads the config: the agent needs `state-dir` (given, or from the
   * first database); the operator's commands only connect, so without
   * either it is undefined.
   *
   * @default {"agent"}
   */
  readonly mode?: "agent" | "operator";
}

/**
 * Reads `mqtt:`; undefined when absent.
 * @throws {ConfigError} naming the key for an unknown key or a bad value,
 * and for the agent, `mqtt.state-dir` when it is neither given nor follows
 * from a database
 */
export function readMqtt(root: MapReader, ctx: MqttContext & { mode?: "agent" }): MqttConfig | undefined;
export function readMqtt(root: MapReader, ctx: MqttContext): OperatorMqttConfig | undefined;
export function readMqtt(root: MapReader, ctx: MqttContext): OperatorMqttConfig | undefined {
  const m = root.map("mqtt");
  if (!m) return undefined;
  m.checkKeys(MQTT_KEYS);
  const url = m.string("url");
  const urlField = fieldPath(m.field, "url");
  if (url === undefined)
    throw configError(urlField, `'${urlField}' is required (e.g. 'mqtts://broker.example.com:8883')`, {});
  if (!isBrokerUrl(url)) {
    throw configError(urlField, `'${urlField}' must start with mqtt://, mqtts://, ws:// or wss://`, { value: url });
  }
  const protocol = m.raw("protocol");
  const protoField = fieldPath(m.field, "protocol");
  let protocolVersion: 4 | 5 = DEFAULTS.mqtt.protocolVersion;
  if (protocol !== undefined) {
    if (protocol === 5 || protocol === "5") protocolVersion = 5;
    else if (protocol === "3.1.1" || protocol === 4 || protocol === "4") protocolVersion = 4;
    else throw configError(protoField, `'${protoField}' must be 5 or "3.1.1"`, { value: protocol });
  }
  const clientId = m.string("client-id") ?? ctx.deviceId;
  const topicRoot = m.string("topic-root") ?? DEFAULTS.mqtt.topicRoot;
  check(() => checkTopicRoot(topicRoot), fieldPath(m.field, "topic-root"), topicRoot);
  check(() => checkTopicId(ctx.deviceId, "device id"), "device.id", ctx.deviceId);
  const stateDir =
    m.path("state-dir", ctx.base) ??
    (ctx.firstDbDir === undefined ? undefined : posix.join(ctx.firstDbDir, ".litefleet-fleet"));
  if (stateDir === undefined && (ctx.mode ?? "agent") === "agent") {
    const field = fieldPath(m.field, "state-dir");
    throw configError(
      field,
      `'${field}' is required when no database is configured (the agent keeps its session counter and event outbox there)`,
      {},
    );
  }
  const cfg: OperatorMqttConfig = {
    url,
    clientId,
    topicRoot,
    statusInterval: m.duration("status-interval", 1) ?? DEFAULTS.mqtt.statusInterval,
    keepalive: m.duration("keepalive", 1) ?? DEFAULTS.mqtt.keepalive,
    protocolVersion,
    willDelay: m.duration("will-delay", 0) ?? DEFAULTS.mqtt.willDelay,
    stateDir,
    outboxMaxBytes: m.byteSize("outbox-max-bytes", 1) ?? DEFAULTS.mqtt.outboxMaxBytes,
  };
  const optional: { -readonly [K in "username" | "password" | "ca" | "cert" | "key"]?: string } = {};
  const username = m.string("username");
  if (username !== undefined) optional.username = username;
  const password = m.string("password", { allowEmpty: true });
  if (password !== undefined) optional.password = password;
  for (const k of ["ca", "cert", "key"] as const) {
    const p = m.path(k, ctx.base);
    if (p !== undefined) optional[k] = p;
  }
  return { ...cfg, ...optional };
}

/**
 * Reads `fleet:`; defaults when absent (no operator keys: every command is rejected).
 * @throws {ConfigError} naming the key for an unknown key or a bad value
 */
export function readFleet(root: MapReader, ctx: { base: string }): FleetConfig {
  const f = root.map("fleet");
  if (!f) return defaultFleet();
  f.checkKeys(["operator-keys", "restore-dirs", "quiesce-timeout", "swap-timeout", "probe"]);
  const keys = f.stringList("operator-keys") ?? [];
  for (const [i, k] of keys.entries())
    check(() => parsePublicKey(k), fieldPath(fieldPath(f.field, "operator-keys"), i), "(key)");
  const dirs = (f.stringList("restore-dirs") ?? []).map((d) => posix.resolve(ctx.base, d));
  return {
    operatorKeys: keys,
    restoreDirs: dirs,
    quiesceTimeout: f.duration("quiesce-timeout", 1) ?? DEFAULTS.fleet.quiesceTimeout,
    swapTimeout: swapTimeout(f),
    probe: f.string("probe"),
  };
}

/** The `fleet:` section when absent. */
export function defaultFleet(): FleetConfig {
  return {
    operatorKeys: [],
    restoreDirs: [],
    quiesceTimeout: DEFAULTS.fleet.quiesceTimeout,
    swapTimeout: DEFAULTS.fleet.swapTimeout,
    probe: undefined,
  };
}

/**
 * `fleet.swap-timeout`: > 0 and at most an hour — the application is locked
 * out that long at worst, so a slip like "60m" for "60s" is refused.
 * @throws {ConfigError} naming the key otherwise
 */
function swapTimeout(f: MapReader): number {
  const ms = f.duration("swap-timeout", 1);
  if (ms === undefined) return DEFAULTS.fleet.swapTimeout;
  if (ms > DEFAULTS.fleet.maxSwapTimeout) {
    const field = fieldPath(f.field, "swap-timeout");
    throw configError(
      field,
      `'${field}' must be at most 1h (the application is locked out that long): received ${JSON.stringify(f.raw("swap-timeout"))}`,
      {
        value: f.raw("swap-timeout"),
      },
    );
  }
  return ms;
}

function check(fn: () => unknown, field: string, value: string): void {
  try {
    fn();
  } catch (cause) {
    const reason = errorMessage(cause);
    throw configError(field, `'${field}' is invalid: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
      value,
      cause,
    });
  }
}
