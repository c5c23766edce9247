import { describe, expect, test } from "bun:test";
import type { IClientOptions } from "mqtt";
import { brokerConnectOptions, isBrokerUrl, redactBrokerUrl } from "./broker-url.ts";

describe("brokerConnectOptions", () => {
  // What MQTT.js derived from the URL string with url.parse() (issue #12: DEP0169).
  const ok: [url: string, want: IClientOptions][] = [
    ["mqtt://127.0.0.1:1883", { protocol: "mqtt", host: "127.0.0.1", port: 1883 }],
    ["mqtts://broker.example.com:8883", { protocol: "mqtts", host: "broker.example.com", port: 8883 }],
    ["mqtt://broker", { protocol: "mqtt", host: "broker" }],
    ["mqtt://[::1]:1883", { protocol: "mqtt", host: "::1", port: 1883 }],
    ["ws://broker:9001/mqtt", { protocol: "ws", host: "broker", port: 9001, path: "/mqtt" }],
    [
      "wss://broker/mqtt?clientId=x",
      { protocol: "wss", host: "broker", path: "/mqtt?clientId=x", query: { clientId: "x" } },
    ],
    [
      "mqtt://dev%40site:p%3Ass@broker:1883",
      { protocol: "mqtt", host: "broker", port: 1883, username: "dev@site", password: "p:ss" },
    ],
  ];
  for (const [url, want] of ok) {
    test(`ok: ${url}`, () => {
      expect(brokerConnectOptions(url)).toEqual(want);
    });
  }

  test("brokerConnectOptions() rejects what is not a broker URL, without echoing credentials", () => {
    for (const url of ["http://broker", "mqtt:/broker", "mqtt://broker:99999", "mqtt://u:secret@bro ker"]) {
      expect(isBrokerUrl(url)).toBe(false);
      expect(() => brokerConnectOptions(url)).toThrow(
        `Cannot connect to MQTT broker '${redactBrokerUrl(url)}': expected an mqtt://, mqtts://, ws:// or wss:// URL`,
      );
    }
    let message = "";
    try {
      brokerConnectOptions("mqtt://u:secret@bro ker");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      "Cannot connect to MQTT broker 'mqtt://***@bro ker': expected an mqtt://, mqtts://, ws:// or wss:// URL",
    );
  });
});
