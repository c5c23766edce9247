import { defaultReplica, thrownConfigError } from "../../test/harness/config.ts";
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { configForSingleDb, parseConfig, type ParseConfigOptions } from "./parse.ts";
import { type Config, type DbConfig, DEFAULTS, defaultMetaPath } from "./schema.ts";

const OPTIONS: ParseConfigOptions = {
  env: { HOME: "/home/op", BUCKET: "backups", N: "500", YES: "true", DEVICE_ID_ENV_ONLY: "x" },
  cwd: "/srv",
  deviceId: "host-1",
};

const replica = defaultReplica;

function db(path: string, extra: Partial<DbConfig> = {}): DbConfig {
  const { metaPathSuffix: _, ...defaults } = DEFAULTS.db;
  return {
    ...defaults,
    path,
    metaPath: defaultMetaPath(path),
    spool: { ...DEFAULTS.spool },
    restoreIfDbNotExists: false,
    replicas: [replica("file", { type: "file", path: "/srv/replica" })],
    ...extra,
  };
}

function config(extra: Partial<Config> = {}): Config {
  return {
    device: { id: "host-1" },
    logging: { ...DEFAULTS.logging },
    snapshot: { ...DEFAULTS.snapshot },
    levels: DEFAULTS.levels.map((level) => ({ ...level })),
    status: { addr: DEFAULTS.status.addr },
    metrics: { addr: undefined },
    exec: undefined,
    dbs: [],
    dirs: [],
    mqtt: undefined,
    fleet: {
      operatorKeys: [],
      restoreDirs: [],
      quiesceTimeout: DEFAULTS.fleet.quiesceTimeout,
      swapTimeout: DEFAULTS.fleet.swapTimeout,
      probe: undefined,
    },
    shutdownSyncTimeout: DEFAULTS.shutdownSyncTimeout,
    ...extra,
  };
}

/** Runs parseConfig and returns the ConfigError it throws. */
const configErrorOf = (text: string, options: Partial<ParseConfigOptions> = {}): ConfigError =>
  thrownConfigError(() => parseConfig(text, { ...OPTIONS, ...options }));

describe("parseConfig", () => {
  const ok: { name: string; text: string; options?: Partial<ParseConfigOptions>; want: Config }[] = [
    { name: "empty text gives the defaults", text: "", want: config() },
    { name: "empty dbs list", text: "dbs: []\n", want: config() },
    {
      name: "every top-level key",
      text: `
device:
  id: edge-7
logging:
  level: DEBUG
  type: json
snapshot:
  interval: 1h
  retention: 72h
levels:
  - interval: 5m
  - interval: 1h
status:
  addr: localhost:8080
metrics:
  addr: 0.0.0.0:9398
exec: /usr/bin/app --serve
spool:
  max-bytes: 1GiB
  max-age: 6h
upload:
  sync-interval: 30s
shutdown-sync-timeout: 5s
dbs: []
`,
      want: config({
        device: { id: "edge-7" },
        logging: { level: "debug", format: "json" },
        snapshot: { interval: 3_600_000, retention: 259_200_000 },
        levels: [{ interval: 300_000 }, { interval: 3_600_000 }],
        status: { addr: "localhost:8080" },
        metrics: { addr: "0.0.0.0:9398" },
        exec: "/usr/bin/app --serve",
        shutdownSyncTimeout: 5_000,
      }),
    },
    {
      name: "top-level upload and spool apply to every replica and database",
      text: `
spool: { max-age: 1h }
upload: { sync-interval: 30s, metered: no }
dbs:
  - path: a.db
    replica: { path: replica }
  - path: b.db
    spool: { max-bytes: 1MiB }
    replica: { path: replica, min-interval: 2m }
`,
      want: config({
        dbs: [
          db("/srv/a.db", {
            spool: { maxBytes: DEFAULTS.spool.maxBytes, maxAge: 3_600_000 },
            replicas: [
              {
                ...replica("file", { type: "file", path: "/srv/replica" }),
                upload: { ...DEFAULTS.upload, minInterval: 30_000, maxInterval: 30_000 },
                metered: "no",
                meteredUpload: { ...DEFAULTS.upload, minInterval: 300_000, maxInterval: 900_000 },
              },
            ],
          }),
          db("/srv/b.db", {
            spool: { maxBytes: 1_048_576, maxAge: 3_600_000 },
            replicas: [
              {
                ...replica("file", { type: "file", path: "/srv/replica" }),
                upload: { ...DEFAULTS.upload, minInterval: 120_000, maxInterval: 120_000 },
                metered: "no",
                meteredUpload: { ...DEFAULTS.upload, minInterval: 300_000, maxInterval: 900_000 },
              },
            ],
          }),
        ],
      }),
    },
    {
      name: "every db key",
      text: `
dbs:
  - path: /data/app.db
    meta-path: meta
    monitor-interval: 250ms
    checkpoint-interval: 5m
    min-checkpoint-page-count: $N
    truncate-page-n: 0
    busy-timeout: 0
    restore-if-db-not-exists: true
    replica:
      path: replica
`,
      want: config({
        dbs: [
          db("/data/app.db", {
            metaPath: "/srv/meta",
            monitorInterval: 250,
            checkpointInterval: 300_000,
            minCheckpointPageCount: 500,
            truncatePageN: 0,
            busyTimeout: 0,
            restoreIfDbNotExists: true,
          }),
        ],
      }),
    },
    {
      name: "relative paths resolve against the config file's directory",
      text: "dbs:\n  - path: ../data/app.db\n    replica: { path: ./replica/ }\n",
      options: { configPath: "etc/litefleet.yml" },
      want: config({
        dbs: [
          db("/srv/data/app.db", {
            replicas: [replica("file", { type: "file", path: "/srv/etc/replica" })],
          }),
        ],
      }),
    },
    {
      name: "~ expands to HOME",
      text: "dbs:\n  - path: ~/app.db\n    replica: { url: ~/replica }\n",
      want: config({
        dbs: [
          db("/home/op/app.db", {
            replicas: [replica("file", { type: "file", path: "/home/op/replica" })],
          }),
        ],
      }),
    },
    {
      name: "DEVICE_ID expands to device.id",
      text: "device: { id: edge-9 }\ndbs:\n  - path: app.db\n    replica: { url: 's3://$BUCKET/${DEVICE_ID}/app' }\n",
      options: { env: { ...OPTIONS.env, DEVICE_ID: "from-env" } },
      want: config({
        device: { id: "edge-9" },
        dbs: [
          db("/srv/app.db", {
            replicas: [replica("s3", { type: "s3", bucket: "backups", path: "edge-9/app" })],
          }),
        ],
      }),
    },
    {
      name: "DEVICE_ID falls back to env, then to the caller's id",
      text: "dbs:\n  - path: $DEVICE_ID.db\n    replica: { path: r }\n",
      options: { env: { DEVICE_ID: "from-env" } },
      want: config({
        device: { id: "from-env" },
        dbs: [
          db("/srv/from-env.db", {
            replicas: [replica("file", { type: "file", path: "/srv/r" })],
          }),
        ],
      }),
    },
    {
      name: "device.id is expanded from the environment only",
      text: "device: { id: 'site-${SITE}' }\n",
      options: { env: { SITE: "42" } },
      want: config({ device: { id: "site-42" } }),
    },
    {
      name: "$$ is a literal dollar",
      text: "dbs:\n  - path: 'a$$b.db'\n    replica: { path: replica }\n",
      want: config({ dbs: [db("/srv/a$b.db")] }),
    },
    {
      name: "null values count as absent",
      text: "logging:\nsnapshot:\ndbs:\n  - path: app.db\n    monitor-interval:\n    replica: { path: replica, name: }\n",
      want: config({ dbs: [db("/srv/app.db")] }),
    },
  ];
  for (const { name, text, options, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(parseConfig(text, { ...OPTIONS, ...options })).toEqual(want);
    });
  }

  const err: { name: string; text: string; options?: Partial<ParseConfigOptions>; field: string; message: string }[] = [
    {
      name: "invalid YAML",
      text: "dbs:\n  - path: a.db\n   replica: x\n",
      field: "",
      message: "Cannot read config: invalid YAML at line 3, column 1: sequence item without - indicator",
    },
    {
      name: "duplicate YAML key",
      text: "dbs: []\ndbs: []\n",
      field: "",
      message: "Cannot read config: invalid YAML at line 2, column 1: a key is given twice in the same mapping",
    },
    {
      name: "document is a list",
      text: "- a\n",
      field: "",
      message: "Cannot read config: the document must be a mapping of keys to values: received a list",
    },
    {
      name: "unknown top-level key",
      text: "dbz: []\n",
      field: "dbz",
      message: "Cannot read config: unknown key 'dbz' (did you mean 'dbs'?)",
    },
    {
      name: "unknown key without suggestion",
      text: "telemetry: true\n",
      field: "telemetry",
      message: "Cannot read config: unknown key 'telemetry'",
    },
    {
      name: "unsupported Litestream key",
      text: "addr: ':9090'\n",
      field: "addr",
      message: "Cannot read config: key 'addr' is a Litestream setting that litefleet does not support",
    },
    {
      name: "Litestream's addr names the status server key",
      text: "addr: ':9090'\n",
      field: "addr",
      message:
        "Cannot read config: key 'addr' is a Litestream setting that litefleet does not support (the status server's address is 'status.addr')",
    },
    {
      name: "shutdown-sync-timeout of zero",
      text: "shutdown-sync-timeout: 0s\n",
      field: "shutdown-sync-timeout",
      message: "Cannot read config: 'shutdown-sync-timeout' must be greater than 0: received '0s'",
    },
    {
      name: "sync-interval at the top level",
      text: "sync-interval: 1s\n",
      field: "sync-interval",
      message:
        "Cannot read config: key 'sync-interval' is only supported in the top-level 'upload' section or on each replica (e.g. 'upload.sync-interval')",
    },
    {
      name: "upload key on a database",
      text: "dbs:\n  - { path: a.db, max-interval: 1m, replica: { path: r } }\n",
      field: "dbs[0].max-interval",
      message:
        "Cannot read config: key 'dbs[0].max-interval' is only supported in the top-level 'upload' section or on each replica",
    },
    {
      name: "upload section on a database",
      text: "dbs:\n  - { path: a.db, upload: { min-interval: 1m }, replica: { path: r } }\n",
      field: "dbs[0].upload",
      message:
        "Cannot read config: key 'dbs[0].upload' is only supported at the top level (or give its keys directly on each replica)",
    },
    {
      name: "levels on a database",
      text: "dbs:\n  - { path: a.db, levels: [], replica: { path: r } }\n",
      field: "dbs[0].levels",
      message: "Cannot read config: key 'dbs[0].levels' is only supported at the top level",
    },
    {
      name: "misspelled upload section",
      text: "uplaod: {}\n",
      field: "uplaod",
      message: "Cannot read config: unknown key 'uplaod' (did you mean 'upload'?)",
    },
    {
      name: "replica setting at the top level",
      text: "endpoint: http://x\n",
      field: "endpoint",
      message: "Cannot read config: key 'endpoint' is only supported on each replica (under 'dbs[].replica')",
    },
    {
      name: "unknown logging key",
      text: "logging: { levl: info }\n",
      field: "logging.levl",
      message: "Cannot read config: unknown key 'logging.levl' (did you mean 'level'?)",
    },
    {
      name: "bad logging level",
      text: "logging: { level: verbose }\n",
      field: "logging.level",
      message:
        "Cannot read config: 'logging.level' must be one of 'debug', 'info', 'warn', 'error': received 'verbose'",
    },
    {
      name: "bad logging type",
      text: "logging: { type: pretty }\n",
      field: "logging.type",
      message: "Cannot read config: 'logging.type' must be one of 'text', 'json': received 'pretty'",
    },
    {
      name: "bare number duration",
      text: "snapshot: { interval: 10 }\n",
      field: "snapshot.interval",
      message:
        "Cannot read config: 'snapshot.interval' must be a duration like '10s' or '1m30s': cannot parse duration '10': a unit is required (e.g. '10s' or '10ms')",
    },
    {
      name: "zero interval",
      text: "snapshot: { retention: 0s }\n",
      field: "snapshot.retention",
      message: "Cannot read config: 'snapshot.retention' must be greater than 0: received '0s'",
    },
    {
      name: "dbs is a mapping",
      text: "dbs: { path: a.db }\n",
      field: "dbs",
      message: "Cannot read config: 'dbs' must be a list: received a mapping",
    },
    {
      name: "db entry is a string",
      text: "dbs:\n  - app.db\n",
      field: "dbs[0]",
      message: "Cannot read config: 'dbs[0]' must be a mapping of keys to values: received 'app.db'",
    },
    {
      name: "unknown db key",
      text: "dbs:\n  - pth: a.db\n",
      field: "dbs[0].pth",
      message: "Cannot read config: unknown key 'dbs[0].pth' (did you mean 'path'?)",
    },
    {
      name: "unsupported db key",
      text: "dbs:\n  - max-sync-wal-bytes: 1MiB\n",
      field: "dbs[0].max-sync-wal-bytes",
      message:
        "Cannot read config: key 'dbs[0].max-sync-wal-bytes' is a Litestream setting that litefleet does not support",
    },
    {
      name: "per-db snapshot",
      text: "dbs:\n  - snapshot: { interval: 1h }\n",
      field: "dbs[0].snapshot",
      message:
        "Cannot read config: key 'dbs[0].snapshot' is only supported at the top level ('snapshot.interval', 'snapshot.retention')",
    },
    {
      name: "missing db path",
      text: "dbs:\n  - replica: { path: r }\n",
      field: "dbs[0].path",
      message:
        "Cannot read config: missing key 'dbs[0].path' (the database file to replicate, or 'dir' and 'pattern' for a directory of them)",
    },
    {
      name: "db path is a URL",
      text: "dbs:\n  - path: s3://b/app.db\n",
      field: "dbs[0].path",
      message: "Cannot read config: 'dbs[0].path' must be a path, not a URL: received 's3://b/app.db'",
    },
    {
      name: "db path is a number",
      text: "dbs:\n  - path: 42\n",
      field: "dbs[0].path",
      message: `Cannot read config: 'dbs[0].path' must be a string: received 42 (put it in quotes: '"42"')`,
    },
    {
      name: "duplicate db paths",
      text: "dbs:\n  - { path: a.db, replica: { path: r1 } }\n  - { path: ./a.db, replica: { path: r2 } }\n",
      field: "dbs[1].path",
      message: "Cannot read config: 'dbs[1].path' repeats the database '/srv/a.db' of 'dbs[0].path'",
    },
    {
      name: "duplicate meta paths",
      text: "dbs:\n  - { path: a.db, meta-path: m, replica: { path: r1 } }\n  - { path: b.db, meta-path: m, replica: { path: r2 } }\n",
      field: "dbs[1].meta-path",
      message: "Cannot read config: 'dbs[1].meta-path' repeats the meta path '/srv/m' of 'dbs[0]'",
    },
    {
      name: "meta path equals db path",
      text: "dbs:\n  - { path: a.db, meta-path: a.db, replica: { path: r } }\n",
      field: "dbs[0].meta-path",
      message: "Cannot read config: 'dbs[0].meta-path' must differ from the database path '/srv/a.db'",
    },
    {
      name: "zero page count",
      text: "dbs:\n  - { path: a.db, min-checkpoint-page-count: 0, replica: { path: r } }\n",
      field: "dbs[0].min-checkpoint-page-count",
      message: "Cannot read config: 'dbs[0].min-checkpoint-page-count' must be a positive integer: received 0",
    },
    {
      name: "fractional page count",
      text: "dbs:\n  - { path: a.db, truncate-page-n: 1.5, replica: { path: r } }\n",
      field: "dbs[0].truncate-page-n",
      message: "Cannot read config: 'dbs[0].truncate-page-n' must be an integer of at least 0: received 1.5",
    },
    {
      name: "unset variable",
      text: "dbs:\n  - path: $DATA_DIR/app.db\n",
      field: "dbs[0].path",
      message: "Cannot read config: environment variable 'DATA_DIR' used in 'dbs[0].path' is not set",
    },
    {
      name: "stray dollar",
      text: "dbs:\n  - path: app$.db\n",
      field: "dbs[0].path",
      message:
        "Cannot read config: 'dbs[0].path' cannot be expanded: cannot expand environment variables: the '$' at offset 3 is not followed by a variable name (write '$$' for a literal '$')",
    },
    {
      name: "~ without HOME",
      text: "dbs:\n  - path: ~/app.db\n",
      options: { env: {} },
      field: "dbs[0].path",
      message: "Cannot read config: 'dbs[0].path' starts with '~' but environment variable 'HOME' is not set",
    },
    {
      name: "device.id cannot use the DEVICE_ID fallback",
      text: "device: { id: $DEVICE_ID }\n",
      options: { env: {} },
      field: "device.id",
      message: "Cannot read config: environment variable 'DEVICE_ID' used in 'device.id' is not set",
    },
    {
      name: "bad device.id",
      text: "device: { id: 'a/b' }\n",
      field: "device.id",
      message:
        "Cannot read config: device id 'a/b' from 'device.id' must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
    },
    {
      name: "bad fallback device id",
      text: "",
      options: { deviceId: "my host" },
      field: "device.id",
      message: "Cannot read config: device id 'my host' from the host (set 'device.id' or DEVICE_ID) must be 1 to 128",
    },
    {
      name: "unknown device key",
      text: "device: { ids: x }\n",
      field: "device.ids",
      message: "Cannot read config: unknown key 'device.ids' (did you mean 'id'?)",
    },
    {
      name: "__proto__ key",
      text: "__proto__: { polluted: true }\n",
      field: "__proto__",
      message: "Cannot read config: unknown key '__proto__'",
    },
  ];
  for (const { name, text, options, field, message } of err) {
    test(`err: ${name}`, () => {
      const e = configErrorOf(text, options);
      expect(e.field).toBe(field);
      expect(e.message).toStartWith(message);
    });
  }

  test("parseConfig() requires an absolute cwd", () => {
    expect(() => parseConfig("", { ...OPTIONS, cwd: "rel" })).toThrow(TypeError);
  });

  test("parseConfig() does not let env values inject YAML", () => {
    const got = parseConfig("dbs:\n  - path: $P\n    replica: { path: r }\n", {
      ...OPTIONS,
      env: { P: "x.db\n    replica: { url: 's3://evil' }" },
    });
    expect(got.dbs[0]?.path).toStartWith("/srv/x.db\n");
    expect(got.dbs[0]?.replicas[0]?.spec.type).toBe("file");
  });

  test("parseConfig() returns a fresh object each time", () => {
    const a = parseConfig("", OPTIONS);
    a.logging.level = "error";
    a.levels.push({ interval: 1 });
    a.status.addr = "x";
    expect(parseConfig("", OPTIONS).logging.level).toBe("info");
    expect(parseConfig("", OPTIONS).levels).toEqual(DEFAULTS.levels.map((l) => ({ ...l })));
    expect(parseConfig("", OPTIONS).status.addr).toBe(DEFAULTS.status.addr);
  });

  test("parseConfig() gives each replica its own upload objects", () => {
    const got = parseConfig(
      "upload: { windows: ['01:00-05:00'] }\ndbs:\n  - path: a.db\n    replicas: [{ path: r1 }, { path: r2 }]\n",
      OPTIONS,
    );
    const [r1, r2] = got.dbs[0]?.replicas ?? [];
    expect(r1?.windows).toEqual(r2?.windows ?? []);
    expect(r1?.windows).not.toBe(r2?.windows);
    expect(r1?.upload).not.toBe(r2?.upload);
  });
});

describe("defaultMetaPath", () => {
  test("defaultMetaPath() is a hidden sibling directory", () => {
    expect(defaultMetaPath("/var/lib/app.db")).toBe("/var/lib/.app.db-litefleet");
    expect(defaultMetaPath("/app.db")).toBe("/.app.db-litefleet");
  });
});

describe("configForSingleDb", () => {
  const options = { cwd: "/srv", deviceId: "host-1", env: { BUCKET: "b" } };

  test("configForSingleDb() builds one database with one replica and every default", () => {
    expect(configForSingleDb("app.db", "s3://$BUCKET/${DEVICE_ID}/app", options)).toEqual(
      config({
        dbs: [
          db("/srv/app.db", {
            replicas: [replica("s3", { type: "s3", bucket: "b", path: "host-1/app" })],
          }),
        ],
      }),
    );
  });

  test("configForSingleDb() takes DEVICE_ID from the environment first", () => {
    const got = configForSingleDb("/data/app.db", "backup/$DEVICE_ID", { ...options, env: { DEVICE_ID: "e2" } });
    expect(got.device.id).toBe("e2");
    expect(got.dbs[0]?.replicas[0]?.spec).toEqual({ type: "file", path: "/srv/backup/e2" });
  });

  test("configForSingleDb() reports a bad URL as field 'replica-url'", () => {
    expect(() => configForSingleDb("app.db", "gs://b/p", options)).toThrow(
      "Cannot use replica URL 'gs://b/p': scheme 'gs' is not supported (use file:// or s3://)",
    );
    try {
      configForSingleDb("app.db", "s3://$NOPE/p", options);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).field).toBe("replica-url");
      expect((e as ConfigError).message).toBe("Cannot expand environment variable 'NOPE': it is not set");
    }
  });
});
