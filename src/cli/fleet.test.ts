import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { runCli } from "../../test/harness/cli.ts";
import { dbRow, deviceView } from "../../test/harness/fleet-summaries.ts";
import { startMqttBroker } from "../../test/harness/mqtt-broker.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { parseConfig } from "../config/parse.ts";
import { parsePrivateKey } from "../protocol/signing.ts";
import { exitCodeOfReply, formatTable } from "./fleet.ts";
import { ExitCode } from "./io.ts";

describe("fleet keygen", () => {
  test("prints fleet.operator-keys YAML that parseConfig() takes as is, holding the written key's public half (issue #12)", async () => {
    await using dir = await makeTempDir("keygen-");
    const r = await runCli(["fleet", "keygen", "--out", "operator.key"], { cwd: dir.path });
    expect(r.stderr).toContain(`Wrote the private key to ${join(dir.path, "operator.key")} (mode 0600)`);
    expect(r.code).toBe(0);
    const key = parsePrivateKey(readFileSync(join(dir.path, "operator.key"), "utf8"));
    expect(statSync(join(dir.path, "operator.key")).mode & 0o777).toBe(0o600);
    expect(r.stdout).toBe(`fleet:\n  operator-keys:\n    - ${key.publicKey}  # key id ${key.keyId}\n`);
    const options = { env: {}, cwd: dir.path, deviceId: "dev-1" };
    // Alone, and pasted below an existing config.
    expect(parseConfig(r.stdout, options).fleet.operatorKeys).toEqual([key.publicKey]);
    const config = parseConfig(`dbs:\n  - path: app.db\n    replica: { path: replica }\n${r.stdout}`, options);
    expect(config.fleet.operatorKeys).toEqual([key.publicKey]);
  });

  test("never overwrites an existing key file (exit 2)", async () => {
    await using dir = await makeTempDir("keygen-");
    expect((await runCli(["fleet", "keygen", "--out", "k"], { cwd: dir.path })).code).toBe(0);
    const before = readFileSync(join(dir.path, "k"), "utf8");
    const again = await runCli(["fleet", "keygen", "--out", "k"], { cwd: dir.path });
    expect(again.stderr).toContain("the file exists (keys are never overwritten)");
    expect(again.code).toBe(2);
    expect(readFileSync(join(dir.path, "k"), "utf8")).toBe(before);
  });
});

describe("exitCodeOfReply()", () => {
  test("maps the final reply and its code onto the exit codes", () => {
    const cases: [Parameters<typeof exitCodeOfReply>[0], number][] = [
      [{ status: "done", result: { dbs: [] } }, ExitCode.ok],
      [{ status: "done", result: { ok: false } }, ExitCode.integrity],
      [{ status: "rejected", code: "bad-signature" }, ExitCode.refused],
      [{ status: "rejected", code: "busy" }, ExitCode.refused],
      [{ status: "rejected" }, ExitCode.refused],
      [{ status: "rejected", code: "bad-arguments" }, ExitCode.usage],
      [{ status: "rejected", code: "too-large" }, ExitCode.refused],
      [{ status: "failed", code: "usage" }, ExitCode.usage],
      [{ status: "failed", code: "checksum-mismatch" }, ExitCode.integrity],
      [{ status: "failed", code: "corrupt" }, ExitCode.integrity],
      [{ status: "failed", code: "timeout" }, ExitCode.timeout],
      [{ status: "failed", code: "replica" }, ExitCode.failure],
      [{ status: "failed", code: "no-restore-point" }, ExitCode.failure],
      [{ status: "failed", code: "from-a-newer-agent" }, ExitCode.failure],
      [{ status: "failed" }, ExitCode.failure],
    ];
    expect(cases.map(([reply]) => exitCodeOfReply(reply))).toEqual(cases.map(([, code]) => code));
  });
});

describe("formatTable()", () => {
  const offline = deviceView({
    device: "gw-04",
    state: "offline",
    online: false,
    reason: "lost",
    session: 3,
    lastSeen: 100_000,
    heardAt: 100_000,
    dataAt: null,
    agent: "0.1.0",
    rows: [dbRow({ db: null, state: "offline", txid: null, lagMs: null, lastUploadAt: null, size: null })],
  });

  test("an offline device without data: its state, last seen, and dashes rather than zeros", () => {
    expect(formatTable([offline], 400_000)).toBe(
      [
        "DEVICE  DB  STATE           LAST SEEN  DATA AGE  LAG  PENDING  TXID  AGENT  FREE DISK  PROBLEM",
        "gw-04   -   offline (lost)  5 min ago  -         -    -        -     0.1.0  -",
        "",
      ].join("\n"),
    );
  });

  test("one row per database, each with its own state, lag and first problem; the device's age, agent and disk on each", () => {
    const view = deviceView({
      device: "gw-04",
      heardAt: 390_000,
      lastSeen: 1,
      dataAt: 390_000,
      agent: "0.2.0",
      disk: { free: 5 * 1024 ** 3, total: 20 * 1024 ** 3 },
      rows: [
        dbRow({
          db: "/data/app.db",
          state: "error",
          txid: "00000000000000a1",
          lagMs: 90_000,
          pendingFiles: 2,
          problems: ["replica 's3' of '/data/app.db' fails: x", "more"],
        }),
        dbRow({ db: "/data/log.db", state: "pending", txid: "00000000000000b2", lagMs: 5_000, pendingFiles: 1 }),
      ],
    });
    expect(formatTable([view], 400_000).split("\n").slice(1, 3)).toEqual([
      "gw-04   /data/app.db  error    10 s ago   10 s      1 min  2        00000000000000a1  0.2.0  5.0 GiB (25%)  replica 's3' of '/data/app.db' fails: x (+1 more)",
      "gw-04   /data/log.db  pending  10 s ago   10 s      5 s    1        00000000000000b2  0.2.0  5.0 GiB (25%)",
    ]);
  });
});

describe("fleet dashboard --addr", () => {
  test("a malformed --addr exits 2 with a Try: line, before it connects or opens the history file", async () => {
    await using dir = await makeTempDir("fleet-dashboard-addr-");
    // A TCP server as the broker, counting connections: there must be none.
    let connections = 0;
    const tcp = createNetServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolveListen) => tcp.listen(0, "127.0.0.1", () => resolveListen()));
    const broker = `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    try {
      for (const addr of ["nope", "127.0.0.1:99999", "::1:80"]) {
        const history = join(dir.path, "history.db");
        const r = await runCli(["fleet", "dashboard", "--broker", broker, "--addr", addr, "--history", history]);
        expect(r.stderr).toBe(
          `Error: Cannot parse --addr '${addr}': use host:port with a port in 0-65535\n` +
            "Try: e.g. --addr 127.0.0.1:9398, --addr [::1]:8080, or --addr 0.0.0.0:9398 on every interface (port 0 picks a free one)\n",
        );
        expect(r.code).toBe(ExitCode.usage);
        expect(existsSync(history)).toBe(false);
      }
      expect(connections).toBe(0);
    } finally {
      await new Promise((resolveClose) => tcp.close(resolveClose));
    }
  });

  test("a port in use exits 1 naming the address, EADDRINUSE and what to try; the broker connection is closed", async () => {
    await using broker = await startMqttBroker();
    await using dir = await makeTempDir("fleet-dashboard-addr-");
    const taken = createHttpServer();
    await new Promise<void>((resolveListen) => taken.listen(0, "127.0.0.1", () => resolveListen()));
    const addr = `127.0.0.1:${(taken.address() as AddressInfo).port}`;
    try {
      const r = await runCli([
        "fleet",
        "dashboard",
        "--broker",
        broker.url,
        "--protocol",
        broker.kind === "mosquitto" ? "5" : "3.1.1",
        "--addr",
        addr,
        "--history",
        join(dir.path, "history.db"),
      ]);
      expect(r.stderr).toBe(
        `Error: Cannot start dashboard: listening on '${addr}' failed: the address is already in use (EADDRINUSE)\n` +
          "Try: another process listens there: stop it, or pass another --addr (e.g. --addr 127.0.0.1:0 for a free port)\n",
      );
      expect(r.code).toBe(ExitCode.failure);
    } finally {
      await new Promise((resolveClose) => taken.close(resolveClose));
    }
  });
});

/** The long options `litefleet <command> --help` lists, each with its description (wrapped lines joined). */
async function helpOptions(command: string[]): Promise<Map<string, string>> {
  const help = await runCli([...command, "--help"]);
  expect(help.code).toBe(0);
  const options = new Map<string, string>();
  let last: string | undefined;
  for (const line of help.stdout.slice(help.stdout.indexOf("\nOptions:\n")).split("\n")) {
    const m = /^ {2}(?:-\w, )?(--[a-z][a-z-]*)(?: <[^>]+>)?\s+(.*)$/.exec(line);
    if (m !== null) {
      last = m[1]!;
      options.set(last, m[2]!);
    } else if (last !== undefined && /^ {4,}\S/.test(line)) options.set(last, `${options.get(last)} ${line.trim()}`);
    else last = undefined;
  }
  return options;
}

describe("Try: hints of the fleet commands", () => {
  const broker = ["--broker", "mqtt://127.0.0.1:1"];
  // Each case is refused before anything connects; `means` is what the option named first must be for.
  const cases: { args: string[]; env?: Record<string, string>; means: RegExp }[] = [
    { args: ["fleet", "send", "gw-1", "sync", ...broker], means: /operator private key/ },
    { args: ["fleet", "send", "--devices", "gw-1,gw-2", "sync", ...broker], means: /operator private key/ },
    { args: ["fleet", "send", "gw-1", "sync", "--devices", "gw-2"], means: /many devices/ },
    { args: ["fleet", "send", "--devices", "gw-1,gw-2", "--id", "x", "sync"], means: /command id/ },
    { args: ["fleet", "status"], means: /MQTT broker/ },
    { args: ["fleet", "status", "--broker", "http://x"], means: /MQTT broker/ },
    { args: ["fleet", "status", ...broker, "--protocol", "7"], means: /3\.1\.1/ },
    { args: ["fleet", "status", ...broker, "--state", "bogus"], means: /states/ },
    { args: ["fleet", "dashboard", ...broker, "--addr", "nope"], means: /where to listen/ },
    { args: ["fleet", "keygen"], means: /private key/ },
  ];
  for (const { args, env, means } of cases) {
    test(`'${args.join(" ")}' names options of its command, the first one the right one`, async () => {
      const r = await runCli(args, { env: env ?? {} });
      expect(r.code).toBe(ExitCode.usage);
      const hint = /^Try: (.*)$/m.exec(r.stderr)?.[1];
      expect(hint).toBeDefined();
      const named = [...(hint ?? "").matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]);
      expect(named.length).toBeGreaterThan(0);
      const command = args.slice(0, 2);
      const options = await helpOptions(command);
      for (const option of named) expect({ option, listed: options.has(option) }).toEqual({ option, listed: true });
      expect(options.get(named[0]!)).toMatch(means);
    });
  }

  test("a bad broker URL from $LITEFLEET_MQTT_URL names the variable, not --broker, and never quotes the URL", async () => {
    const r = await runCli(["fleet", "status"], { env: { LITEFLEET_MQTT_URL: "http://user:secret@x" } });
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toBe(
      "Error: Cannot use $LITEFLEET_MQTT_URL: it must start with mqtt://, mqtts://, ws:// or wss://\nTry: e.g. LITEFLEET_MQTT_URL=mqtts://broker.example.com:8883\n",
    );
  });

  test("no operator key: the hint names --operator-key, not --key (the TLS client key)", async () => {
    const r = await runCli(["fleet", "send", "gw-1", "sync", ...broker], { env: {} });
    expect(r.stderr).toBe(
      "Error: Cannot sign the command: no operator key\nTry: pass --operator-key FILE (from 'litefleet fleet keygen') or set $LITEFLEET_OPERATOR_KEY\n",
    );
  });
});

describe("an operator's --config", () => {
  test("with only mqtt.url, username and password: fleet status connects with them; replicate still requires mqtt.state-dir", async () => {
    await using broker = await startMqttBroker({ allowAnonymous: false, users: { ops: "s3cret" } });
    await using dir = await makeTempDir("fleet-operator-config-");
    const file = join(dir.path, "operator.yml");
    writeFileSync(file, `mqtt:\n  url: ${broker.url}\n  username: ops\n  password: s3cret\n`);
    const protocol = broker.kind === "mosquitto" ? "5" : "3.1.1";
    const status = await runCli(["fleet", "status", "--config", file, "--protocol", protocol, "--wait", "100ms"]);
    expect(status.stderr).toBe("");
    expect(status.stdout).toStartWith("0 devices");
    expect(status.code).toBe(ExitCode.ok);
    // The credentials did come from the file: the broker refuses anyone else.
    const wrong = `mqtt:\n  url: ${broker.url}\n  username: ops\n  password: wrong\n`;
    writeFileSync(join(dir.path, "wrong.yml"), wrong);
    const refused = await runCli(["fleet", "status", "--config", join(dir.path, "wrong.yml"), "--protocol", protocol]);
    expect(refused.stderr).toContain("Not authorized");
    expect(refused.code).toBe(ExitCode.failure);

    const agent = await runCli(["replicate", "--config", file]);
    expect(agent.stderr).toBe(
      `Error: Cannot read config: 'mqtt.state-dir' is required when no database is configured (the agent keeps its session counter and event outbox there) (in '${file}')\n`,
    );
    expect(agent.code).toBe(ExitCode.usage);
  });
});
