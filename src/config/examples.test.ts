/**
 * Keeps `etc/*.yml` and `docs/CONFIG.md` in step with the parser and
 * `DEFAULTS`.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatByteSize } from "./byte-size.ts";
import { formatDuration } from "./duration.ts";
import { parseConfig } from "./parse.ts";
import { REPLICA_KEYS } from "./replica-section.ts";
import { DEFAULTS } from "./schema.ts";
import { METERED_POLICY_KEYS } from "./upload-policy.ts";

const MIB = 1024 * 1024;

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
      {
        name: "file",
        spec: { type: "file", path: `${ROOT}/.tmp/quickstart/replica` },
        upload: { ...DEFAULTS.upload, minInterval: 1000, maxInterval: 1000 },
        windows: [],
        metered: "no",
        meteredUpload: {
          ...DEFAULTS.upload,
          minInterval: DEFAULTS.metered.minInterval,
          maxInterval: DEFAULTS.metered.maxInterval,
        },
        meteredSnapshots: false,
      },
    ]);
  });

  test("etc/quickstart.yml keeps the default status server", () => {
    const config = parseConfig(read("etc/quickstart.yml"), { env: {}, cwd: ROOT, deviceId: "host-1" });
    expect(config.status.addr).toBe(DEFAULTS.status.addr);
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
    expect(config.dirs).toMatchObject([
      {
        dir: "/var/lib/app/tenants",
        pattern: "*.db",
        recursive: true,
        watch: true,
        metaDir: "/var/lib/litefleet/tenants",
        settings: { replicas: [{ spec: { type: "s3", bucket: "fleet-backups", path: "plant7-gateway/tenants" } }] },
      },
    ]);
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
    expect(config.levels).toEqual([{ interval: 900_000 }, { interval: 10_800_000 }, { interval: 86_400_000 }]);
    expect(config.status).toEqual({ addr: DEFAULTS.status.addr });
    expect(config.dbs.map((db) => db.spool)).toEqual([
      { maxBytes: 64 * MIB, maxAge: DEFAULTS.spool.maxAge },
      { ...DEFAULTS.spool },
    ]);
    const metered = { minInterval: 300_000, maxInterval: 900_000, maxBatchBytes: 16 * MIB, bandwidth: 32_768 };
    const [s3, minio, usb] = config.dbs.flatMap((db) => db.replicas);
    expect(s3).toMatchObject({
      upload: { minInterval: 10_000, maxInterval: 300_000, maxBatchBytes: 16 * MIB, bandwidth: 0 },
      windows: [{ start: 22 * 60, end: 4 * 60 }],
      metered: "auto",
      meteredUpload: { ...metered, maxInterval: 1_800_000 },
      meteredSnapshots: false,
    });
    expect(minio).toMatchObject({
      upload: { minInterval: 10_000, maxInterval: 10_000, maxBatchBytes: 16 * MIB, bandwidth: 0 },
      windows: [],
      metered: "auto",
      meteredUpload: metered,
    });
    expect(usb).toMatchObject({ upload: { ...DEFAULTS.upload }, metered: "no", meteredUpload: metered });
  });

  test("etc/litefleet.example.yml shows every key", () => {
    const text = read("etc/litefleet.example.yml");
    const keys = [
      ...REPLICA_KEYS,
      ...METERED_POLICY_KEYS,
      "levels",
      "interval",
      "status",
      "addr",
      "spool",
      "max-bytes",
      "max-age",
      "upload",
    ];
    for (const key of keys) expect(text, key).toContain(`${key}:`);
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
      [
        "`levels`",
        DEFAULTS.levels.length === 0
          ? "none (`[]`)"
          : DEFAULTS.levels.map((level) => `\`${formatDuration(level.interval)}\``).join(", "),
      ],
      ["`status.addr`", `\`${DEFAULTS.status.addr}\``],
      ["`spool.max-bytes`", `\`${formatByteSize(DEFAULTS.spool.maxBytes)}\``],
      ["`spool.max-age`", `\`${formatDuration(DEFAULTS.spool.maxAge)}\``],
      ["`min-interval`", `\`${formatDuration(DEFAULTS.upload.minInterval)}\``],
      ["`max-interval`", `\`${formatDuration(DEFAULTS.upload.maxInterval)}\``],
      ["`max-batch-bytes`", `\`${formatByteSize(DEFAULTS.upload.maxBatchBytes)}\``],
      ["`bandwidth`", `\`${DEFAULTS.upload.bandwidth}\``],
      ["`metered`", `\`${DEFAULTS.metered.mode}\``],
      ["`metered-policy.min-interval`", `\`${formatDuration(DEFAULTS.metered.minInterval)}\``],
      ["`metered-policy.max-interval`", `\`${formatDuration(DEFAULTS.metered.maxInterval)}\``],
      ["`metered-policy.snapshots`", `\`${DEFAULTS.metered.snapshots}\``],
    ];
    for (const [key, value] of rows) {
      const row = doc.split("\n").find((line) => line.startsWith(`| ${key} |`));
      expect(row, `a table row for ${key}`).toBeDefined();
      expect(row).toContain(value);
    }
  });

  test("docs/CONFIG.md has a row for every replica and metered-policy key", () => {
    for (const key of REPLICA_KEYS) expect(doc).toContain(`| \`${key}\` |`);
    for (const key of METERED_POLICY_KEYS) expect(doc).toContain(`| \`metered-policy.${key}\` |`);
  });

  test("docs/CONFIG.md YAML examples parse (an operator's config as the fleet commands read it, and the agent refuses it)", () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const options = {
      env: { SITE: "plant7", S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s", MQTT_PASSWORD: "pw" },
      cwd: "/",
      deviceId: "host-1",
    };
    const operator = blocks.filter((block) => /^# an operator's config\b/.test(block));
    expect(operator).toHaveLength(1);
    for (const block of blocks) {
      const mode = operator.includes(block) ? "operator" : "agent";
      expect(() => parseConfig(block, { ...options, mode }), block.split("\n")[0]).not.toThrow();
    }
    for (const block of operator) expect(() => parseConfig(block, options)).toThrow("'mqtt.state-dir' is required");
  });

  test("docs/CONFIG.md no longer calls retention unenforced", () => {
    expect(doc).not.toMatch(/not (yet )?enforced/i);
  });
});
