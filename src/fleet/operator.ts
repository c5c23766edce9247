/**
 * The operator's side of the MQTT link: connect to the broker, and send a
 * signed command to one device and follow its replies (`litefleet fleet
 * send`). Replies come on `<root>/<device>/res/<command id>` — subscribed
 * before the command is published — with MQTT 5 `responseTopic` and
 * `correlationData` set as well; with MQTT 3.1.1 the topic alone
 * correlates.
 *
 * The command carries its deadline (`args.timeoutMs`): a little less than
 * the operator waits, so the device's "timeout" reply arrives before the
 * operator gives up.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { errorMessage } from "../errors.ts";
import { brokerConnectOptions, redactBrokerUrl } from "../protocol/broker-url.ts";
import { encodeMessage, MessageError, parseReply, type CommandBody, type ReplyMessage } from "../protocol/messages.ts";
import { signCommand, type OperatorPrivateKey } from "../protocol/signing.ts";
import { deviceTopics } from "../protocol/topics.ts";

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
    throw new Error(`Cannot connect to MQTT broker '${redactBrokerUrl(settings.url)}': ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** How long a device may take to answer at all ("accepted" or "rejected") before it counts as unreachable. */
export const FIRST_REPLY_TIMEOUT_MS = 30_000;

/**
 * No final reply came in time: `answered` false when the device did not
 * answer at all (offline, or not subscribed), true when it accepted the
 * command and then went silent (it stopped or lost its connection).
 */
export class NoReplyError extends Error {
  override name = "NoReplyError";
  readonly answered: boolean;
  constructor(message: string, options: { answered: boolean }) {
    super(message);
    this.answered = options.answered;
  }
}

/** The deadline a command carries when its sender waits `waitMs` for it: the wait less a margin for the reply's way back. */
export function deviceTimeoutMs(waitMs: number): number {
  return Math.max(1, waitMs - Math.min(5_000, Math.max(200, Math.round(waitMs / 10))));
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
 * Signs and publishes a command with the deadline `deviceTimeoutMs(timeoutMs)`,
 * then yields its replies until a final one ("done", "failed", "rejected").
 * @throws {NoReplyError} naming the device and command id when no reply
 *   came within {@linkcode FIRST_REPLY_TIMEOUT_MS} (or `timeoutMs` if
 *   shorter), or no final one within `timeoutMs`
 */
export async function* sendCommand(
  client: MqttClient,
  request: CommandRequest,
  options: {
    signer: OperatorPrivateKey;
    protocolVersion: 4 | 5;
    timeoutMs: number;
    now?: () => number;
    /** Called with the command id once the broker took the command (QoS 1 acknowledged). */
    onSent?: (id: string) => void;
  },
): AsyncGenerator<ReplyMessage> {
  const now = (options.now ?? Date.now)();
  const body: CommandBody = {
    id: request.id ?? `c${randomBytes(8).toString("hex")}`,
    device: request.device,
    name: request.name,
    args: { ...request.args, timeoutMs: deviceTimeoutMs(options.timeoutMs) },
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
      ...(options.protocolVersion === 5
        ? { properties: { responseTopic: replyTopic, correlationData: Buffer.from(body.id) } }
        : {}),
    });
    options.onSent?.(body.id);
    const started = Date.now();
    let answered = false;
    for (;;) {
      while (queue.length === 0) {
        const waitMs = answered
          ? started + options.timeoutMs - Date.now()
          : Math.min(FIRST_REPLY_TIMEOUT_MS, options.timeoutMs) - (Date.now() - started);
        const arrived = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), Math.max(0, waitMs));
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        wake = undefined;
        if (!arrived && !answered) {
          const s = Math.round(Math.min(FIRST_REPLY_TIMEOUT_MS, options.timeoutMs) / 1000);
          throw new NoReplyError(
            `Cannot reach device '${body.device}': no answer to command ${body.id} (${body.name}) within ${s} s (is it online? 'litefleet fleet status')`,
            { answered },
          );
        }
        if (!arrived) {
          throw new NoReplyError(
            `Cannot finish command ${body.id} (${body.name}) on device '${body.device}': it was accepted but no final reply came within ${Math.round(options.timeoutMs / 1000)} s (the device may have stopped; 'litefleet fleet status')`,
            { answered },
          );
        }
      }
      answered = true;
      const reply = queue.shift()!;
      yield reply;
      if (reply.status === "done" || reply.status === "failed" || reply.status === "rejected") return;
    }
  } finally {
    client.off("message", onMessage);
    await client.unsubscribeAsync(replyTopic).catch(() => undefined);
  }
}
