/**
 * `litefleet fleet send --select … COMMAND` (or `--devices a,b` /
 * `--devices-file FILE`): one signed command per selected device, sent at a
 * bounded rate (`fleet/fleet-send.ts`), with a live summary on stderr (one
 * line rewritten in place on a terminal, else one line per change) and a
 * per-device outcome table on stdout at the end (`--json`: the outcomes as
 * one JSON document, docs/schemas/fleet-send.schema.json). `--dry-run`
 * lists the selected devices and sends nothing.
 *
 * Selection uses `FleetView` over the retained statuses, the same states as
 * `fleet status` (`fleet/selector.ts`).
 *
 * Exit code ({@linkcode exitCodeOfFleet}): 0 when every device is done; the
 * single-device code when every device ended with the same one (all
 * rejected 7, all unreachable 6, all timed out 5 …); else 4.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError, errorMessage } from "../errors.ts";
import { FleetView, type DeviceView } from "../fleet/fleet-view.ts";
import { isFinal, sendToFleet, type DeviceOutcome, type SendCounts } from "../fleet/fleet-send.ts";
import { connectBroker, sendCommand } from "../fleet/operator.ts";
import { SelectorError, parseDeviceList, parseSelector, selectDevices, type Selector } from "../fleet/selector.ts";
import { systemClock, type Clock } from "../platform/clock.ts";
import { durationOption } from "./duration-option.ts";
import {
  brokerSettings,
  commandRequest,
  exitCodeOfReply,
  loadSigner,
  type BrokerOptions,
  type SendOptions,
} from "./fleet.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { table } from "./text-table.ts";

/** Default of `--rate`. */
const DEFAULT_RATE_PER_SECOND = 20;
/** Default of `--max-in-flight`. */
const DEFAULT_MAX_IN_FLIGHT = 100;

/** Options of `fleet send` that choose devices and pace them. */
export interface FleetSelectOptions {
  select?: string[];
  devices?: string;
  devicesFile?: string;
  rate?: string;
  maxInFlight?: string;
  dryRun?: boolean;
  wait?: string;
}

/** True when `fleet send` was asked for many devices. */
export function wantsFleet(options: FleetSelectOptions): boolean {
  return options.select !== undefined || options.devices !== undefined || options.devicesFile !== undefined;
}

/**
 * Parses `--rate`: `N/s`, `N/min` or a bare `N` (per second).
 * @throws {UsageError} naming the value
 */
export function parseRate(text: string | undefined): number {
  if (text === undefined) return DEFAULT_RATE_PER_SECOND;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|min))?\s*$/.exec(text);
  const n = m ? Number(m[1]) * (m[2] === "min" ? 1 / 60 : 1) : Number.NaN;
  if (!(n > 0))
    throw new UsageError(`Cannot parse --rate '${text}': it must be a positive N/s or N/min`, "e.g. --rate 20/s");
  return n;
}

/** Runs `fleet send` to many devices (see the module documentation). */
export async function runFleetSendMany(
  io: CliIo,
  command: string,
  options: BrokerOptions & SendOptions & FleetSelectOptions & { id?: string },
  clock: Clock = systemClock,
): Promise<number> {
  if (options.id !== undefined)
    throw new UsageError("Cannot use --id with several devices: each gets its own id", "leave --id out");
  const { selector, devices } = selection(io, options);
  const ratePerSecond = parseRate(options.rate);
  const maxInFlight = positiveInt(options.maxInFlight, "--max-in-flight", DEFAULT_MAX_IN_FLIGHT);
  const signer = options.dryRun ? undefined : loadSigner(io, options.keyFile);
  const { args, timeoutMs, ttlMs } = commandRequest(command, options);
  const settings = brokerSettings(io, options);
  const client = await connectBroker(settings.broker);
  // One reply listener per command in flight, besides the view's.
  client.setMaxListeners(maxInFlight + 10);
  try {
    let views: DeviceView[] = [];
    if (selector !== undefined || options.dryRun) {
      const view = await FleetView.open(client, { root: settings.root });
      // Retained statuses arrive right after the subscription; give them a moment.
      await clock.sleep(durationOption(options.wait, "--wait", 1000));
      views = view.devices();
      await view.close();
    }
    const selected = selectDevices(views, { ...(selector ? { selector } : {}), ...(devices ? { devices } : {}) });
    if (options.dryRun) {
      const byId = new Map(views.map((v) => [v.device, v]));
      if (options.json)
        io.stdout(
          `${JSON.stringify(selected.map((d) => ({ device: d, state: byId.get(d)?.state ?? null, agent: byId.get(d)?.agent ?? null })))}\n`,
        );
      else io.stdout(formatSelection(selected, byId));
      io.stderr(`${selected.length} device${selected.length === 1 ? "" : "s"} selected; nothing sent (--dry-run)\n`);
      return ExitCode.ok;
    }
    if (selected.length === 0) {
      io.stderr("No device matches the selection; nothing sent ('litefleet fleet status' shows the devices)\n");
      return ExitCode.ok;
    }
    const live = liveSummary(io);
    const outcomes = await sendToFleet(selected, {
      ratePerSecond,
      maxInFlight,
      clock,
      onChange: (_outcome, counts) => live.update(counts),
      send: (device, onSent) =>
        sendCommand(
          client,
          { root: settings.root, device, name: command, args, ttlMs },
          { signer: signer!, protocolVersion: settings.broker.protocolVersion, timeoutMs, onSent },
        ),
    });
    live.end();
    if (options.json) io.stdout(`${JSON.stringify(fleetReport(command, outcomes))}\n`);
    else io.stdout(formatOutcomes(outcomes));
    return exitCodeOfFleet(outcomes);
  } finally {
    await client.endAsync();
  }
}

/** The selector and explicit device list from the options. */
function selection(io: CliIo, options: FleetSelectOptions): { selector?: Selector; devices?: string[] } {
  const hint = "e.g. --select 'state=error,offline lag-over=30m', --devices gw-01,gw-02 or --devices-file ids.txt";
  try {
    const selector = options.select === undefined ? undefined : parseSelector(options.select);
    let devices: string[] | undefined;
    // A list given but empty is a mistake (a script that produced nothing), not a selection that matched nothing.
    if (options.devices !== undefined) {
      devices = parseDeviceList(options.devices);
      if (devices.length === 0) throw new UsageError("Cannot send: --devices names no device", hint);
    }
    if (options.devicesFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(resolve(io.cwd, options.devicesFile), "utf8");
      } catch (err) {
        throw new UsageError(`Cannot read --devices-file '${options.devicesFile}': ${errorMessage(err)}`, hint);
      }
      const listed = parseDeviceList(text);
      if (listed.length === 0)
        throw new UsageError(
          `Cannot send: --devices-file '${options.devicesFile}' names no device (only blank lines and # comments)`,
          hint,
        );
      devices = [...new Set([...(devices ?? []), ...listed])];
    }
    return { ...(selector ? { selector } : {}), ...(devices ? { devices } : {}) };
  } catch (err) {
    if (err instanceof SelectorError) throw new UsageError(err.message, hint);
    throw err;
  }
}

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`Cannot parse ${flag} '${text}': it must be a positive integer`, `e.g. ${flag} 50`);
  return n;
}

/** The live summary line: rewritten in place on a terminal, else printed once per change. */
function liveSummary(io: CliIo): { update(counts: SendCounts): void; end(): void } {
  let last = "";
  return {
    update(counts) {
      const line = formatCounts(counts);
      if (line === last) return;
      last = line;
      io.stderr(io.isTty ? `\r\x1b[K${line}` : `${line}\n`);
    },
    end() {
      if (io.isTty && last !== "") io.stderr("\n");
    },
  };
}

/** `sent 12/40  accepted 10  done 8  failed 1  rejected 0  no reply 1`. */
export function formatCounts(c: SendCounts): string {
  return `sent ${c.sent}/${c.total}  accepted ${c.accepted}  done ${c.done}  failed ${c.failed}  rejected ${c.rejected}  no reply ${c.noReply}`;
}

/** The exit code of one device's outcome, as `fleet send` to that device alone would exit. */
export function exitCodeOfOutcome(o: DeviceOutcome): number {
  if (o.status === "no-reply") return o.answered ? ExitCode.timeout : ExitCode.unreachable;
  if (o.status === "done") return exitCodeOfReply({ status: "done", ...(o.result ? { result: o.result } : {}) });
  if ((o.status === "failed" || o.status === "rejected") && o.code !== null)
    return exitCodeOfReply({ status: o.status, code: o.code });
  if (o.status === "rejected") return ExitCode.refused;
  return ExitCode.failure;
}

/** 0 when every device is done (or none was selected); the shared code when all ended alike; else 4 (partial). */
export function exitCodeOfFleet(outcomes: readonly DeviceOutcome[]): number {
  const codes = new Set(outcomes.map(exitCodeOfOutcome));
  if (codes.size === 0) return ExitCode.ok;
  return codes.size === 1 ? (codes.values().next().value as number) : ExitCode.partial;
}

/** The `--json` document (docs/schemas/fleet-send.schema.json). */
export function fleetReport(command: string, outcomes: readonly DeviceOutcome[]) {
  const count = (s: DeviceOutcome["status"]) => outcomes.filter((o) => o.status === s).length;
  return {
    command,
    summary: {
      total: outcomes.length,
      done: count("done"),
      failed: count("failed"),
      rejected: count("rejected"),
      noReply: count("no-reply"),
    },
    devices: outcomes.map((o) => ({
      device: o.device,
      id: o.id,
      outcome: o.status,
      code: o.code,
      error: o.error,
      result: o.result,
      exitCode: exitCodeOfOutcome(o),
    })),
  };
}

const ORDER: Readonly<Record<DeviceOutcome["status"], number>> = {
  failed: 0,
  rejected: 1,
  "no-reply": 2,
  waiting: 3,
  sent: 3,
  accepted: 3,
  done: 4,
};

/** One row per device, problems first: DEVICE OUTCOME CODE COMMAND DETAIL. */
export function formatOutcomes(outcomes: readonly DeviceOutcome[]): string {
  const sorted = [...outcomes].sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || (a.device < b.device ? -1 : a.device > b.device ? 1 : 0),
  );
  const rows = [["DEVICE", "OUTCOME", "CODE", "COMMAND", "DETAIL"]];
  for (const o of sorted) {
    const status = isFinal(o.status) ? o.status.replace("-", " ") : o.status;
    const detail = o.error ?? (o.result ? truncate(JSON.stringify(o.result), 100) : "");
    rows.push([o.device, status, o.code ?? "-", o.id ?? "-", detail]);
  }
  return table(rows);
}

function formatSelection(selected: readonly string[], views: ReadonlyMap<string, DeviceView>): string {
  const rows = [["DEVICE", "STATE", "AGENT"]];
  for (const d of selected) {
    const v = views.get(d);
    rows.push([d, v?.state ?? "unknown", v?.agent ?? "-"]);
  }
  return table(rows);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
