/**
 * The operator's side of the MQTT link: connect to the broker, and send a
 * signed command to one device and follow its replies (`litefleet fleet
 * send`). Replies come on `<root>/<device>/res/<command id>` — subscribed
 * before the command is published — with MQTT 5 `responseTopic` and
 * `correlationData` set as well; with MQTT 3.1.1 the topic alone
 * correlates.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { errorMessage } from "../errors.ts";
import { brokerConnectOptions, redactBrokerUrl } from "./broker-url.ts";
import { encodeMessage, MessageError, parseReply, type CommandBody, type ReplyMessage } from "./messages.ts";
import { signCommand, type OperatorPrivateKey } from "./signing.ts";
import { deviceTopics } from "./topics.ts";

/** How to reach the broker. */
export interface BrokerSettings {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly protocolVersion: 4 | 5;
  /** Default: `litefleet-operator-<random>`. */
  readonly clientId?: string;
}

/**
 * Connects (one attempt, no automatic reconnect).
 * @throws {Error} naming the broker (without credentials) when it cannot connect within `timeoutMs`
 */
export async function connectBroker(settings: BrokerSettings, timeoutMs = 10_000): Promise<MqttClient> {
  const opts: IClientOptions = {
    clientId: settings.clientId ?? `litefleet-operator-${randomBytes(4).toString("hex")}`,
    protocolVersion: settings.protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    clean: true,
  };
  if (settings.username !== undefined) opts.username = settings.username;
  if (settings.password !== undefined) opts.password = settings.password;
  if (settings.ca !== undefined) opts.ca = readFileSync(settings.ca);
  if (settings.cert !== undefined) opts.cert = readFileSync(settings.cert);
  if (settings.key !== undefined) opts.key = readFileSync(settings.key);
  try {
    // Options, not the URL string: MQTT.js would parse that with the deprecated url.parse() (DEP0169).
    // Given an empty URL it takes everything from the options; the typed overload with
    // `allowRetries = false` (reject on close) needs a string there.
    return await mqtt.connectAsync("", { ...brokerConnectOptions(settings.url), ...opts }, false);
  } catch (err) {
    throw new Error(`Cannot connect to MQTT broker '${redactBrokerUrl(settings.url)}': ${errorMessage(err)}`, { cause: err });
  }
}

/** What to send. */
export interface CommandRequest {
  readonly root: string;
  readonly device: string;
  readonly name: string;
  readonly args: Record<string, unknown>;
  /** How long the command stays valid (ms). */
  readonly ttlMs: number;
  /** Command id; default random. */
  readonly id?: string;
}

/**
 * Signs and publishes a command, then yields its replies until a final one
 * ("done", "failed", "rejected") or `timeoutMs` without one.
 * @throws {Error} on timeout, naming the device and command id
 */
export async function* sendCommand(
  client: MqttClient,
  request: CommandRequest,
  options: { signer: OperatorPrivateKey; protocolVersion: 4 | 5; timeoutMs: number; now?: () => number },
): AsyncGenerator<ReplyMessage> {
  const now = (options.now ?? Date.now)();
  const body: CommandBody = {
    id: request.id ?? `c${randomBytes(8).toString("hex")}`,
    device: request.device,
    name: request.name,
    args: request.args,
    issuedAt: now,
    expiresAt: now + request.ttlMs,
  };
  const topics = deviceTopics(request.root, request.device);
  const replyTopic = `${topics.resPrefix}${body.id}`;
  const queue: ReplyMessage[] = [];
  let wake: (() => void) | undefined;
  const onMessage = (topic: string, payload: Buffer) => {
    if (topic !== replyTopic) return;
    try {
      const reply = parseReply(payload);
      if (reply.id !== body.id) return;
      queue.push(reply);
      wake?.();
    } catch (err) {
      if (!(err instanceof MessageError)) throw err;
    }
  };
  client.on("message", onMessage);
  try {
    await client.subscribeAsync(replyTopic, { qos: 1 });
    await client.publishAsync(topics.cmd, encodeMessage(signCommand(body, options.signer)), {
      qos: 1,
      ...(options.protocolVersion === 5 ? { properties: { responseTopic: replyTopic, correlationData: Buffer.from(body.id) } } : {}),
    });
    for (;;) {
      while (queue.length === 0) {
        const arrived = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), options.timeoutMs);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        wake = undefined;
        if (!arrived) {
          throw new Error(`Cannot finish command ${body.id} (${body.name}) on device '${body.device}': no reply for ${Math.round(options.timeoutMs / 1000)} s (is the device online? 'litefleet fleet status')`);
        }
      }
      const reply = queue.shift()!;
      yield reply;
      if (reply.status === "done" || reply.status === "failed" || reply.status === "rejected") return;
    }
  } finally {
    client.off("message", onMessage);
    await client.unsubscribeAsync(replyTopic).catch(() => undefined);
  }
}
