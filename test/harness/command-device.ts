/**
 * A simulated device for operator-side tests: its own MQTT client on a real
 * broker, a retained status (healthy unless told otherwise) and the real
 * device-side command checks and runner (`CommandExecutor`) with handlers
 * the test gives, replying on its `res/` topics as the agent does. No
 * database, no agent process: many fit in one test.
 *
 * @module
 */

import mqtt, { type MqttClient } from "mqtt";
import { nullLogger } from "../../src/log.ts";
import { CommandExecutor, type CommandSpec } from "../../src/fleet/commands.ts";
import { DeviceState } from "../../src/fleet/device-state.ts";
import { encodeMessage, type DbSummary, type StatusMessage } from "../../src/protocol/messages.ts";
import { parsePublicKey } from "../../src/protocol/signing.ts";
import { deviceTopics } from "../../src/protocol/topics.ts";
import { dbSummary } from "./fleet-summaries.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";

/** A running simulated device; dispose it to disconnect. */
export interface CommandDevice extends AsyncDisposable {
  readonly id: string;
  /** Command names in the order they were accepted. */
  readonly ran: string[];
}

/** Options of {@linkcode startCommandDevice}. */
export interface CommandDeviceOptions {
  readonly brokerUrl: string;
  readonly root: string;
  readonly id: string;
  /** The operator public key it trusts (`ed25519:…`). */
  readonly operatorKey: string;
  readonly commands: Readonly<Record<string, CommandSpec>>;
  /** Its databases in the retained status (default: one healthy one). */
  readonly dbs?: readonly DbSummary[];
  readonly agent?: string;
}

/** Connects a simulated device and publishes its retained online status. */
export async function startCommandDevice(options: CommandDeviceOptions): Promise<CommandDevice> {
  const topics = deviceTopics(options.root, options.id);
  const dir: TempDir = await makeTempDir(`lf-sim-${options.id}-`);
  const client: MqttClient = await mqtt.connectAsync(options.brokerUrl, {
    clientId: `sim-${options.id}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const ran: string[] = [];
  const executor = new CommandExecutor({
    device: options.id,
    keys: [parsePublicKey(options.operatorKey)],
    state: new DeviceState(dir.path),
    commands: Object.fromEntries(
      Object.entries(options.commands).map(([name, spec]) => [
        name,
        {
          ...spec,
          run: (args, ctx) => {
            ran.push(name);
            return spec.run(args, ctx);
          },
        } satisfies CommandSpec,
      ]),
    ),
    reply: async (reply) =>
      void (await client.publishAsync(`${topics.resPrefix}${reply.id}`, encodeMessage(reply), { qos: 1 })),
    event: async () => {},
    log: nullLogger(),
  });
  client.on("message", (topic, payload) => {
    if (topic === topics.cmd) void executor.handle(payload, {});
  });
  await client.subscribeAsync(topics.cmd, { qos: 1 });
  const status: StatusMessage = {
    v: 1,
    type: "status",
    device: options.id,
    online: true,
    session: 1,
    ts: Date.now(),
    agent: options.agent ?? "0.1.0",
    startedAt: Date.now(),
    dbs: options.dbs ?? [dbSummary()],
  };
  await client.publishAsync(topics.status, encodeMessage(status), { qos: 1, retain: true });
  return {
    id: options.id,
    ran,
    async [Symbol.asyncDispose]() {
      await client.publishAsync(topics.status, Buffer.alloc(0), { qos: 1, retain: true });
      await client.endAsync();
      await dir[Symbol.asyncDispose]();
    },
  };
}
