import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { generateOperatorKey } from "../protocol/signing.ts";
import { parseConfig } from "./parse.ts";
import { DEFAULTS } from "./schema.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const parse = (yaml: string, env: Record<string, string> = {}) =>
  parseConfig(yaml, { env, cwd: "/srv", deviceId: "gw-01" });
const DB = "dbs:\n  - path: /data/app.db\n    replica: { path: /backup }\n";

const errorOf = (yaml: string): ConfigError => thrownConfigError(() => parse(yaml));

describe("mqtt:", () => {
  test("absent: no MQTT, and no operator keys", () => {
    const c = parse(DB);
    expect(c.mqtt).toBeUndefined();
    expect(c.fleet).toEqual({
      operatorKeys: [],
      restoreDirs: [],
      quiesceTimeout: DEFAULTS.fleet.quiesceTimeout,
      swapTimeout: DEFAULTS.fleet.swapTimeout,
      probe: undefined,
    });
  });

  test("defaults: client id = device id, topic root, MQTT 5, state dir next to the first database", () => {
    const c = parse(`mqtt: { url: "mqtts://broker:8883" }\n${DB}`);
    expect(c.mqtt).toEqual({
      url: "mqtts://broker:8883",
      clientId: "gw-01",
      topicRoot: "litefleet/v1",
      statusInterval: 60_000,
      keepalive: 60_000,
      protocolVersion: 5,
      willDelay: 30_000,
      stateDir: "/data/.litefleet-fleet",
      outboxMaxBytes: 1024 * 1024,
    });
  });

  test("every key, with 3.1.1, TLS files and a password from the environment", () => {
    const c = parse(
      [
        "mqtt:",
        "  url: wss://broker/mqtt",
        "  username: gw",
        "  password: $MQTT_PASSWORD",
        "  ca: certs/ca.pem",
        "  cert: /etc/litefleet/gw.pem",
        "  key: /etc/litefleet/gw.key",
        "  client-id: gw-01-agent",
        "  topic-root: acme/fleet",
        "  status-interval: 30s",
        "  keepalive: 20s",
        '  protocol: "3.1.1"',
        "  will-delay: 0s",
        "  state-dir: /var/lib/litefleet",
        "  outbox-max-bytes: 256KiB",
        DB,
      ].join("\n"),
      { MQTT_PASSWORD: "pw" },
    );
    expect(c.mqtt).toMatchObject({
      password: "pw",
      ca: "/srv/certs/ca.pem",
      protocolVersion: 4,
      topicRoot: "acme/fleet",
      willDelay: 0,
      outboxMaxBytes: 262_144,
    });
  });

  describe("state-dir: the agent's alone", () => {
    const OPERATOR_FILE = 'mqtt:\n  url: mqtts://broker:8883\n  username: ops\n  password: "$MQTT_PASSWORD"\n';

    test("ErrStateDir: the agent (the default mode) requires it when no database gives it", () => {
      const err = thrownConfigError(() =>
        parseConfig(OPERATOR_FILE, { env: { MQTT_PASSWORD: "pw" }, cwd: "/srv", deviceId: "gw-01" }),
      );
      expect(err.field).toBe("mqtt.state-dir");
      expect(err.message).toBe(
        "Cannot read config: 'mqtt.state-dir' is required when no database is configured (the agent keeps its session counter and event outbox there)",
      );
      const explicit = thrownConfigError(() =>
        parseConfig(OPERATOR_FILE, { env: { MQTT_PASSWORD: "pw" }, cwd: "/srv", deviceId: "gw-01", mode: "agent" }),
      );
      expect(explicit.field).toBe("mqtt.state-dir");
    });

    test("the operator's mode accepts a file with only mqtt.url and credentials: no state dir", () => {
      const options = { env: { MQTT_PASSWORD: "pw" }, cwd: "/srv", deviceId: "laptop", mode: "operator" } as const;
      const c = parseConfig(OPERATOR_FILE, options);
      expect(c.mqtt).toEqual({
        url: "mqtts://broker:8883",
        username: "ops",
        password: "pw",
        clientId: "laptop",
        topicRoot: "litefleet/v1",
        statusInterval: 60_000,
        keepalive: 60_000,
        protocolVersion: 5,
        willDelay: 30_000,
        stateDir: undefined,
        outboxMaxBytes: 1024 * 1024,
      });
      expect(c.dbs).toEqual([]);
      // Given (or from a database), it is resolved as for the agent; every other check still holds.
      expect(parseConfig(`${OPERATOR_FILE}  state-dir: state\n`, options).mqtt?.stateDir).toBe("/srv/state");
      expect(parseConfig(`${OPERATOR_FILE}${DB}`, options).mqtt?.stateDir).toBe("/data/.litefleet-fleet");
      expect(thrownConfigError(() => parseConfig("mqtt: { username: x }\n", options)).field).toBe("mqtt.url");
      expect(thrownConfigError(() => parseConfig("mqtt: { url: mqtt://b, state: x }\n", options)).field).toBe(
        "mqtt.state",
      );
    });
  });

  test("ErrUrl: missing or not an MQTT URL", () => {
    expect(errorOf(`mqtt: { username: x }\n${DB}`).message).toContain("'mqtt.url' is required");
    expect(errorOf(`mqtt: { url: "http://broker" }\n${DB}`).message).toContain("must start with mqtt://");
  });

  test("ErrProtocol, ErrTopicRoot, ErrUnknownKey", () => {
    expect(errorOf(`mqtt: { url: "mqtt://b", protocol: 3 }\n${DB}`).message).toContain('must be 5 or "3.1.1"');
    expect(errorOf(`mqtt: { url: "mqtt://b", topic-root: "a/#" }\n${DB}`).message).toContain(
      "'mqtt.topic-root' is invalid",
    );
    expect(errorOf(`mqtt: { url: "mqtt://b", pasword: x }\n${DB}`).field).toBe("mqtt.pasword");
  });

  test("ErrSecret: a bad password value is never echoed", () => {
    const err = errorOf(`mqtt: { url: "mqtt://b", password: [hunter2] }\n${DB}`);
    expect(err.message).not.toContain("hunter2");
    expect(err.value).toBeUndefined();
  });
});

describe("fleet:", () => {
  test("operator keys, restore dirs, quiesce and swap timeouts and probe", () => {
    const key = generateOperatorKey().publicKey;
    const c = parse(
      `fleet:\n  operator-keys: ["${key}"]\n  restore-dirs: [lab, /tmp/x]\n  quiesce-timeout: 2m\n  swap-timeout: 90s\n  probe: SELECT 1\n${DB}`,
    );
    expect(c.fleet).toEqual({
      operatorKeys: [key],
      restoreDirs: ["/srv/lab", "/tmp/x"],
      quiesceTimeout: 120_000,
      swapTimeout: 90_000,
      probe: "SELECT 1",
    });
  });

  test("ErrRange: a swap timeout is > 0 and at most an hour", () => {
    expect(errorOf(`fleet:\n  swap-timeout: 2h\n${DB}`).message).toBe(
      `Cannot read config: 'fleet.swap-timeout' must be at most 1h (the application is locked out that long): received "2h"`,
    );
    expect(errorOf(`fleet:\n  swap-timeout: 0s\n${DB}`).field).toBe("fleet.swap-timeout");
    expect(parse(`fleet:\n  swap-timeout: 1h\n${DB}`).fleet.swapTimeout).toBe(3_600_000);
  });

  test("ErrKey: names the item", () => {
    const err = errorOf(`fleet:\n  operator-keys: ["ed25519:short"]\n${DB}`);
    expect(err.field).toBe("fleet.operator-keys[0]");
    expect(err.message).toContain("not 32 bytes");
  });
});
