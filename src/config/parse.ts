/**
 * Turns config text into a resolved {@linkcode Config}: YAML, then strict
 * validation with environment expansion of each string value, then
 * defaults and path normalization. Pure: no file system, no `process.env`,
 * no logging; the CLI reads the file and passes the environment in.
 *
 * @module
 */

import { posix } from "node:path";
import { LineCounter, parseDocument, type YAMLError } from "yaml";
import { ConfigError, errorMessage } from "../errors.ts";
import { parseReplicaUrl } from "../replica/url.ts";
import { expandEnv, type VariableLookup } from "./expand.ts";
import { checkDirEntries, DIR_ONLY_KEYS, readDirEntry } from "./dir-section.ts";
import { defaultLevels, readLevels } from "./levels-section.ts";
import { CONFIG_ERROR_PREFIX, configError, fieldPath, MapReader } from "./map-reader.ts";
import { readCredentials, readReplicas, type ReplicaContext } from "./replica-section.ts";
import {
  type Config,
  type DbConfig,
  DEFAULTS,
  defaultMetaPath,
  type DirEntryConfig,
  type LogFormat,
  type LogLevel,
  type OperatorConfig,
} from "./schema.ts";
import { readSpool, resolveSpool, type SpoolLayer } from "./spool-section.ts";
import { defaultFleet, readFleet, readMqtt } from "./mqtt-section.ts";
import { readMetrics, readStatus } from "./status-section.ts";
import { readUploadSection, resolveUpload, UPLOAD_KEYS } from "./upload-policy.ts";

/** Inputs of {@linkcode parseConfig} besides the text. */
export interface ParseConfigOptions {
  /** The environment `$NAME` is expanded from (the CLI passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Absolute working directory; relative paths resolve against it when there is no `configPath`. */
  readonly cwd: string;
  /** Fallback device id the caller computed (machine id or hostname). */
  readonly deviceId: string;
  /** Path of the config file; relative paths in the config resolve against its directory. */
  readonly configPath?: string;
  /**
   * Who reads the config. `"agent"` (`replicate` and the commands that act
   * on its databases) requires everything the agent runs with;
   * `"operator"` (`fleet status`, `send`, `dashboard`) only connects to the
   * broker, so a file with just `mqtt.url` (and credentials) is enough:
   * `mqtt.state-dir`, the agent's session counter and outbox, may then be
   * absent ({@linkcode OperatorConfig}).
   *
   * @default {"agent"}
   */
  readonly mode?: "agent" | "operator";
}

/** Inputs of {@linkcode configForSingleDb}. */
export interface SingleDbOptions {
  /** Absolute working directory the database path and a plain replica path resolve against. */
  readonly cwd: string;
  /** Fallback device id the caller computed (machine id or hostname). */
  readonly deviceId: string;
  /** The environment `$NAME` in the replica URL is expanded from. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

const NOT_SUPPORTED = "is a Litestream setting that litefleet does not support";
const PER_REPLICA = "is only supported on each replica (under 'dbs[].replica')";
const UPLOAD_KEY = "is only supported in the top-level 'upload' section or on each replica";
const TOP_LEVEL = "is only supported at the top level";

const ROOT_KEYS = [
  "device",
  "logging",
  "snapshot",
  "levels",
  "status",
  "metrics",
  "exec",
  "spool",
  "upload",
  "dbs",
  "mqtt",
  "fleet",
  "access-key-id",
  "secret-access-key",
  "shutdown-sync-timeout",
];
const ROOT_UNSUPPORTED: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    [
      "l0-retention",
      "l0-retention-check-interval",
      "retention",
      "validation",
      "verify-compaction",
      "heartbeat-url",
      "heartbeat-interval",
      "shutdown-sync-interval",
      "socket",
      "mcp-addr",
    ].map((key) => [key, NOT_SUPPORTED]),
  ),
  ...Object.fromEntries(
    ["bucket", "endpoint", "region", "force-path-style", "skip-verify"].map((key) => [key, PER_REPLICA]),
  ),
  ...Object.fromEntries(UPLOAD_KEYS.map((key) => [key, `${UPLOAD_KEY} (e.g. 'upload.${key}')`])),
  addr: `${NOT_SUPPORTED} (the status server's address is 'status.addr')`,
};

const DB_KEYS = [
  "path",
  "meta-path",
  "monitor-interval",
  "checkpoint-interval",
  "min-checkpoint-page-count",
  "truncate-page-n",
  "busy-timeout",
  "spool",
  "restore-if-db-not-exists",
  "replica",
  "replicas",
  ...DIR_ONLY_KEYS,
];
const DB_UNSUPPORTED: Readonly<Record<string, string>> = {
  ...Object.fromEntries(["max-sync-wal-bytes", "max-checkpoint-page-count"].map((key) => [key, NOT_SUPPORTED])),
  snapshot: `${TOP_LEVEL} ('snapshot.interval', 'snapshot.retention')`,
  levels: TOP_LEVEL,
  status: TOP_LEVEL,
  upload: "is only supported at the top level (or give its keys directly on each replica)",
  ...Object.fromEntries(UPLOAD_KEYS.map((key) => [key, UPLOAD_KEY])),
};

/** What database parsing needs from the enclosing config. */
interface DbContext extends ReplicaContext {
  /** The top-level `spool:` section, the defaults of every database's. */
  readonly spool: SpoolLayer | undefined;
}

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Parses and validates config text.
 *
 * Relative paths resolve against the directory of `options.configPath`, or
 * `options.cwd` without one. `$NAME` / `${NAME}` in string values expand
 * from `options.env` (`$$` is a literal `$`); `$DEVICE_ID` expands to the
 * resolved device id: `device.id` (itself expanded from the environment
 * only), else env `DEVICE_ID`, else `options.deviceId`.
 *
 * @example
 * ```ts
 * const config = parseConfig("dbs:\n  - path: app.db\n    replica: { url: s3://b/app }\n", {
 *   env: {}, cwd: "/srv", deviceId: "edge-1",
 * });
 * config.dbs[0]?.metaPath; // "/srv/.app.db-litefleet"
 * ```
 *
 * @param text the YAML text
 * @param options environment, working directory, fallback device id, config path, mode
 * @returns the resolved config (with `mode: "operator"`, `mqtt.stateDir` may be undefined)
 * @throws {ConfigError} for invalid YAML (`field` `""`, line and column in the
 * message) and for every invalid key or value (`field` is the key path)
 * @throws {TypeError} when `options.cwd` is not absolute
 */
export function parseConfig(text: string, options: ParseConfigOptions & { readonly mode?: "agent" }): Config;
export function parseConfig(text: string, options: ParseConfigOptions): OperatorConfig;
export function parseConfig(text: string, options: ParseConfigOptions): OperatorConfig {
  if (!posix.isAbsolute(options.cwd)) {
    throw new TypeError(`Cannot parse config: the working directory '${options.cwd}' is not absolute`);
  }
  const data = parseYaml(text) ?? {};
  const env = options.env;
  const envOnly: VariableLookup = (name) => env[name];
  // `device.id` is read first, with plain environment lookup, because
  // `$DEVICE_ID` everywhere else expands to it.
  const envRoot = new MapReader(data, "", envOnly);
  envRoot.checkKeys(ROOT_KEYS, ROOT_UNSUPPORTED);
  const id = resolveDeviceId(envRoot, options);
  const lookup: VariableLookup = (name) => (name === "DEVICE_ID" ? id : env[name]);
  const root = new MapReader(data, "", lookup);
  const base =
    options.configPath === undefined ? options.cwd : posix.dirname(posix.resolve(options.cwd, options.configPath));
  const logging = readLogging(root);
  const snapshot = readSnapshot(root);
  const levels = readLevels(root);
  const status = readStatus(root);
  const metrics = readMetrics(root);
  const exec = root.string("exec");
  const spool = readSpool(root);
  const upload = readUploadSection(root);
  // Resolving the section alone reports its own errors even when no database uses it.
  if (upload !== undefined) resolveUpload(upload, undefined);
  const credentials = readCredentials(root);
  const list = root.list("dbs") ?? [];
  const dbs: DbConfig[] = [];
  const dbIndexes: number[] = [];
  const dirs: DirEntryConfig[] = [];
  list.forEach((_, index) => {
    const r = root.item("dbs", index);
    r.checkKeys(DB_KEYS, DB_UNSUPPORTED);
    const ctx: DbContext = { base, lookup, credentials, upload, spool };
    if (r.has("dir")) {
      dirs.push(readDirEntry(r, { base, index, settings: () => readDbSettings(r, ctx) }));
    } else {
      dbs.push(readDb(r, ctx));
      dbIndexes.push(index);
    }
  });
  checkDistinct(dbs, dbIndexes);
  checkDirEntries(dbs, dbIndexes, dirs);
  const firstDir = dbs[0] === undefined ? dirs[0]?.dir : posix.dirname(dbs[0].path);
  const mqtt = readMqtt(root, { base, deviceId: id, firstDbDir: firstDir, mode: options.mode ?? "agent" });
  const fleet = readFleet(root, { base });
  const shutdownSyncTimeout = root.duration("shutdown-sync-timeout", 1) ?? DEFAULTS.shutdownSyncTimeout;
  return {
    device: { id },
    logging,
    snapshot,
    levels,
    status,
    metrics,
    exec,
    dbs,
    dirs,
    mqtt,
    fleet,
    shutdownSyncTimeout,
  };
}

/**
 * Builds the config for `litefleet replicate DB_PATH REPLICA_URL` without a
 * config file: one database, one replica named after its type, `DEFAULTS`
 * everywhere else (compaction levels, status server, spool, upload policy).
 * `$NAME` and `$DEVICE_ID` (env `DEVICE_ID`, else `options.deviceId`) are
 * expanded in the URL.
 *
 * @example
 * ```ts
 * configForSingleDb("app.db", "s3://backups/${DEVICE_ID}/app", {
 *   cwd: "/srv", deviceId: "edge-1", env: {},
 * }).dbs[0]?.replicas[0]?.spec; // { type: "s3", bucket: "backups", path: "edge-1/app" }
 * ```
 *
 * @param dbPath the database path, relative to `options.cwd`
 * @param replicaUrl a replica URL or directory path
 * @param options working directory, fallback device id, environment
 * @returns the resolved config
 * @throws {ConfigError} with `field` `"replica-url"` for a bad URL and
 * `"device.id"` for a bad device id
 */
export function configForSingleDb(dbPath: string, replicaUrl: string, options: SingleDbOptions): Config {
  if (!posix.isAbsolute(options.cwd)) {
    throw new TypeError(`Cannot parse config: the working directory '${options.cwd}' is not absolute`);
  }
  const envId = options.env["DEVICE_ID"];
  const id = checkDeviceId(envId ?? options.deviceId, envId === undefined ? "the host" : "DEVICE_ID");
  const lookup: VariableLookup = (name) => (name === "DEVICE_ID" ? id : options.env[name]);
  let spec;
  try {
    spec = parseReplicaUrl(expandEnv(replicaUrl, lookup), { cwd: options.cwd });
  } catch (cause) {
    throw new ConfigError(errorMessage(cause), { field: "replica-url", cause });
  }
  const path = posix.resolve(options.cwd, dbPath);
  return {
    device: { id },
    logging: { ...DEFAULTS.logging },
    snapshot: { ...DEFAULTS.snapshot },
    levels: defaultLevels(),
    status: { addr: DEFAULTS.status.addr },
    metrics: { addr: undefined },
    exec: undefined,
    dirs: [],
    dbs: [
      {
        ...dbDefaults(),
        path,
        metaPath: defaultMetaPath(path),
        replicas: [{ name: spec.type, spec, ...resolveUpload(undefined, undefined) }],
      },
    ],
    mqtt: undefined,
    fleet: defaultFleet(),
    shutdownSyncTimeout: DEFAULTS.shutdownSyncTimeout,
  };
}

function parseYaml(text: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter, uniqueKeys: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    // No `cause`: the parser's own message can quote source text, which may be a secret.
    throw new ConfigError(`${CONFIG_ERROR_PREFIX}: invalid YAML at line ${line}, column ${col}: ${yamlReason(err)}`, {
      field: "",
    });
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    // Unresolved or excessive aliases are only found while building values.
    const reason = errorMessage(cause).split(/:\s/)[0] ?? "";
    throw new ConfigError(`${CONFIG_ERROR_PREFIX}: invalid YAML: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
      field: "",
    });
  }
}

/** The parser's reason without any quoted source text (which may be a secret). */
function yamlReason(err: YAMLError): string {
  if (err.code === "DUPLICATE_KEY") return "a key is given twice in the same mapping";
  if (err.code === "BAD_DQ_ESCAPE") return "invalid escape sequence in a double-quoted string";
  if (err.code === "MULTIPLE_DOCS") return "the text holds more than one YAML document";
  const reason = (err.message.split(/:\s/)[0] ?? err.code).replace(/\.$/, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

function resolveDeviceId(root: MapReader, options: ParseConfigOptions): string {
  const device = root.map("device");
  device?.checkKeys(["id"]);
  const configured = device?.string("id");
  if (configured !== undefined) return checkDeviceId(configured, "device.id");
  const envId = options.env["DEVICE_ID"];
  return checkDeviceId(envId ?? options.deviceId, envId === undefined ? "the host" : "DEVICE_ID");
}

function checkDeviceId(id: string, source: string): string {
  if (!DEVICE_ID.test(id)) {
    const from =
      source === "device.id"
        ? "'device.id'"
        : source === "DEVICE_ID"
          ? "environment variable 'DEVICE_ID'"
          : "the host (set 'device.id' or DEVICE_ID)";
    throw configError(
      "device.id",
      `device id '${id}' from ${from} must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
      { value: id },
    );
  }
  return id;
}

function readLogging(root: MapReader): Config["logging"] {
  const logging = root.map("logging");
  logging?.checkKeys(["level", "type"], { stderr: NOT_SUPPORTED, source: NOT_SUPPORTED });
  return {
    level: logging?.oneOf<LogLevel>("level", ["debug", "info", "warn", "error"]) ?? DEFAULTS.logging.level,
    format: logging?.oneOf<LogFormat>("type", ["text", "json"]) ?? DEFAULTS.logging.format,
  };
}

function readSnapshot(root: MapReader): Config["snapshot"] {
  const snapshot = root.map("snapshot");
  snapshot?.checkKeys(["interval", "retention"]);
  return {
    interval: snapshot?.duration("interval", 1) ?? DEFAULTS.snapshot.interval,
    retention: snapshot?.duration("retention", 1) ?? DEFAULTS.snapshot.retention,
  };
}

function dbDefaults(): Omit<DbConfig, "path" | "metaPath" | "replicas"> {
  const { metaPathSuffix: _, ...rest } = DEFAULTS.db;
  return { ...rest, spool: resolveSpool(undefined, undefined), restoreIfDbNotExists: false };
}

/** The settings of a `dbs:` entry other than its database or directory (keys already checked). */
function readDbSettings(r: MapReader, ctx: DbContext): Omit<DbConfig, "path" | "metaPath"> {
  const defaults = dbDefaults();
  return {
    monitorInterval: r.duration("monitor-interval", 1) ?? defaults.monitorInterval,
    checkpointInterval: r.duration("checkpoint-interval", 1) ?? defaults.checkpointInterval,
    minCheckpointPageCount: r.integer("min-checkpoint-page-count", 1) ?? defaults.minCheckpointPageCount,
    truncatePageN: r.integer("truncate-page-n", 0) ?? defaults.truncatePageN,
    busyTimeout: r.duration("busy-timeout", 0) ?? defaults.busyTimeout,
    spool: resolveSpool(ctx.spool, readSpool(r)),
    restoreIfDbNotExists: r.boolean("restore-if-db-not-exists") ?? false,
    replicas: readReplicas(r, ctx),
  };
}

/** A `dbs:` entry with `path:` (one database file). */
function readDb(r: MapReader, ctx: DbContext): DbConfig {
  const { base } = ctx;
  const path = r.path("path", base);
  if (path === undefined) {
    const field = fieldPath(r.field, "path");
    throw configError(
      field,
      `missing key '${field}' (the database file to replicate, or 'dir' and 'pattern' for a directory of them)`,
    );
  }
  const dirOnly = DIR_ONLY_KEYS.find((key) => r.has(key));
  if (dirOnly !== undefined) {
    const field = fieldPath(r.field, dirOnly);
    throw configError(
      field,
      `'${field}' is only supported with 'dir' (a directory of databases), not with 'path'${dirOnly === "meta-dir" ? " (use 'meta-path')" : ""}`,
    );
  }
  const metaPath = r.path("meta-path", base) ?? defaultMetaPath(path);
  if (metaPath === path) {
    const field = fieldPath(r.field, "meta-path");
    throw configError(field, `'${field}' must differ from the database path '${path}'`, { value: metaPath });
  }
  return { path, metaPath, ...readDbSettings(r, ctx) };
}

/** Two entries must not share a database or a meta directory. */
function checkDistinct(dbs: readonly DbConfig[], indexes: readonly number[]): void {
  const paths = new Map<string, number>();
  const metaPaths = new Map<string, number>();
  dbs.forEach((db, i) => {
    const first = paths.get(db.path);
    if (first !== undefined) {
      const field = `dbs[${indexes[i]}].path`;
      throw configError(field, `'${field}' repeats the database '${db.path}' of 'dbs[${first}].path'`, {
        value: db.path,
      });
    }
    const firstMeta = metaPaths.get(db.metaPath);
    if (firstMeta !== undefined) {
      const field = `dbs[${indexes[i]}].meta-path`;
      throw configError(field, `'${field}' repeats the meta path '${db.metaPath}' of 'dbs[${firstMeta}]'`, {
        value: db.metaPath,
      });
    }
    paths.set(db.path, indexes[i]!);
    metaPaths.set(db.metaPath, indexes[i]!);
  });
}
