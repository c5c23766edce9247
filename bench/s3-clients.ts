/**
 * `bun run bench s3-clients` (issue #13): the memory of each S3 client
 * candidate, measured the same way in one run against the same s3rver.
 * Each candidate runs in a fresh `bun` process of its own
 * (`s3-clients-child.ts`, which imports nothing before its measurements
 * start), so module loading is measured from zero; see that file for the
 * phases. Candidates: the AWS SDK v3 (`@aws-sdk/client-s3` +
 * `@aws-sdk/lib-storage`, a dev dependency kept for this comparison and for
 * tests), Bun's built-in `S3Client`, and litefleet's own SigV4 client
 * (`src/replica/s3/object-store.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { startS3Server } from "../test/harness/s3-server.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { BIG_SIZE, CANDIDATES, type ChildReport } from "./s3-clients-child.ts";

const MiB = 1024 * 1024;

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** The report: one row per candidate, MiB. */
export function formatS3ClientsReport(reports: readonly ChildReport[], command: string): string {
  const rows = reports.map(
    (r) =>
      `| ${r.candidate} | ${mib(r.baseRssKiB)} | ${mib(r.importRssKiB)} (+${mib(r.importRssKiB - r.baseRssKiB)}) | ${mib(r.smallRssKiB)} / ${mib(r.smallHwmKiB)} | ` +
      `${mib(r.uploadHwmKiB)} (${(r.uploadMs / 1000).toFixed(2)} s) | ${mib(r.downloadHwmKiB)} (${(r.downloadMs / 1000).toFixed(2)} s) |`,
  );
  return [
    `S3 client candidates, one fresh \`bun ${Bun.version}\` process each, against s3rver on loopback (\`${command}\`):`,
    "",
    "| client | RSS at start | RSS after import + new client | after 100 × PUT/GET/LIST: RSS / VmHWM | 64 MiB upload from a file: VmHWM (time) | 64 MiB streamed download: VmHWM (time) |",
    "|---|--:|--:|--:|--:|--:|",
    ...rows,
    "",
    "MiB. VmHWM is reset (`/proc/self/clear_refs`) before each phase, so each peak is that phase's own; uploads are multipart with 5 MiB parts, two in flight.",
    "",
  ].join("\n");
}

/** The benchmark: s3rver here, one child per candidate. */
export async function runS3Clients(_options: BenchOptions, ctx: BenchContext): Promise<number> {
  await using s3 = await startS3Server({ buckets: ["bench"] });
  const dir = ctx.guard.makeTempDir("litefleet-s3-clients-");
  const bigPath = join(dir, "big.bin");
  // Incompressible, so no layer can shortcut it.
  const chunk = new Uint8Array(MiB);
  const file = Bun.file(bigPath).writer();
  for (let i = 0; i < BIG_SIZE / MiB; i++) {
    crypto.getRandomValues(chunk.subarray(0, 65536));
    for (let j = 65536; j < MiB; j += 65536) chunk.copyWithin(j, 0, 65536);
    file.write(chunk);
  }
  await file.end();
  const reports: ChildReport[] = [];
  for (const candidate of CANDIDATES) {
    ctx.say(`measuring ${candidate}`);
    const child = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, "s3-clients-child.ts"),
        candidate,
        s3.endpoint,
        "bench",
        s3.accessKeyId,
        s3.secretAccessKey,
        bigPath,
      ],
      { stdout: "pipe", stderr: "inherit" },
    );
    const out = await new Response(child.stdout).text();
    if ((await child.exited) !== 0)
      throw new Error(`Cannot measure ${candidate}: its process exited with ${child.exitCode}`);
    const report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as ChildReport;
    if (report.downloadedBytes !== BIG_SIZE)
      throw new Error(`Cannot measure ${candidate}: downloaded ${report.downloadedBytes} of ${BIG_SIZE} bytes`);
    reports.push(report);
  }
  process.stdout.write(formatS3ClientsReport(reports, ctx.command));
  return 0;
}
