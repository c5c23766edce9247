import { describe, expect, test } from "bun:test";
import { claimedPath, dirDbConfig, findConfiguredDb, isOwnStateName } from "./dir-entry.ts";
import { parseConfig } from "./parse.ts";

const config = parseConfig(
  `dbs:
  - path: /solo/app.db
    replica: { path: /r/solo }
  - dir: /data
    pattern: "*.db"
    recursive: true
    replicas:
      - url: s3://b/prefix
      - url: s3://b
      - path: /r/data
  - dir: /flat
    pattern: "*.sqlite?"
    meta-dir: /var/lib/lf
    replica: { path: /r/flat }
`,
  { env: {}, cwd: "/", deviceId: "host-1" },
);
const [data, flat] = config.dirs as [(typeof config.dirs)[0], (typeof config.dirs)[0]];

describe("claimedPath", () => {
  test("claimedPath() gives the relative path of a matching database", () => {
    expect(claimedPath(data, "/data/app.db")).toBe("app.db");
    expect(claimedPath(data, "/data/a/b/app.db")).toBe("a/b/app.db");
    expect(claimedPath(flat, "/flat/x.sqlite3")).toBe("x.sqlite3");
  });

  test("claimedPath() refuses other names, other directories, depth without recursive and our own state", () => {
    for (const path of [
      "/data/app.sqlite",
      "/data/app.db-wal",
      "/data/.app.db-litefleet/x.db",
      "/data/.hidden.db",
      "/data/app.litefleet-lock",
      "/data/x-litefleet/a.db",
      "/data",
      "/database/app.db",
      "/elsewhere/app.db",
      "/flat/sub/x.sqlite3",
    ]) {
      expect({ path, rel: claimedPath(path.startsWith("/flat") ? flat : data, path) }).toEqual({
        path,
        rel: undefined,
      });
    }
  });

  test("isOwnStateName() covers SQLite's side files and litefleet's state", () => {
    expect(
      ["app.db-wal", "app.db-shm", "app.db-journal", "app.db.tmp", ".x", "a-litefleet"].every(isOwnStateName),
    ).toBe(true);
    expect(isOwnStateName("app.db")).toBe(false);
  });
});

describe("dirDbConfig", () => {
  test("dirDbConfig() appends the relative path to every replica and puts state beside the database", () => {
    const db = dirDbConfig(data, "/data/sub/app.db");
    expect(db.path).toBe("/data/sub/app.db");
    expect(db.metaPath).toBe("/data/sub/.app.db-litefleet");
    expect(db.replicas.map((r) => r.spec.path)).toEqual(["prefix/sub/app.db", "sub/app.db", "/r/data/sub/app.db"]);
    expect(db.replicas.map((r) => r.name)).toEqual(data.settings.replicas.map((r) => r.name));
  });

  test("dirDbConfig() puts state under meta-dir by relative path", () => {
    expect(dirDbConfig(flat, "/flat/x.sqlite3").metaPath).toBe("/var/lib/lf/x.sqlite3-litefleet");
  });

  test("dirDbConfig() throws for a path the entry does not claim", () => {
    expect(() => dirDbConfig(flat, "/flat/x.db")).toThrow(
      new RangeError("Cannot use '/flat/x.db': it is not a '*.sqlite?' database under '/flat'"),
    );
  });
});

describe("findConfiguredDb", () => {
  test("findConfiguredDb() finds a path entry, else a directory entry's database, else nothing", () => {
    expect(findConfiguredDb(config, "/solo/app.db")?.replicas[0]?.spec.path).toBe("/r/solo");
    expect(findConfiguredDb(config, "/flat/y.sqlite1")?.replicas[0]?.spec.path).toBe("/r/flat/y.sqlite1");
    expect(findConfiguredDb(config, "/solo/other.db")).toBeUndefined();
  });
});
