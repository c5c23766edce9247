/**
 * MQTT broker URLs, shared by the device config and the operator commands.
 *
 * @module
 */

import type { IClientOptions } from "mqtt";

/** Whether `url` is an `mqtt://`, `mqtts://`, `ws://` or `wss://` URL with a host (and a valid port, if any). */
export function isBrokerUrl(url: string): boolean {
  return /^(mqtts?|wss?):\/\/[^/]/.test(url) && URL.canParse(url);
}

/** `url` with any user info replaced by `***` (never log credentials). */
export function redactBrokerUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/**
 * The connection options MQTT.js would derive from `url`, for
 * `mqtt.connect(options)`: `protocol`, `host`, `port`, `path` (WebSocket
 * URLs), `username` / `password` from user info, and the query. Given the
 * URL string instead, MQTT.js parses it with the deprecated `url.parse()`,
 * and every agent start and `fleet` command printed
 * `[DEP0169] DeprecationWarning: url.parse() …` (issue #12).
 *
 * @example
 * ```ts
 * brokerConnectOptions("mqtts://broker.example.com:8883");
 * // { protocol: "mqtts", host: "broker.example.com", port: 8883 }
 * ```
 *
 * @param url an `mqtt://`, `mqtts://`, `ws://` or `wss://` URL
 * @returns options to spread under the caller's own (theirs win, as with a URL string)
 * @throws {TypeError} when `url` is not such a URL
 */
export function brokerConnectOptions(url: string): IClientOptions {
  const parsed = isBrokerUrl(url) ? new URL(url) : undefined;
  const protocol = parsed?.protocol.slice(0, -1);
  if (parsed === undefined || !isProtocol(protocol)) {
    throw new TypeError(
      `Cannot connect to MQTT broker '${redactBrokerUrl(url)}': expected an mqtt://, mqtts://, ws:// or wss:// URL`,
    );
  }
  // url.parse() gave the host of an IPv6 address without its brackets.
  const opts: IClientOptions = { protocol, host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") };
  if (parsed.port !== "") opts.port = Number(parsed.port);
  const path = `${parsed.pathname}${parsed.search}`;
  if (path !== "") opts.path = path;
  if (parsed.username !== "") opts.username = decodeURIComponent(parsed.username);
  if (parsed.password !== "") opts.password = decodeURIComponent(parsed.password);
  if (parsed.search !== "") opts.query = Object.fromEntries(parsed.searchParams);
  return opts;
}

function isProtocol(protocol: string | undefined): protocol is "mqtt" | "mqtts" | "ws" | "wss" {
  return protocol === "mqtt" || protocol === "mqtts" || protocol === "ws" || protocol === "wss";
}
