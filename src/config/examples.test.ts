/**
 * Keeps `etc/*.yml` and `docs/CONFIG.md` in step with the parser and
 * `DEFAULTS`.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatDuration } from "./duration.ts";
import { parseConfig } from "./parse.ts";
import { REPLICA_KEYS } from "./replica-section.ts";
import { DEFAULTS } from "./schema.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

function read(path: string): string {
  return readFileSync(`${ROOT}/${path}`, "utf8");
}

describe("example configs", () => {
  test("etc/quickstart.yml parses and points into .tmp/quickstart", () => {
    const config = parseConfig(read("etc/quickstart.yml"), {
      env: {},
      cwd: ROOT,
      deviceId: "host-1",
      configPath: "etc/quickstart.yml",
    });
    expect(config.dbs).toHaveLength(1);
    expect(config.dbs[0]?.path).toBe(`${ROOT}/.tmp/quickstart/app.db`);
    expect(config.dbs[0]?.replicas).toEqual([
      { name: "file", spec: { type: "file", path: `${ROOT}/.tmp/quickstart/replica` }, syncInterval: 1000 },
    ]);
  });

  test("etc/litefleet.example.yml parses with its variables set", () => {
    const config = parseConfig(read("etc/litefleet.example.yml"), {
      env: {
        SITE_NAME: "plant7",
        S3_ACCESS_KEY_ID: "k",
        S3_SECRET_ACCESS_KEY: "s",
        MINIO_ACCESS_KEY_ID: "mk",
        MINIO_SECRET_ACCESS_KEY: "ms",
      },
      cwd: "/",
      deviceId: "host-1",
      configPath: `${ROOT}/etc/litefleet.example.yml`,
    });
    expect(config.device.id).toBe("plant7-gateway");
    expect(config.dbs.map((db) => db.replicas.map((r) => r.name))).toEqual([["s3"], ["minio", "usb"]]);
    expect(config.dbs[0]?.replicas[0]?.spec).toEqual({
      type: "s3",
      bucket: "fleet-backups",
      path: "plant7-gateway/app",
      endpoint: "http://minio.local:9000",
      region: "us-east-1",
      forcePathStyle: true,
      accessKeyId: "k",
      secretAccessKey: "s",
    });
  });

  test("etc/litefleet.example.yml shows every replica key", () => {
    const text = read("etc/litefleet.example.yml");
    for (const key of REPLICA_KEYS) expect(text).toContain(`${key}:`);
  });
});

describe("docs/CONFIG.md", () => {
  const doc = read("docs/CONFIG.md");

  test("docs/CONFIG.md states every default from DEFAULTS", () => {
    const rows: [string, string][] = [
      ["`logging.level`", `\`${DEFAULTS.logging.level}\``],
      ["`logging.type`", `\`${DEFAULTS.logging.format}\``],
      ["`snapshot.interval`", `\`${formatDuration(DEFAULTS.snapshot.interval)}\``],
      ["`snapshot.retention`", `\`${formatDuration(DEFAULTS.snapshot.retention)}\``],
      ["`meta-path`", `\`<dir>/.<basename>${DEFAULTS.db.metaPathSuffix}\``],
      ["`monitor-interval`", `\`${formatDuration(DEFAULTS.db.monitorInterval)}\``],
      ["`checkpoint-interval`", `\`${formatDuration(DEFAULTS.db.checkpointInterval)}\``],
      ["`min-checkpoint-page-count`", `\`${DEFAULTS.db.minCheckpointPageCount}\``],
      ["`truncate-page-n`", `\`${DEFAULTS.db.truncatePageN}\``],
      ["`busy-timeout`", `\`${formatDuration(DEFAULTS.db.busyTimeout)}\``],
      ["`sync-interval`", `\`${formatDuration(DEFAULTS.replica.syncInterval)}\``],
    ];
    for (const [key, value] of rows) {
      const row = doc.split("\n").find((line) => line.startsWith(`| ${key} |`));
      expect(row, `a table row for ${key}`).toBeDefined();
      expect(row).toContain(value);
    }
  });

  test("docs/CONFIG.md has a row for every replica key", () => {
    for (const key of REPLICA_KEYS) expect(doc).toContain(`| \`${key}\` |`);
  });
});
