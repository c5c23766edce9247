/**
 * An operator-side MQTT client for tests that collects one device's events
 * and retained statuses as they arrive.
 *
 * @module
 */

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { parseEvent, parseStatus, type EventMessage, type StatusMessage } from "../../src/protocol/messages.ts";
import type { DeviceTopics } from "../../src/protocol/topics.ts";

/** What the watcher has seen so far. */
export interface DeviceWatch {
  readonly client: MqttClient;
  readonly events: EventMessage[];
  readonly statuses: StatusMessage[];
}

/** Connects to `url` and subscribes to the device's event and status topics (QoS 1). */
export async function watchDevice(url: string, topics: DeviceTopics, options: IClientOptions): Promise<DeviceWatch> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
  const events: EventMessage[] = [];
  const statuses: StatusMessage[] = [];
  client.on("message", (topic, payload) => {
    if (topic === topics.evt) events.push(parseEvent(payload));
    if (topic === topics.status && payload.length > 0) statuses.push(parseStatus(payload));
  });
  await client.subscribeAsync([topics.evt, topics.status], { qos: 1 });
  return { client, events, statuses };
}
