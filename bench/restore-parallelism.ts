/**
 * `bun run bench restore-parallelism`: `restore --parallelism 1` vs `8` of
 * a replica of 500 small level-0 files on S3 (s3rver on loopback, in this
 * process), through the CLI in-process. Prints seconds per run (best of
 * three) and checks the two outputs are byte-identical. A loopback s3rver
 * has almost no latency, so this understates the gain over a real link.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { S3ReplicaClient } from "../src/replica/s3/replica-client.ts";
import { runCli } from "../test/harness/cli.ts";
import { writeLtxChain } from "../test/harness/ltx-chain.ts";
import { startS3Server } from "../test/harness/s3-server.ts";
import { makeTempDir } from "../test/harness/temp-dir.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";

const FILES = 500;

/** Runs the benchmark; resolves with the exit code. */
export async function runRestoreParallelism(_options: BenchOptions, ctx: BenchContext): Promise<number> {
  await using dir = await makeTempDir("lf-bench-parallel-");
  await using s3 = await startS3Server({ buckets: ["fleet"] });
  const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const client = new S3ReplicaClient(
    { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
    { env },
  );
  await client.init();
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  const states: Array<{ image: Uint8Array; timestamp: number }> = [];
  for (let i = 0; i < FILES; i++) {
    db.run("INSERT INTO t (v) VALUES (?)", [`${i}`.padEnd(200, "x")]);
    states.push({ image: new Uint8Array(db.serialize()), timestamp: 1_700_000_000_000 + i });
  }
  db.close();
  ctx.say(`writing ${FILES} level-0 files to s3rver …`);
  await writeLtxChain(client, states, { pageSize: 4096 });
  const source = `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`;
  const hashes = new Map<number, string>();
  for (const n of [1, 8]) {
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 3; run++) {
      const out = join(dir.path, `p${n}-${run}.db`);
      const started = performance.now();
      const res = await runCli(
        ["restore", "--parallelism", String(n), "--integrity-check", "none", "-o", out, source],
        {
          env,
        },
      );
      if (res.code !== 0) throw new Error(`restore --parallelism ${n} failed: ${res.stderr}`);
      best = Math.min(best, (performance.now() - started) / 1000);
      hashes.set(n, new Bun.CryptoHasher("sha256").update(readFileSync(out)).digest("hex"));
    }
    console.log(`--parallelism ${n}: ${best.toFixed(2)} s (best of 3, ${FILES} files)`);
  }
  const same = hashes.get(1) === hashes.get(8);
  console.log(`outputs byte-identical: ${same}`);
  return same ? 0 : 1;
}
