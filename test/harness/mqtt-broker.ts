/**
 * A real MQTT broker for tests, on a free loopback port.
 *
 * - **mosquitto** (Debian `apt-get install mosquitto`) when its binary is on
 *   PATH or at /usr/sbin/mosquitto: a child process with a temporary config
 *   (`listener <port> 127.0.0.1`, `persistence false`, log to stderr). Its
 *   log is collected and quoted when it fails to start. Speaks MQTT 3.1,
 *   3.1.1 and 5.
 * - **aedes** (npm) otherwise: an in-process broker on a `node:net` server.
 *   aedes 1.x speaks MQTT 3.1 and 3.1.1 only: it refuses an MQTT 5 CONNECT
 *   with return code 1 ("unacceptable protocol version"). A test that needs
 *   MQTT 5 (message expiry, user properties, reason codes…) must check
 *   `broker.kind === "mosquitto"` and skip otherwise.
 *
 * `LITEFLEET_MQTT_BROKER=aedes` (or `=mosquitto`) picks the kind when the
 * caller does not; the first start of each kind in a process logs which
 * broker is used.
 *
 * @module
 */

import { Aedes, type AuthenticateError } from "aedes";
import type { Subprocess } from "bun";
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { freePort } from "./agent-process.ts";
import { makeTempDir } from "./temp-dir.ts";

/** The broker implementations the harness can start. */
export type MqttBrokerKind = "mosquitto" | "aedes";

/** A running broker. Dispose it (or call `stop()`) to shut it down; calling `stop()` twice does nothing. */
export interface MqttBroker extends AsyncDisposable {
  readonly kind: MqttBrokerKind;
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** mosquitto's process (absent for the in-process aedes), for a caller that must kill it on a signal. */
  readonly process?: Subprocess;
  stop(): Promise<void>;
}

/** Options for {@linkcode startMqttBroker}. */
export interface MqttBrokerOptions {
  /**
   * Whether clients that send no username may connect. When false and
   * `users` is not given, every client is refused (mosquitto's
   * `allow_anonymous false` without a `password_file`). Refused clients get
   * CONNACK return code 5, "not authorized".
   *
   * @default {true}
   */
  readonly allowAnonymous?: boolean;
  /**
   * Accounts (username → password). A client that sends a username must
   * then send its password (mosquitto's `password_file`). Without `users`,
   * a username is accepted exactly when anonymous clients are.
   */
  readonly users?: Readonly<Record<string, string>>;
  /**
   * Which broker to start.
   *
   * @default {LITEFLEET_MQTT_BROKER, else "mosquitto" when installed, else "aedes"}
   */
  readonly kind?: MqttBrokerKind;
  /**
   * Serve MQTT over TLS (mosquitto only): PEM files of the CA, the broker's
   * certificate and key; with `requireCertificate`, clients must present a
   * certificate signed by the CA (mTLS). The URL is then `mqtts://`.
   */
  readonly tls?: {
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
    readonly requireCertificate: boolean;
  };
  /**
   * mosquitto's `max_queued_messages` (mosquitto only): how many messages it
   * holds for one client beyond those in flight; past it, it drops QoS 0
   * messages to a client that reads slower than they come (docs/FLEET.md
   * "Broker settings for large fleets"). Fleets of thousands need it above
   * twice the number of devices.
   *
   * @default {1000} (mosquitto's own default)
   */
  readonly maxQueuedMessages?: number;
}

const MOSQUITTO_FALLBACK = "/usr/sbin/mosquitto";
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Kinds whose first start this process has already logged. */
const announced = new Set<MqttBrokerKind>();

/** The mosquitto binary, or null when it is not installed. */
export function findMosquitto(): string | null {
  return Bun.which("mosquitto") ?? (existsSync(MOSQUITTO_FALLBACK) ? MOSQUITTO_FALLBACK : null);
}

/** The broker kinds this machine can run: always aedes, and mosquitto when installed. */
export function availableBrokerKinds(): MqttBrokerKind[] {
  return findMosquitto() === null ? ["aedes"] : ["mosquitto", "aedes"];
}

/**
 * Starts a broker on 127.0.0.1 and waits until it accepts connections.
 *
 * @throws {RangeError} when `LITEFLEET_MQTT_BROKER` names no known kind
 * @throws {Error} when mosquitto is asked for but not installed, or does not start
 *
 * @example
 * ```ts
 * await using broker = await startMqttBroker();
 * const client = await mqtt.connectAsync(broker.url);
 * ```
 */
export async function startMqttBroker(options: MqttBrokerOptions = {}): Promise<MqttBroker> {
  const kind = options.kind ?? defaultKind();
  const auth: Auth = { allowAnonymous: options.allowAnonymous ?? true, users: options.users };
  if (kind === "mosquitto") {
    const bin = findMosquitto();
    if (bin === null) throw new Error(`Cannot start mosquitto: no 'mosquitto' on PATH or at ${MOSQUITTO_FALLBACK}`);
    const broker = await startMosquitto(bin, auth, options.tls, options.maxQueuedMessages);
    announce(kind, `mosquitto (${bin})`);
    return broker;
  }
  if (options.tls) throw new Error("Cannot start aedes with TLS: the harness serves TLS with mosquitto only");
  const broker = await startAedes(auth);
  announce(kind, "aedes (in-process, MQTT 3.1.1 only)");
  return broker;
}

/** Who may connect, as resolved from {@linkcode MqttBrokerOptions}. */
interface Auth {
  readonly allowAnonymous: boolean;
  readonly users: Readonly<Record<string, string>> | undefined;
}

function defaultKind(): MqttBrokerKind {
  const forced = process.env.LITEFLEET_MQTT_BROKER;
  if (forced === undefined || forced === "") return findMosquitto() === null ? "aedes" : "mosquitto";
  if (forced === "mosquitto" || forced === "aedes") return forced;
  throw new RangeError(`Cannot choose MQTT broker: LITEFLEET_MQTT_BROKER is '${forced}', not 'mosquitto' or 'aedes'`);
}

function announce(kind: MqttBrokerKind, what: string): void {
  if (announced.has(kind)) return;
  announced.add(kind);
  // stderr: a benchmark's stdout may be JSON (`bun run bench fleet --json`).
  console.error(`MQTT test broker: ${what}`);
}

async function startMosquitto(
  bin: string,
  auth: Auth,
  tls: MqttBrokerOptions["tls"],
  maxQueuedMessages: number | undefined,
): Promise<MqttBroker> {
  const dir = await makeTempDir("litefleet-mosquitto-");
  try {
    const passwordFile = join(dir.path, "passwords");
    if (auth.users !== undefined) await writeFile(passwordFile, mosquittoPasswords(auth.users));
    // freePort() can lose a race with another process for the port; mosquitto
    // then exits at once with "Address already in use", and a new port is tried.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const config = join(dir.path, "mosquitto.conf");
      await writeFile(
        config,
        [
          `listener ${port} 127.0.0.1`,
          // As root, mosquitto would switch to user "mosquitto", which cannot read this 0700 temp dir.
          ...(process.getuid?.() === 0 ? ["user root"] : []),
          ...(tls === undefined
            ? []
            : [
                `cafile ${tls.ca}`,
                `certfile ${tls.cert}`,
                `keyfile ${tls.key}`,
                `require_certificate ${tls.requireCertificate}`,
              ]),
          `allow_anonymous ${auth.allowAnonymous}`,
          ...(auth.users === undefined ? [] : [`password_file ${passwordFile}`]),
          ...(maxQueuedMessages === undefined ? [] : [`max_queued_messages ${maxQueuedMessages}`]),
          "persistence false",
          "log_dest stderr",
          "log_type error",
          "log_type warning",
          "log_type notice",
          "log_type information",
          "",
        ].join("\n"),
      );
      const proc = Bun.spawn([bin, "-c", config], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      let log = "";
      const collected = (async () => {
        for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
      })();
      const ready = await waitForPort(port, () => proc.exitCode !== null);
      if (!ready) {
        const state =
          proc.exitCode === null
            ? `port ${port} did not open within ${START_TIMEOUT_MS} ms`
            : `exited with code ${proc.exitCode}`;
        proc.kill("SIGKILL");
        await proc.exited;
        await collected;
        if (attempt < 3 && log.includes("Address already in use")) continue;
        throw new Error(`Cannot start mosquitto: ${state}:\n${log}`);
      }

      let stopped = false;
      async function stop(): Promise<void> {
        if (stopped) return;
        stopped = true;
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await proc.exited;
        clearTimeout(timer);
        await collected;
        await dir[Symbol.asyncDispose]();
      }
      return {
        kind: "mosquitto",
        url: `${tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
        port,
        process: proc,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    }
  } catch (err) {
    await dir[Symbol.asyncDispose]();
    throw err;
  }
}

/** A mosquitto 2 password file: PBKDF2-SHA512 hashes in its `$7$<iterations>$<salt>$<hash>` format. */
function mosquittoPasswords(users: Readonly<Record<string, string>>): string {
  const iterations = 101;
  return Object.entries(users)
    .map(([name, password]) => {
      const salt = randomBytes(12);
      const hash = pbkdf2Sync(password, salt, iterations, 64, "sha512");
      return `${name}:$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}\n`;
    })
    .join("");
}

/** Polls `port` until a TCP connection succeeds (true) or `gaveUp()` or the timeout (false). */
async function waitForPort(port: number, gaveUp: () => boolean): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return true;
    if (gaveUp()) return false;
    await Bun.sleep(20);
  }
  return false;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function startAedes(auth: Auth): Promise<MqttBroker> {
  const aedes = await Aedes.createBroker({
    authenticate(_client, username, password, done) {
      const ok =
        username === undefined || auth.users === undefined
          ? auth.allowAnonymous
          : Object.hasOwn(auth.users, username) && password?.toString("utf8") === auth.users[username];
      if (ok) return done(null, true);
      const err = Object.assign(new Error(`Cannot connect as '${username ?? ""}': not authorized`), { returnCode: 5 });
      done(err as AuthenticateError, false);
    },
  });
  const server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let stopped = false;
  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    // aedes.close() ends every client connection, so server.close() does not wait on them.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }
  return { kind: "aedes", url: `mqtt://127.0.0.1:${port}`, port, stop, [Symbol.asyncDispose]: stop };
}
