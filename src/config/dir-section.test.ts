import { describe, expect, test } from "bun:test";
import { defaultReplica, thrownConfigError } from "../../test/harness/config.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import { DEFAULTS } from "./schema.ts";

const OPTIONS: ParseConfigOptions = { env: {}, cwd: "/srv", deviceId: "host-1" };

describe("readDirEntry", () => {
  test("a 'dir' entry becomes a directory entry with its per-database settings", () => {
    const config = parseConfig(
      `dbs:
  - dir: data
    pattern: "*.db"
    recursive: true
    watch: true
    meta-dir: /var/lib/litefleet
    monitor-interval: 2s
    replica: { url: s3://b/prefix }
`,
      OPTIONS,
    );
    expect(config.dbs).toEqual([]);
    const { metaPathSuffix: _, ...db } = DEFAULTS.db;
    expect(config.dirs).toEqual([
      {
        index: 0,
        dir: "/srv/data",
        pattern: "*.db",
        recursive: true,
        watch: true,
        metaDir: "/var/lib/litefleet",
        settings: {
          ...db,
          monitorInterval: 2000,
          spool: { ...DEFAULTS.spool },
          restoreIfDbNotExists: false,
          replicas: [defaultReplica("s3", { type: "s3", bucket: "b", path: "prefix" })],
        },
      },
    ]);
  });

  test("recursive and watch default to false, meta-dir to none", () => {
    const [entry] = parseConfig('dbs:\n  - { dir: /d, pattern: "*.db", replica: { path: /r } }\n', OPTIONS).dirs;
    expect(entry).toMatchObject({ recursive: false, watch: false, metaDir: undefined });
  });

  test("the MQTT state dir defaults into the first directory entry's dir (a hidden name)", () => {
    const config = parseConfig(
      'mqtt: { url: "mqtt://localhost" }\ndbs:\n  - { dir: /d, pattern: "*.db", replica: { path: /r } }\n',
      OPTIONS,
    );
    expect(config.mqtt?.stateDir).toBe("/d/.litefleet-fleet");
  });

  const errors: { name: string; text: string; field: string; message: string }[] = [
    {
      name: "dir and path",
      text: 'dbs:\n  - { dir: /d, path: /d/a.db, pattern: "*.db", replica: { path: /r } }\n',
      field: "dbs[0]",
      message:
        "Cannot read config: 'dbs[0]' has both 'path' and 'dir' (one database file, or a directory of them: use one)",
    },
    {
      name: "dir without pattern",
      text: "dbs:\n  - { dir: /d, replica: { path: /r } }\n",
      field: "dbs[0].pattern",
      message:
        "Cannot read config: missing key 'dbs[0].pattern': 'dir' needs a pattern of database file names, e.g. '*.db'",
    },
    {
      name: "invalid pattern",
      text: 'dbs:\n  - { dir: /d, pattern: "[a.db", replica: { path: /r } }\n',
      field: "dbs[0].pattern",
      message:
        "Cannot read config: 'dbs[0].pattern' is not a valid pattern: Cannot use pattern '[a.db': a '[' is never closed by ']'",
    },
    {
      name: "meta-path with dir",
      text: 'dbs:\n  - { dir: /d, pattern: "*.db", meta-path: /m, replica: { path: /r } }\n',
      field: "dbs[0].meta-path",
      message:
        "Cannot read config: 'dbs[0].meta-path' names the state of one database; with 'dir' use 'meta-dir' (each found database's state goes under it by relative path)",
    },
    {
      name: "meta-dir searched by the entry",
      text: 'dbs:\n  - { dir: /d, pattern: "*", recursive: true, meta-dir: /d/meta, replica: { path: /r } }\n',
      field: "dbs[0].meta-dir",
      message:
        "Cannot read config: 'dbs[0].meta-dir' must not be a directory 'dbs[0]' searches for databases ('/d' and below); use a hidden name such as '/d/.litefleet-meta' or a directory elsewhere",
    },
    {
      name: "pattern with path",
      text: 'dbs:\n  - { path: /d/a.db, pattern: "*.db", replica: { path: /r } }\n',
      field: "dbs[0].pattern",
      message:
        "Cannot read config: 'dbs[0].pattern' is only supported with 'dir' (a directory of databases), not with 'path'",
    },
    {
      name: "meta-dir with path",
      text: "dbs:\n  - { path: /d/a.db, meta-dir: /m, replica: { path: /r } }\n",
      field: "dbs[0].meta-dir",
      message:
        "Cannot read config: 'dbs[0].meta-dir' is only supported with 'dir' (a directory of databases), not with 'path' (use 'meta-path')",
    },
    {
      name: "misspelt directory key",
      text: 'dbs:\n  - { dir: /d, patern: "*.db", replica: { path: /r } }\n',
      field: "dbs[0].patern",
      message: "Cannot read config: unknown key 'dbs[0].patern' (did you mean 'pattern'?)",
    },
  ];
  for (const { name, text, field, message } of errors) {
    test(`err: ${name}`, () => {
      const err = thrownConfigError(() => parseConfig(text, OPTIONS));
      expect({ field: err.field, message: err.message }).toEqual({ field, message });
    });
  }
});

describe("checkDirEntries", () => {
  const errors: { name: string; text: string; field: string; message: string }[] = [
    {
      name: "a path entry a directory entry also claims",
      text: 'dbs:\n  - { dir: /d, pattern: "*.db", replica: { path: /r1 } }\n  - { path: /d/a.db, replica: { path: /r2 } }\n',
      field: "dbs[1].path",
      message:
        "Cannot read config: 'dbs[1].path' is the database '/d/a.db', which 'dbs[0]' (dir '/d', pattern '*.db') also replicates; remove one of them",
    },
    {
      name: "two entries with the same pattern on nested directories",
      text: 'dbs:\n  - { dir: /d, pattern: "*.db", recursive: true, replica: { path: /r1 } }\n  - { dir: /d/sub, pattern: "*.db", replica: { path: /r2 } }\n',
      field: "dbs[1].dir",
      message:
        "Cannot read config: 'dbs[1].dir' ('/d/sub') and 'dbs[0].dir' ('/d') would both replicate the '*.db' databases they share; give them distinct patterns or directories",
    },
    {
      name: "two entries sharing a meta-dir",
      text: 'dbs:\n  - { dir: /a, pattern: "*.db", meta-dir: /m, replica: { path: /r1 } }\n  - { dir: /b, pattern: "*.db", meta-dir: /m, replica: { path: /r2 } }\n',
      field: "dbs[1].meta-dir",
      message: "Cannot read config: 'dbs[1].meta-dir' repeats the meta dir '/m' of 'dbs[0]'",
    },
  ];
  for (const { name, text, field, message } of errors) {
    test(`err: ${name}`, () => {
      const err = thrownConfigError(() => parseConfig(text, OPTIONS));
      expect({ field: err.field, message: err.message }).toEqual({ field, message });
    });
  }

  test("ok: distinct patterns on one directory, and a path entry the pattern does not match", () => {
    const config = parseConfig(
      'dbs:\n  - { dir: /d, pattern: "*.db", replica: { path: /r1 } }\n  - { dir: /d, pattern: "*.sqlite", replica: { path: /r2 } }\n  - { path: /d/sub/a.db, replica: { path: /r3 } }\n',
      OPTIONS,
    );
    expect(config.dirs.map((e) => e.index)).toEqual([0, 1]);
    expect(config.dbs.map((d) => d.path)).toEqual(["/d/sub/a.db"]);
  });
});
