import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { makeTempDir } from "../test/harness/temp-dir.ts";
import { checkLayers, importsOf, readImports } from "./check-layers.ts";

/** Writes `files` (path → text) under `root`. */
function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

describe("checkLayers", () => {
  test("importsOf() finds static, multi-line, re-export, side-effect and dynamic imports with their lines", () => {
    const text = [
      'import { a } from "./a.ts";',
      "import {",
      "  b,",
      '} from "../b/b.ts";',
      'export * from "mqtt";',
      'import "./side.ts";',
      'const m = await import("../c/c.ts");',
    ].join("\n");
    expect(importsOf("x/y.ts", text).map((e) => [e.line, e.specifier])).toEqual([
      [1, "./a.ts"],
      [4, "../b/b.ts"],
      [5, "mqtt"],
      [6, "./side.ts"],
      [7, "../c/c.ts"],
    ]);
  });

  test("reports a folder cycle, the SDK outside replica/s3/ and mqtt outside fleet/ and protocol/, with file:line", async () => {
    await using dir = await makeTempDir("check-layers-");
    writeTree(dir.path, {
      "config/mqtt.ts": 'import { x } from "../fleet/topics.ts";\n',
      "fleet/topics.ts":
        'import mqtt from "mqtt";\nimport {\n  y,\n} from "../agent/status.ts";\nexport const x = 1;\n',
      "agent/status.ts": '\nimport type { Config } from "../config/mqtt.ts";\n',
      "agent/status.test.ts": 'import { S3Client } from "@aws-sdk/client-s3";\n',
      "aggregate/sink.ts": 'import { S3Client } from "@aws-sdk/client-s3";\nimport { log } from "../log.ts";\n',
      "replica/s3/sdk.ts": 'export { S3Client } from "@aws-sdk/client-s3";\n',
      "replica/url.ts": 'import { S3Client } from "@aws-sdk/client-s3";\n',
      "protocol/url.ts": 'import type { IClientOptions } from "mqtt";\n',
      "cli/main.ts": 'import mqtt from "mqtt";\nimport { x } from "../fleet/topics.ts";\n',
      "log.ts": "export const log = 1;\n",
    });
    expect(checkLayers(readImports(dir.path), new Map())).toEqual([
      'src/agent/status.test.ts:1: @aws-sdk/* imported outside src/{replica/s3}/ ("@aws-sdk/client-s3")',
      'src/aggregate/sink.ts:1: @aws-sdk/* imported outside src/{replica/s3}/ ("@aws-sdk/client-s3")',
      'src/cli/main.ts:1: mqtt imported outside src/{fleet,protocol}/ ("mqtt")',
      'src/replica/url.ts:1: @aws-sdk/* imported outside src/{replica/s3}/ ("@aws-sdk/client-s3")',
      'src/agent/status.ts:2: folder cycle agent → config → … → agent ("../config/mqtt.ts")',
      'src/config/mqtt.ts:1: folder cycle config → fleet → … → config ("../fleet/topics.ts")',
      'src/fleet/topics.ts:4: folder cycle fleet → agent → … → fleet ("../agent/status.ts")',
    ]);
  });

  test("a listed exception excuses its import and fails once the import is gone", () => {
    const edges = importsOf("aggregate/sink.ts", 'import { S3Client } from "@aws-sdk/client-s3";\n');
    const exceptions = new Map([
      ["aggregate/sink.ts", "@aws-sdk/*"],
      ["restore/old.ts", "@aws-sdk/*"],
    ]);
    expect(checkLayers(edges, exceptions)).toEqual([
      "src/restore/old.ts: listed exception (@aws-sdk/*) is gone: remove it from scripts/check-layers.ts",
    ]);
  });

  test("src/ passes", () => {
    expect(checkLayers(readImports(resolve(import.meta.dir, "../src")))).toEqual([]);
  });
});
