import { describe, expect, test } from "bun:test";
import mqtt, { type MqttClient } from "mqtt";
import { availableBrokerKinds, startMqttBroker } from "./mqtt-broker.ts";

/** The first message on `topic` that `client` receives. */
function nextMessage(client: MqttClient, topic: string): Promise<{ payload: string; retain: boolean }> {
  return new Promise((resolve) => {
    client.on("message", (t, payload, packet) => {
      if (t === topic) resolve({ payload: payload.toString(), retain: packet.retain });
    });
  });
}

/** Expects the broker to answer CONNECT with return code 5, "not authorized". */
async function expectRefused(url: string, credentials: { username?: string; password?: string }): Promise<void> {
  const err = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...credentials }).then(
    async (client) => {
      await client.endAsync();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ code: 5 });
}

describe.each(availableBrokerKinds())("startMqttBroker() with %s", (kind) => {
  test("reports its kind and a loopback url", async () => {
    await using broker = await startMqttBroker({ kind });
    expect(broker.kind).toBe(kind);
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
  });

  test("delivers a retained message to a later subscriber", async () => {
    await using broker = await startMqttBroker({ kind });
    const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await publisher.publishAsync("t/retained", "hello", { qos: 1, retain: true });
    await publisher.endAsync();

    const subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    const received = nextMessage(subscriber, "t/retained");
    await subscriber.subscribeAsync("t/+", { qos: 1 });
    expect(await received).toEqual({ payload: "hello", retain: true });
    await subscriber.endAsync();
  });

  test("publishes a Last Will when a client's socket is destroyed", async () => {
    await using broker = await startMqttBroker({ kind });
    const watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await watcher.subscribeAsync("t/will", { qos: 1 });
    const will = nextMessage(watcher, "t/will");

    const dying = await mqtt.connectAsync(broker.url, {
      reconnectPeriod: 0,
      will: { topic: "t/will", payload: Buffer.from("gone"), qos: 1, retain: false },
    });
    dying.stream.destroy();
    expect((await will).payload).toBe("gone");
    await dying.endAsync(true);
    await watcher.endAsync();
  });

  test("allowAnonymous false without users refuses every client", async () => {
    await using broker = await startMqttBroker({ kind, allowAnonymous: false });
    await expectRefused(broker.url, {});
    await expectRefused(broker.url, { username: "dev-01", password: "anything" });
  });

  test("users: the right password connects, a wrong one or none is refused", async () => {
    await using broker = await startMqttBroker({
      kind,
      allowAnonymous: false,
      users: { "dev-01": "s3cret", ops: "pw" },
    });
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, username: "dev-01", password: "s3cret" });
    expect(client.connected).toBe(true);
    await client.endAsync();
    await expectRefused(broker.url, { username: "dev-01", password: "pw" });
    await expectRefused(broker.url, { username: "nobody", password: "s3cret" });
    await expectRefused(broker.url, {});
  });

  test("users with allowAnonymous true: anonymous connects, a wrong password is refused", async () => {
    await using broker = await startMqttBroker({ kind, users: { "dev-01": "s3cret" } });
    const anonymous = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    expect(anonymous.connected).toBe(true);
    await anonymous.endAsync();
    await expectRefused(broker.url, { username: "dev-01", password: "wrong" });
  });

  test("stop() closes the port and a second call does nothing", async () => {
    const broker = await startMqttBroker({ kind });
    await broker.stop();
    await broker.stop();
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 2_000 })).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });
});

describe("startMqttBroker() MQTT 5", () => {
  test("aedes refuses an MQTT 5 client (tests needing MQTT 5 must check kind)", async () => {
    await using broker = await startMqttBroker({ kind: "aedes" });
    // Return code 1: "unacceptable protocol version".
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 5 })).rejects.toMatchObject({
      code: 1,
    });
  });

  test.skipIf(!availableBrokerKinds().includes("mosquitto"))("mosquitto accepts an MQTT 5 client", async () => {
    await using broker = await startMqttBroker({ kind: "mosquitto" });
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 5 });
    expect(client.options.protocolVersion).toBe(5);
    await client.endAsync();
  });
});

describe("startMqttBroker() kind selection", () => {
  test("LITEFLEET_MQTT_BROKER=aedes forces aedes", async () => {
    const saved = process.env.LITEFLEET_MQTT_BROKER;
    process.env.LITEFLEET_MQTT_BROKER = "aedes";
    try {
      await using broker = await startMqttBroker();
      expect(broker.kind).toBe("aedes");
    } finally {
      if (saved === undefined) delete process.env.LITEFLEET_MQTT_BROKER;
      else process.env.LITEFLEET_MQTT_BROKER = saved;
    }
  });

  test("an unknown LITEFLEET_MQTT_BROKER is a RangeError", async () => {
    const saved = process.env.LITEFLEET_MQTT_BROKER;
    process.env.LITEFLEET_MQTT_BROKER = "emqx";
    try {
      await expect(startMqttBroker()).rejects.toThrow(
        new RangeError("Cannot choose MQTT broker: LITEFLEET_MQTT_BROKER is 'emqx', not 'mosquitto' or 'aedes'"),
      );
    } finally {
      if (saved === undefined) delete process.env.LITEFLEET_MQTT_BROKER;
      else process.env.LITEFLEET_MQTT_BROKER = saved;
    }
  });
});
