/**
 * `bun run bench resync`: bytes of the first L0 file after a restart that
 * follows an application checkpoint (issue #11).
 *
 * A ~35 MiB telemetry database (`--quick`: ~8 MiB) is captured by the real
 * capture (`DbCapture`, real SQLite, real files) and uploaded to a file
 * replica; the agent stops. The application then updates a few hundred
 * scattered rows, inserts some, runs its own `PRAGMA wal_checkpoint(TRUNCATE)`
 * and inserts a few more, so the agent cannot prove its saved WAL position.
 * The agent restarts and captures once. Two copies of the same state:
 *
 * - without `pages.crc` (the last capture's page checksums unknown): the
 *   full-database L0 every restart used to write;
 * - with `pages.crc`: the resync sends only the pages that differ.
 *
 * Each copy's replica is then restored at its newest TXID and compared byte
 * for byte with the application's database.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DbCapture } from "../src/agent/capture.ts";
import { LocalStore } from "../src/agent/local-store.ts";
import { nullLogger } from "../src/log.ts";
import { txid } from "../src/ltx/txid.ts";
import { FileReplicaClient } from "../src/replica/file/replica-client.ts";
import { applyRestorePlan } from "../src/restore/applier.ts";
import { planRestore } from "../src/restore/planner.ts";
import { mulberry32 } from "../test/harness/prng.ts";
import { fileHash, imageHash } from "../test/harness/sqlite-image.ts";
import { flush, testUploader } from "../test/harness/uploader.ts";
import type { BenchContext } from "./benchmark.ts";
import type { BenchOptions } from "./cli-options.ts";
import { machineInfo } from "./machine-info.ts";
import { quickRunMark } from "./report-common.ts";

const CAPTURE = {
  busyTimeoutMs: 5000,
  minCheckpointPageCount: 1000,
  truncatePageN: 121_359,
  checkpointIntervalMs: 60_000,
};
/** Rows changed while the agent is stopped. */
const UPDATES = 300;
const INSERTS_BEFORE_CHECKPOINT = 100;
const INSERTS_AFTER_CHECKPOINT = 50;
/** The capped uplink the drain time is computed for, bits per second. */
const LINK_BPS = 256_000;

interface Variant {
  readonly name: string;
  readonly pages: number;
  readonly l0Bytes: number;
  readonly uploadedBytes: number;
  readonly captureMs: number;
  readonly restored: boolean;
  readonly reason: string | undefined;
}

/** Runs the benchmark; see the module documentation. */
export async function runResyncBench(options: BenchOptions, ctx: BenchContext): Promise<number> {
  const started = new Date();
  const targetMiB = options.quick ? 8 : 35;
  const root = ctx.guard.makeTempDir("resync-");
  const base = join(root, "base");
  ctx.say(`building a ~${targetMiB} MiB database and capturing it`);
  const built = await buildCapturedDatabase(base, targetMiB);
  ctx.say(
    `database ${(built.dbBytes / 2 ** 20).toFixed(1)} MiB, ${built.pageCount} pages; first L0 ${built.firstL0Bytes} bytes`,
  );
  const variants: Variant[] = [];
  for (const [name, keepChecksums] of [
    ["full file (no usable pages.crc: the behaviour before)", false],
    ["resync with pages.crc", true],
  ] as const) {
    const dir = join(root, keepChecksums ? "after" : "before");
    cpSync(base, dir, { recursive: true });
    if (!keepChecksums) rmSync(join(dir, "state", "pages.crc"), { force: true });
    variants.push(await restartAfterAppCheckpoint(dir, name));
    ctx.say(`${name}: ${variants.at(-1)?.l0Bytes} bytes`);
  }
  const report = renderReport(options, ctx, started, built, variants);
  process.stdout.write(report);
  if (options.out) writeFileSync(options.out, report);
  return variants.every((v) => v.restored) ? 0 : 1;
}

/** Telemetry rows: a sensor name, a time, a value and a templated note (compresses about 4x, like the data). */
function row(rand: () => number, i: number): [string, number, number, string] {
  const states = ["ok", "warn", "alarm", "maintenance"];
  const state = states[Math.floor(rand() * 1.3)] ?? "ok";
  const value = Math.round(rand() * 1e6) / 100;
  const note = `{"state":"${state}","unit":"kPa","firmware":"2.4.1","site":"plant-${i % 7}","reading":${value},"seq":${i}}`;
  return [`sensor-${i % 97}`, 1_700_000_000 + i, value, note.padEnd(160, " ")];
}

async function buildCapturedDatabase(dir: string, targetMiB: number) {
  mkdirSync(dir, { recursive: true });
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath, { create: true });
  app.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000;");
  app.exec("CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, at INTEGER, value REAL, note TEXT)");
  app.exec("CREATE INDEX readings_sensor_at ON readings (sensor, at)");
  const rand = mulberry32(11);
  const insert = app.prepare("INSERT INTO readings (sensor, at, value, note) VALUES (?, ?, ?, ?)");
  let i = 0;
  while (fileBytes(app) < targetMiB * 2 ** 20) {
    app.transaction(() => {
      for (let k = 0; k < 5000; k++, i++) insert.run(...row(rand, i));
    })();
  }
  app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
  const store = LocalStore.open(join(dir, "state"));
  const replica = new FileReplicaClient({ type: "file", path: join(dir, "replica") });
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: txid(0) });
  const first = cap.sync();
  await flush(testUploader({ name: "file", client: replica, store }));
  cap.close();
  const pageCount = app.query<{ n: number }, []>("SELECT page_count AS n FROM pragma_page_count()").get()?.n ?? 0;
  app.close();
  return { rows: i, pageCount, dbBytes: Bun.file(dbPath).size, firstL0Bytes: first?.size ?? 0 };
}

function fileBytes(app: Database): number {
  return (
    app
      .query<{ n: number }, []>("SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()")
      .get()?.n ?? 0
  );
}

/** The application's changes while the agent is stopped, then one capture by a restarted agent. */
async function restartAfterAppCheckpoint(dir: string, name: string): Promise<Variant> {
  const dbPath = join(dir, "app.db");
  const app = new Database(dbPath);
  app.exec("PRAGMA busy_timeout = 5000;");
  const rows = app.query<{ n: number }, []>("SELECT max(id) AS n FROM readings").get()?.n ?? 1;
  const rand = mulberry32(23);
  const update = app.prepare("UPDATE readings SET value = ?, note = ? WHERE id = ?");
  const insert = app.prepare("INSERT INTO readings (sensor, at, value, note) VALUES (?, ?, ?, ?)");
  app.transaction(() => {
    for (let k = 0; k < UPDATES; k++) {
      const [, , value, note] = row(rand, k);
      update.run(value, note, 1 + Math.floor(rand() * rows));
    }
    for (let k = 0; k < INSERTS_BEFORE_CHECKPOINT; k++) insert.run(...row(rand, rows + k));
  })();
  app.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
  app.transaction(() => {
    for (let k = 0; k < INSERTS_AFTER_CHECKPOINT; k++) insert.run(...row(rand, rows + INSERTS_BEFORE_CHECKPOINT + k));
  })();

  const store = LocalStore.open(join(dir, "state"));
  const replica = new FileReplicaClient({ type: "file", path: join(dir, "replica") });
  const uploader = testUploader({ name: "file", client: replica, store });
  await uploader.settle();
  const t0 = performance.now();
  const cap = DbCapture.open(dbPath, { store, capture: CAPTURE, log: nullLogger(), floorTxid: uploader.maxTxid });
  const res = cap.sync();
  const captureMs = performance.now() - t0;
  if (!res) throw new Error(`Cannot measure '${name}': the restart captured nothing`);
  const hash = imageHash(app);
  const before = uploader.stats.bytes;
  await flush(uploader);
  const uploadedBytes = uploader.stats.bytes - before;
  cap.close();
  app.close();
  const out = join(dir, "restored.db");
  await applyRestorePlan(replica, await planRestore(replica, { txid: res.txid }), { output: out });
  return {
    name,
    pages: res.pages,
    l0Bytes: res.size,
    uploadedBytes,
    captureMs,
    restored: fileHash(out) === hash,
    reason: res.reason,
  };
}

function renderReport(
  options: BenchOptions,
  ctx: BenchContext,
  started: Date,
  built: Awaited<ReturnType<typeof buildCapturedDatabase>>,
  variants: readonly Variant[],
): string {
  const m = machineInfo();
  const kb = (n: number) => (n / 1024).toFixed(0);
  const lines = [
    `## resync: first L0 after a restart that follows an application TRUNCATE checkpoint${quickRunMark(options.quick)}`,
    "",
    `- Command: \`${ctx.command}\``,
    `- Date: ${started.toISOString()}`,
    `- Machine: nproc ${m.nproc}, ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}; bun ${m.bunVersion}`,
    `- Database: ${(built.dbBytes / 2 ** 20).toFixed(1)} MiB, ${built.pageCount} pages of 4096 bytes, ${built.rows} telemetry rows; its first (full) L0: ${kb(built.firstL0Bytes)} KiB.`,
    `- While the agent is stopped: ${UPDATES} scattered updates + ${INSERTS_BEFORE_CHECKPOINT} inserts, \`PRAGMA wal_checkpoint(TRUNCATE)\`, ${INSERTS_AFTER_CHECKPOINT} inserts.`,
    "",
    `| variant | pages | L0 KiB | uploaded KiB | capture ms | drain at ${LINK_BPS / 1000} kbit/s | restore byte-identical |`,
    "|---|---:|---:|---:|---:|---:|---|",
    ...variants.map(
      (v) =>
        `| ${v.name} | ${v.pages} | ${kb(v.l0Bytes)} | ${kb(v.uploadedBytes)} | ${v.captureMs.toFixed(0)} | ${((v.uploadedBytes * 8) / LINK_BPS).toFixed(0)} s | ${v.restored ? "yes" : "NO"} |`,
    ),
    "",
    `capture ms: opening the capture (which verifies the saved position against the database) plus the first sync. uploaded: the batch the uploader PUTs (the L0 merged into one file).`,
    "",
  ];
  return lines.join("\n");
}
