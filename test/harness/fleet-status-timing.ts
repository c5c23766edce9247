/**
 * How long `litefleet fleet status` takes on a fleet of retained statuses
 * (issue #15: ≤ 5 s at 10,000): starts mosquitto (else aedes; with
 * `max_queued_messages` set for a large fleet), publishes the
 * generated fleet of `fleet-statuses.ts`, then runs `fleet status` (table)
 * and `fleet status --json` as child processes, `--runs` times each, and
 * prints each wall time, from spawn to exit, with the machine it ran on.
 * (The full fleet simulator with live traffic is `bun run bench fleet`.)
 *
 * ```sh
 * bun test/harness/fleet-status-timing.ts [--devices 10000] [--runs 5]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { machineInfo } from "../../bench/machine-info.ts";
import { CLI_ENTRY } from "./cli.ts";
import { generateFleet, publishFleet } from "./fleet-statuses.ts";
import { findMosquitto, startMqttBroker } from "./mqtt-broker.ts";

const { values } = parseArgs({
  options: { devices: { type: "string", default: "10000" }, runs: { type: "string", default: "5" } },
});
const devices = Number(values.devices);
const runs = Number(values.runs);
if (!Number.isInteger(devices) || devices < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error("Cannot time fleet status: --devices and --runs must be positive integers");
  process.exit(2);
}

// With mosquitto's default max_queued_messages (1,000), a subscriber that reads slower than the
// retained statuses come loses some (docs/FLEET.md "Broker settings for large fleets").
await using broker = await startMqttBroker({
  kind: findMosquitto() === null ? "aedes" : "mosquitto",
  maxQueuedMessages: 2 * devices + 5_000,
});
const fleet = generateFleet(devices, Date.now());
const publishMs = await publishFleet(broker.url, "litefleet/v1", fleet);
const m = machineInfo();
console.log(
  `${devices} devices (${fleet.reduce((n, d) => n + d.databases, 0)} databases) published to ${broker.kind} in ${Math.round(publishMs)} ms; ${m.nproc} CPUs (${m.cpuModel}), bun ${m.bunVersion}, ${m.os}`,
);

for (const args of [[], ["--json"]]) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const proc = Bun.spawnSync([process.execPath, CLI_ENTRY, "fleet", "status", "--broker", broker.url, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    times.push(performance.now() - started);
    if (proc.exitCode !== 0) {
      console.error(`fleet status ${args.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString()}`);
      process.exit(1);
    }
    bytes = proc.stdout.length;
    if (args.includes("--json") && (JSON.parse(proc.stdout.toString()) as unknown[]).length !== devices) {
      console.error(
        `fleet status --json listed ${(JSON.parse(proc.stdout.toString()) as unknown[]).length} of ${devices} devices`,
      );
      process.exit(1);
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `fleet status ${args.join(" ") || "(table)"}: ${times.map((t) => (t / 1000).toFixed(2)).join(", ")} s; median ${(sorted[Math.floor(runs / 2)]! / 1000).toFixed(2)} s, max ${(sorted.at(-1)! / 1000).toFixed(2)} s; ${(bytes / 1_048_576).toFixed(1)} MiB of output`,
  );
}
