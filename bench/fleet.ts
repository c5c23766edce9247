/**
 * The `fleet` benchmark (issue #15, "What done looks like"): a simulated
 * fleet on a real broker, and the operator's views under it.
 *
 * 1. mosquitto on a free loopback port (`max_queued_messages` for a large
 *    fleet, docs/FLEET.md "Broker settings for large fleets"); required.
 * 2. The retained statuses and telemetry of `--devices` generated devices
 *    (`test/harness/fleet-statuses.ts`: a fixed mix of problem states).
 * 3. `litefleet fleet status` as a child process, `--runs` times: wall time
 *    from spawn to exit, and every problem row before every healthy one.
 * 4. `litefleet fleet dashboard` as a child process; its `VmRSS` sampled
 *    every 250 ms and its `VmHWM` read from `/proc` at the end.
 * 5. The page in headless Chromium (1600×900, `fleet-page.ts`): from `goto`
 *    to the first row and the first problem row in the viewport, and the
 *    states of the first screen's rows.
 * 6. Live traffic (`fleet-traffic.ts`) at `--rate` status updates a second
 *    for `--seconds`: devices changing state, lag growing and shrinking,
 *    some losing their connection (telemetry, then the Will) and coming
 *    back. 6 % of the updates go, in turn, to the top 12 rows of the first
 *    screen (`error` devices); each carries a new TXID, and the page's probe
 *    records when it shows in the viewport: publish → on screen, and how
 *    many showed. Frames drawn meanwhile, and `GET /api/devices` timed once
 *    a second.
 * 7. With `--screenshots DIR`, the page as the traffic left it
 *    (`fleet-<devices>.png`); `/api/history` probed (a 404 from the router:
 *    not in this build) and, when it answers, a device's timeline
 *    (`fleet-timeline.png`).
 *
 * Both clocks are this machine's `Date.now()` (publisher and page), fine
 * for a benchmark.
 *
 * ```sh
 * bun run bench fleet [--devices 10000] [--rate 200] [--seconds 30] [--runs 5]
 *                     [--screenshots DIR] [--json] [--out FILE]
 * ```
 *
 * @module
 */

import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { HistoryStore } from "../src/fleet/history/history-store.ts";
import { encodeMessage } from "../src/protocol/messages.ts";
import { deviceTopics } from "../src/protocol/topics.ts";
import { generateFleet, publishFleet } from "../test/harness/fleet-statuses.ts";
import { freePort } from "../test/harness/free-port.ts";
import { findMosquitto, startMqttBroker } from "../test/harness/mqtt-broker.ts";
import { makeTempDir } from "../test/harness/temp-dir.ts";
import type { BenchContext } from "./benchmark.ts";
import { positiveOption } from "./cli-options.ts";
import { DashboardPage, findChromium } from "./fleet-page.ts";
import { checkTableOrder, renderFleetReport, summarize, type FleetBenchResult } from "./fleet-report.ts";
import { FleetTraffic, type TrafficUpdate } from "./fleet-traffic.ts";
import { machineInfo } from "./machine-info.ts";
import { readCpuSeconds, readMemoryKiB, RssSampler } from "./process-stats.ts";

/** Usage of `bun run bench fleet`. */
export const FLEET_USAGE = `Usage: bun run bench fleet [options]

A simulated fleet on mosquitto: fleet status timed, the dashboard in headless Chromium
under live status updates (needs mosquitto and chromium).

Options:
  --devices N          devices in the fleet (default 10000)
  --rate N             live status updates per second (default 200)
  --seconds N          how long the live traffic runs (default 30)
  --runs N             runs of 'fleet status' (default 5)
  --seed N             seed of the traffic (default 15)
  --screenshots DIR    save the page (fleet-<devices>.png) and a timeline (fleet-timeline.png) there
  --json               print the results as JSON on stdout (the report goes to stderr)
  --out FILE           also write the markdown report to FILE
  --help               print this help`;

/** Options of one run. */
export interface FleetBenchOptions {
  readonly devices: number;
  readonly rate: number;
  readonly seconds: number;
  readonly runs: number;
  readonly seed: number;
  readonly screenshots: string | undefined;
  readonly json: boolean;
  readonly out: string | undefined;
}

const ROOT = "litefleet/v1";
const CLI_ENTRY = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
/**
 * Devices on the first screen whose updates are measured, at most: the top
 * 12 of about 25 rows, so that the few devices that start failing during
 * the run (and sort among them by id) do not push them off the screen.
 */
const WATCHED = 12;
/** Share of the updates that go to them: 12/s at 200/s, one a second each, so none is superseded before it shows. */
const WATCHED_SHARE = 0.06;
/** How long after the traffic stops the page may still show its last updates (ms). */
const TAIL_MS = 3_000;

/**
 * Parses the options of `fleet`.
 *
 * @returns the options, or `"help"`
 * @throws {TypeError} for an unknown option
 * @throws {RangeError} for a value out of range
 */
export function parseFleetOptions(args: readonly string[]): FleetBenchOptions | "help" {
  const { values } = parseArgs({
    args: [...args],
    options: {
      devices: { type: "string", default: "10000" },
      rate: { type: "string", default: "200" },
      seconds: { type: "string", default: "30" },
      runs: { type: "string", default: "5" },
      seed: { type: "string", default: "15" },
      screenshots: { type: "string" },
      json: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const devices = positiveOption("devices", values.devices);
  if (devices < 100)
    throw new RangeError(`Cannot parse options: --devices must be at least 100 (one of each state), got ${devices}`);
  return {
    devices,
    rate: positiveOption("rate", values.rate),
    seconds: positiveOption("seconds", values.seconds),
    runs: positiveOption("runs", values.runs),
    seed: positiveOption("seed", values.seed),
    screenshots: values.screenshots,
    json: values.json,
    out: values.out,
  };
}

/** Runs the benchmark; see the module documentation. */
export async function runFleetBench(args: readonly string[], ctx: BenchContext): Promise<number> {
  const options = parseFleetOptions(args);
  if (options === "help") {
    process.stdout.write(`${FLEET_USAGE}\n`);
    return 0;
  }
  const { say, guard } = ctx;
  if (findMosquitto() === null)
    throw new Error("Cannot run the fleet benchmark: mosquitto is not installed (Debian: apt-get install mosquitto)");
  const chromiumPath = findChromium();
  if (chromiumPath === null)
    throw new Error("Cannot run the fleet benchmark: chromium is not installed (Debian: apt-get install chromium)");
  const startedAt = new Date().toISOString();
  const loadAverage = loadavg();
  const notes: string[] = [];

  await using broker = await startMqttBroker({ kind: "mosquitto", maxQueuedMessages: 2 * options.devices + 5_000 });
  // Killed on Ctrl-C/SIGTERM too (the guard's signal handler does not run `await using`).
  if (broker.process !== undefined) guard.track(broker.process);
  const version = Bun.spawnSync([findMosquitto() ?? "mosquitto", "-h"]).stdout.toString();
  const brokerName = `mosquitto ${/version ([\d.]+)/.exec(version)?.[1] ?? "?"} (max_queued_messages ${2 * options.devices + 5_000})`;
  const fleet = generateFleet(options.devices, Date.now());
  const databases = fleet.reduce((n, d) => n + d.databases, 0);
  say(`${brokerName} at ${broker.url}; publishing ${options.devices} devices`);
  const publishMs = await publishFleet(broker.url, ROOT, fleet);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  await using scratch = await makeTempDir("bench-fleet-");
  const historyPath = join(scratch.path, "fleet-history.db");

  // 3. fleet status, before the dashboard connects.
  const runsMs: number[] = [];
  let order = { rows: 0, problems: 0, problemsFirst: true };
  let outputBytes = 0;
  for (let i = 1; i <= options.runs; i++) {
    const started = performance.now();
    const proc = guard.track(
      Bun.spawn([process.execPath, CLI_ENTRY, "fleet", "status", "--broker", broker.url], {
        env,
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    runsMs.push(performance.now() - started);
    if (code !== 0) throw new Error(`Cannot time fleet status: it exited ${code}: ${stderr.trim()}`);
    const o = checkTableOrder(stdout);
    outputBytes = Buffer.byteLength(stdout);
    if (!o.problemsFirst) notes.push(`fleet status run ${i}: a healthy row before a problem row: '${o.firstWrong}'`);
    if (o.rows !== databases) notes.push(`fleet status run ${i}: ${o.rows} rows of ${databases} databases`);
    order = { rows: o.rows, problems: o.problems, problemsFirst: order.problemsFirst && o.problemsFirst };
    say(`fleet status run ${i}/${options.runs}: ${(runsMs.at(-1)! / 1000).toFixed(2)} s, ${o.rows} rows`);
  }
  const sortedRuns = [...runsMs].sort((a, b) => a - b);

  // 4. The dashboard.
  const port = await freePort();
  const dashboardProc = guard.track(
    Bun.spawn(
      [
        process.execPath,
        CLI_ENTRY,
        "fleet",
        "dashboard",
        "--broker",
        broker.url,
        "--addr",
        `127.0.0.1:${port}`,
        "--history",
        historyPath,
      ],
      { env, stdout: "ignore", stderr: "pipe" },
    ),
  );
  const url = `http://127.0.0.1:${port}/`;
  let dashboardLog = "";
  void (async () => {
    for await (const chunk of dashboardProc.stderr) dashboardLog += new TextDecoder().decode(chunk);
  })();
  const sampler = new RssSampler(new Map([["dashboard", dashboardProc.pid]]));
  sampler.start(250);
  try {
    await waitFor(
      async () => {
        if (dashboardProc.exitCode !== null) throw new Error(`Cannot start the dashboard: ${dashboardLog.trim()}`);
        const r = await fetch(`${url}api/summary`).catch(() => null);
        return r?.ok === true && ((await r.json()) as { devices: number }).devices === options.devices;
      },
      60_000,
      "the dashboard to list every device",
    );
    const rssLoadedKiB = readMemoryKiB(dashboardProc.pid).rssKiB;
    say(`dashboard at ${url} lists ${options.devices} devices; opening it in Chromium`);

    // 5. The page.
    await using page = await DashboardPage.launch(chromiumPath);
    const load = await page.load(url, 30_000);
    // Let the first render settle (row height measured) before reading the screen.
    await Bun.sleep(300);
    const screen = await page.screenRows();
    const problemStates = new Set(["error", "conflict", "offline", "stale", "lagging", "degraded", "starting"]);
    const firstScreenProblems = screen.filter((r) => problemStates.has(r.state)).length;
    say(
      `first row after ${load.firstRowMs} ms, first problem row after ${load.firstProblemRowMs} ms; ${firstScreenProblems}/${screen.length} problem rows on screen`,
    );

    // 6. Live traffic.
    const watched = [...new Set(screen.filter((r) => r.state === "error").map((r) => r.device))].slice(0, WATCHED);
    const traffic = new FleetTraffic(fleet, { seed: options.seed, watched, watchedShare: WATCHED_SHARE });
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, clientId: `bench-fleet-${process.pid}` });
    const sentAt = new Map<string, number>();
    const mix: Record<string, number> = {};
    let statuses = 0;
    let tele = 0;
    let publishErrors = 0;
    const publish = (u: TrafficUpdate): void => {
      const topics = deviceTopics(ROOT, u.device);
      if (u.tele !== null) {
        tele++;
        client.publish(topics.tele, JSON.stringify(u.tele), { qos: 0, retain: true });
      }
      statuses++;
      mix[u.kind] = (mix[u.kind] ?? 0) + 1;
      if (u.watched && u.txid !== null) sentAt.set(u.txid, Date.now());
      client.publish(topics.status, encodeMessage(u.status), { qos: 1, retain: true }, (err) => {
        if (err) publishErrors++;
      });
    };
    await page.count(true);
    const cpuBefore = readCpuSeconds(dashboardProc.pid);
    say(`live traffic: ${options.rate} updates/s for ${options.seconds} s (${watched.length} watched devices)`);
    const apiTimes: number[] = [];
    let apiBytes = 0;
    let running = true;
    const apiLoop = (async () => {
      while (running) {
        const t = performance.now();
        const body = await (await fetch(`${url}api/devices`)).arrayBuffer();
        apiTimes.push(performance.now() - t);
        apiBytes = body.byteLength;
        await Bun.sleep(1_000);
      }
    })();
    const trafficStart = performance.now();
    const total = options.rate * options.seconds;
    await new Promise<void>((resolveTraffic) => {
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor((options.rate * (performance.now() - trafficStart)) / 1000));
        while (statuses < due) publish(traffic.next(Date.now()));
        if (statuses >= total) {
          clearInterval(timer);
          resolveTraffic();
        }
      }, 5);
    });
    const trafficMs = performance.now() - trafficStart;
    running = false;
    await apiLoop;
    await Bun.sleep(TAIL_MS);
    const rec = await page.recorded();
    await page.count(false);
    const cpuSeconds = readCpuSeconds(dashboardProc.pid) - cpuBefore;
    await client.endAsync();
    if (publishErrors > 0) notes.push(`${publishErrors} status publishes failed`);
    const latencies: number[] = [];
    for (const [txid, at] of sentAt) {
      const shownAt = rec.seen[txid];
      if (shownAt !== undefined) latencies.push(shownAt - at);
    }
    const endScreen = new Set((await page.screenRows()).map((r) => r.device));
    const stillOnScreen = watched.filter((d) => endScreen.has(d)).length;
    say(`${latencies.length}/${sentAt.size} watched updates shown; ${rec.frames} frames`);

    // 7. Screenshots (the page as the traffic left it), history, memory.
    const screenshots: string[] = [];
    if (options.screenshots !== undefined) {
      mkdirSync(options.screenshots, { recursive: true });
      const path = join(options.screenshots, `fleet-${options.devices}.png`);
      await page.screenshot(path);
      screenshots.push(path);
    }
    const history = await probeHistory(url, fleet[0]!.id);
    if (history.present) history.text += `; ${historyFileFigures(historyPath)}`;
    if (options.screenshots !== undefined) {
      if (history.present) {
        try {
          await page.openTimeline(10_000);
          const path = join(options.screenshots, "fleet-timeline.png");
          await page.screenshot(path);
          screenshots.push(path);
        } catch (err) {
          notes.push(`timeline screenshot failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } else notes.push("timeline screenshot needs history (`/api/history` is not in this build): skipped");
    }
    if (page.errors.length > 0) notes.push(...page.errors);
    sampler.sampleNow();
    const mem = readMemoryKiB(dashboardProc.pid);

    const result: FleetBenchResult = {
      command: ctx.command,
      startedAt,
      machine: machineInfo(),
      loadAverage,
      broker: brokerName,
      devices: options.devices,
      databases,
      publishMs,
      fleetStatus: {
        runsMs,
        medianMs: sortedRuns[Math.floor(sortedRuns.length / 2)]!,
        maxMs: sortedRuns.at(-1)!,
        ...order,
        outputBytes,
      },
      page: {
        firstRowMs: load.firstRowMs,
        firstProblemRowMs: load.firstProblemRowMs,
        firstScreenRows: screen.length,
        firstScreenProblems,
      },
      traffic: {
        rate: options.rate,
        seconds: options.seconds,
        statuses,
        tele,
        achievedRate: statuses / (trafficMs / 1000),
        mix,
        watchedDevices: watched.length,
        watchedSent: sentAt.size,
        watchedShown: latencies.length,
        watchedStillOnScreen: stillOnScreen,
        latency: summarize(latencies),
        frames: rec.frames,
        fps: rec.frames / (rec.countedMs / 1000),
        longestFrameMs: rec.longestFrameMs,
      },
      dashboard: {
        hwmKiB: mem.hwmKiB,
        rssEndKiB: mem.rssKiB,
        maxSampledKiB: sampler.maxRssKiB("dashboard") ?? mem.rssKiB,
        rssLoadedKiB,
        cpuSeconds,
        apiDevices: { ...summarize(apiTimes), bytes: apiBytes },
        history: history.text,
      },
      screenshots,
      notes,
    };
    const report = renderFleetReport(result);
    if (options.json) {
      process.stderr.write(`\n${report}`);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else process.stdout.write(`\n${report}`);
    if (options.out !== undefined) writeFileSync(options.out, report);
    const ok =
      order.problemsFirst &&
      screen.length > 0 &&
      firstScreenProblems === screen.length &&
      latencies.length === sentAt.size;
    return ok ? 0 : 1;
  } finally {
    sampler.stop();
    dashboardProc.kill("SIGTERM");
    const timer = setTimeout(() => dashboardProc.kill("SIGKILL"), 5_000);
    await dashboardProc.exited;
    clearTimeout(timer);
  }
}

/** `/api/history` of one device: present (its answer's size) or not in this build (the router's 404). */
async function probeHistory(url: string, device: string): Promise<{ present: boolean; text: string }> {
  const res = await fetch(`${url}api/history?device=${encodeURIComponent(device)}`);
  const body = await res.text();
  if (res.status === 404 && body.startsWith("Cannot find /api/history"))
    return { present: false, text: "absent (404 from the router: not in this build)" };
  return {
    present: res.ok,
    text: `HTTP ${res.status}, ${Buffer.byteLength(body).toLocaleString("en-US")} bytes for ${device}`,
  };
}

/** The history file's entries and size (the dashboard still writing: read-only, WAL counted). */
function historyFileFigures(path: string): string {
  const store = HistoryStore.open(path, { readonly: true });
  try {
    const { entries } = store.stats();
    const wal = `${path}-wal`;
    const bytes = statSync(path).size + (existsSync(wal) ? statSync(wal).size : 0);
    return `history file: ${entries.toLocaleString("en-US")} entries, ${(bytes / 2 ** 20).toFixed(1)} MiB with its WAL`;
  } finally {
    store.close();
  }
}

/** Polls `check` every 100 ms until it is true. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await Bun.sleep(100);
  }
  throw new Error(`Cannot wait for ${what}: not within ${timeoutMs} ms`);
}
