import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
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
