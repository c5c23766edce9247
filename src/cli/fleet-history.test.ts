import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, spawnCli } from "../../test/harness/cli.ts";
import { freePort } from "../../test/harness/free-port.ts";
import { startMqttBroker, type MqttBroker } from "../../test/harness/mqtt-broker.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { startDashboard } from "../fleet/dashboard/server.ts";
import { FleetView } from "../fleet/fleet-view.ts";
import { connectBroker } from "../fleet/operator.ts";
import { HistoryStore, type NewHistoryEntry } from "../fleet/history/history-store.ts";
import { encodeMessage } from "../protocol/messages.ts";
import { deviceTopics } from "../protocol/topics.ts";
import { defaultHistoryPath } from "./fleet-history.ts";
import { ExitCode } from "./io.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const ENTRIES: NewHistoryEntry[] = [
  { device: "gw-1", db: null, ts: T0, kind: "state", state: "ok" },
  { device: "gw-1", db: "/a.db", ts: T0, kind: "state", state: "ok" },
  { device: "gw-1", db: "/a.db", ts: T0 + 60_000, kind: "lag", lagMs: 7_200_000 },
  {
    device: "gw-1",
    db: "/a.db",
    ts: T0 + 61_000,
    kind: "state",
    state: "lagging",
    detail: "'/a.db' is 2 h behind its replicas",
  },
  { device: "gw-1", db: null, ts: T0 + 62_000, kind: "event", event: "command.done", detail: { id: "c1" } },
];

let broker: MqttBroker;
let client: Awaited<ReturnType<typeof connectBroker>>;
beforeAll(async () => {
  broker = await startMqttBroker();
  client = await connectBroker({ url: broker.url, protocolVersion: 4 });
});
afterAll(async () => {
  await client.endAsync();
  await broker.stop();
});

async function historyFile(dir: string): Promise<string> {
  const path = join(dir, "h.db");
  const store = HistoryStore.open(path);
  store.append(ENTRIES);
  store.close();
  return path;
}

describe("fleet history", () => {
  test("reads a history file read-only: a table oldest first, --json as /api/history, --db, --since, --limit", async () => {
    await using dir = await makeTempDir("fleet-history-");
    const file = await historyFile(dir.path);
    const now = () => T0 + 120_000;
    const table = await runCli(["fleet", "history", "gw-1", "--history", file], { now });
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      [
        "TIME (UTC)           DB     KIND   WHAT          DETAIL",
        "2026-12-01 10:00:00  -      state  ok",
        "2026-12-01 10:00:00  /a.db  state  ok",
        "2026-12-01 10:01:00  /a.db  lag    2 h",
        "2026-12-01 10:01:01  /a.db  state  lagging       '/a.db' is 2 h behind its replicas",
        '2026-12-01 10:01:02  -      event  command.done  {"id":"c1"}',
        "",
      ].join("\n"),
    );
    const json = await runCli(["fleet", "history", "gw-1", "--history", file, "--db", "/a.db", "--json"], { now });
    expect(JSON.parse(json.stdout)).toMatchObject({ device: "gw-1", db: "/a.db", truncated: false });
    expect(JSON.parse(json.stdout).entries.map((e: { kind: string }) => e.kind)).toEqual([
      "state",
      "lag",
      "state",
      "event",
    ]);
    const recent = await runCli(["fleet", "history", "gw-1", "--history", file, "--since", "1m", "--json"], { now });
    expect(JSON.parse(recent.stdout).entries.map((e: { ts: number }) => e.ts)).toEqual([
      T0 + 60_000,
      T0 + 61_000,
      T0 + 62_000,
    ]);
    const since = await runCli(
      ["fleet", "history", "gw-1", "--history", file, "--since", "2026-12-01T10:01:00Z", "--limit", "1"],
      { now },
    );
    expect(since.stdout.split("\n").length).toBe(3);
    expect(since.stderr).toBe("Showing the latest 1 entry; --limit (up to 10000) or --since for others\n");
  });

  test("errors: unknown device (1), bad options (2), a corrupt file (3), no dashboard at --url (6)", async () => {
    await using dir = await makeTempDir("fleet-history-");
    const file = await historyFile(dir.path);
    const unknown = await runCli(["fleet", "history", "gw-9", "--history", file]);
    expect(unknown.code).toBe(ExitCode.failure);
    expect(unknown.stderr).toStartWith("Error: Cannot find history of device 'gw-9': nothing was recorded\nTry: ");
    expect((await runCli(["fleet", "history", "gw-1", "--history", file, "--limit", "20000"])).code).toBe(2);
    const since = await runCli(["fleet", "history", "gw-1", "--history", file, "--since", "last week"]);
    expect(since.code).toBe(ExitCode.usage);
    expect(since.stderr).toStartWith("Error: Cannot parse --since 'last week': use a duration back from now");
    expect((await runCli(["fleet", "history", "gw/1"])).code).toBe(ExitCode.usage);

    const corrupt = join(dir.path, "corrupt.db");
    writeFileSync(corrupt, "x".repeat(4096));
    const bad = await runCli(["fleet", "history", "gw-1", "--history", corrupt]);
    expect(bad.code).toBe(ExitCode.integrity);
    expect(bad.stderr).toBe(
      `Error: Cannot open history file '${corrupt}': it is not a SQLite database: move it away (it is never overwritten) or pass --history with another file (or --no-history)\n`,
    );
    const missing = await runCli(["fleet", "history", "gw-1", "--history", join(dir.path, "none.db")]);
    expect(missing.code).toBe(ExitCode.failure);
    expect(missing.stderr).toContain("it does not exist");

    const port = await freePort();
    const down = await runCli(["fleet", "history", "gw-1", "--url", `http://127.0.0.1:${port}/`]);
    expect(down.code).toBe(ExitCode.unreachable);
    expect(down.stderr).toStartWith(`Error: Cannot reach the dashboard at 'http://127.0.0.1:${port}/': `);
    expect(down.stderr).toContain("Try: start it with 'litefleet fleet dashboard'");
  });

  test("asks a running dashboard (--url): the same answer as its /api/history; 404 and --no-history explained", async () => {
    await using dir = await makeTempDir("fleet-history-");
    const store = HistoryStore.open(await historyFile(dir.path));
    const view = await FleetView.open(client, { root: "cli/history", staleCheckMs: 0 });
    await using dashboard = await startDashboard({ view, history: store });
    const json = await runCli(["fleet", "history", "gw-1", "--url", dashboard.url, "--json", "--db", "/a.db"]);
    expect(json.code).toBe(0);
    const api = await (await fetch(new URL("api/history?device=gw-1&db=/a.db", dashboard.url))).json();
    expect(JSON.parse(json.stdout)).toEqual(api);
    const table = await runCli(["fleet", "history", "gw-1", "--url", dashboard.url.slice(0, -1)]);
    expect(table.stdout.split("\n")[0]).toStartWith("TIME (UTC)");
    const unknown = await runCli(["fleet", "history", "gw-2", "--url", dashboard.url]);
    expect(unknown.code).toBe(ExitCode.failure);
    expect(unknown.stderr).toStartWith("Error: Cannot find history of device 'gw-2'");

    await using off = await startDashboard({ view });
    const disabled = await runCli(["fleet", "history", "gw-1", "--url", off.url]);
    expect(disabled.code).toBe(ExitCode.failure);
    expect(disabled.stderr).toBe(
      "Error: Cannot read history: this dashboard keeps none (it was started with --no-history)\nTry: start the dashboard without --no-history, or read a history file with --history FILE\n",
    );
    // A URL that is not a dashboard: its 404 is not "nothing was recorded".
    const elsewhere = await runCli(["fleet", "history", "gw-1", "--url", `${dashboard.url}sub/`]);
    expect(elsewhere.code).toBe(ExitCode.failure);
    expect(elsewhere.stderr).toBe(
      `Error: Cannot read history from '${dashboard.url}sub/api/history': it answered HTTP 404 (Cannot find /sub/api/history): not a litefleet dashboard\nTry: pass the address 'fleet dashboard' prints at startup, e.g. --url http://127.0.0.1:9398/\n`,
    );
    const emptyDb = await runCli(["fleet", "history", "gw-1", "--url", dashboard.url, "--db", ""]);
    expect(emptyDb.code).toBe(ExitCode.usage);
    store.close();
    await view.close();
  });
});

/** Reads a child's stderr until it contains `text`; returns all read so far. */
async function stderrUntil(proc: ReturnType<typeof spawnCli>, text: string, log: { text: string }): Promise<string> {
  const reader = proc.stderr.getReader();
  try {
    while (!log.text.includes(text)) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`Cannot find '${text}' in the output:\n${log.text}`);
      log.text += new TextDecoder().decode(value);
    }
  } finally {
    reader.releaseLock();
  }
  return log.text;
}

describe("fleet dashboard --history", () => {
  test("keeps history in $XDG_STATE_HOME/litefleet/fleet-history.db (says so), served to fleet history; --no-history; a corrupt file stops it (3)", async () => {
    await using dir = await makeTempDir("fleet-dashboard-history-");
    const root = "cli/dash-history";
    await client.publishAsync(
      deviceTopics(root, "gw-7").status,
      encodeMessage({ v: 1, type: "status", device: "gw-7", online: true, session: 1, ts: Date.now(), dbs: [] }),
      { qos: 1, retain: true },
    );
    const env = { XDG_STATE_HOME: join(dir.path, "state") };
    const args = ["fleet", "dashboard", "--broker", broker.url, "--topic-root", root, "--addr", "127.0.0.1:0"];
    // aedes speaks MQTT 3.1.1 only.
    args.push("--protocol", broker.kind === "mosquitto" ? "5" : "3.1.1");
    const proc = spawnCli([...args, "--history-retention", "2d"], { env });
    const log = { text: "" };
    const started = await stderrUntil(proc, "(Ctrl-C to stop)", log);
    const file = join(dir.path, "state", "litefleet", "fleet-history.db");
    expect(started).toContain(`History in ${file} (kept 2d, at most 2000000 entries; --no-history to turn off)\n`);
    const url = /Fleet dashboard on (\S+)/.exec(started)?.[1] ?? "";
    // The retained status is recorded as it arrives: wait for it.
    let answer = await runCli(["fleet", "history", "gw-7", "--url", url, "--json"]);
    while (answer.code !== 0) answer = await runCli(["fleet", "history", "gw-7", "--url", url, "--json"]);
    expect(JSON.parse(answer.stdout).entries).toMatchObject([{ kind: "state", db: null, state: "starting" }]);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    // The file outlives the dashboard, and reads the same.
    const fromFile = await runCli(["fleet", "history", "gw-7", "--history", file, "--json"]);
    expect(JSON.parse(fromFile.stdout)).toEqual(JSON.parse(answer.stdout));

    const off = spawnCli([...args, "--no-history"], { env });
    const offLog = { text: "" };
    expect(await stderrUntil(off, "(Ctrl-C to stop)", offLog)).toContain("History off (--no-history)");
    off.kill("SIGTERM");
    expect(await off.exited).toBe(0);

    const corrupt = join(dir.path, "corrupt.db");
    writeFileSync(corrupt, "not a database ".repeat(300));
    const refused = await runCli([...args, "--history", corrupt]);
    expect(refused.code).toBe(ExitCode.integrity);
    expect(refused.stderr).toStartWith(`Error: Cannot open history file '${corrupt}': it is not a SQLite database`);
    const badRows = await runCli([...args, "--history-max-rows", "many"]);
    expect(badRows.code).toBe(ExitCode.usage);
    expect(badRows.stderr).toStartWith("Error: Cannot use --history-max-rows 'many'");
  });
});

describe("defaultHistoryPath()", () => {
  test("$XDG_STATE_HOME/litefleet, else ~/.local/state/litefleet", () => {
    expect(defaultHistoryPath({ XDG_STATE_HOME: "/var/state", HOME: "/home/op" })).toBe(
      "/var/state/litefleet/fleet-history.db",
    );
    expect(defaultHistoryPath({ HOME: "/home/op" })).toBe("/home/op/.local/state/litefleet/fleet-history.db");
    // A relative XDG_STATE_HOME is invalid by the XDG spec: ignored.
    expect(defaultHistoryPath({ XDG_STATE_HOME: "state", HOME: "/home/op" })).toBe(
      "/home/op/.local/state/litefleet/fleet-history.db",
    );
  });
});
