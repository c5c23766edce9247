/**
 * One seed of the chaos benchmark, in its own process (so two seeds can run
 * side by side on two cores): s3rver behind the fault proxy, the real agent
 * (`bun src/cli/main.ts replicate --config …`), one writer process per
 * database, the seed's schedule, the drain, and the checks of
 * `chaos-check.ts`. Writes its {@linkcode SeedResult} as JSON.
 *
 * Usage: bun bench/chaos-seed.ts '{"seed":1,"durationSeconds":20,"longOutages":"auto","work":"/tmp/x","out":"/tmp/x/result.json","enospc":true}'
 *
 * @module
 */

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { checkReplica, type DbCheck, type Finding } from "./chaos-check.ts";
import {
  drawSchedule,
  requestDecider,
  type ChaosEvent,
  type ChaosSchedule,
  type LongOutageMode,
} from "./chaos-schedule.ts";
import { fill, mountTmpfs, treeBytes, unfill, unmount } from "./chaos-tmpfs.ts";
import { runCli, CLI_ENTRY } from "../test/harness/cli.ts";
import { freePort } from "../test/harness/free-port.ts";
import { startS3Server } from "../test/harness/s3-server.ts";
import { startS3FaultProxy, type FaultKind } from "../test/harness/s3-fault-proxy.ts";

const WRITER = new URL("./chaos-writer.ts", import.meta.url).pathname;
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const BUCKET = "chaos";
/** Size of database 0's state-directory tmpfs in ENOSPC seeds. */
const TMPFS_SIZE = "96m";

/** Input of one seed run. */
export interface SeedInput {
  readonly seed: number;
  readonly durationSeconds: number;
  readonly longOutages: LongOutageMode;
  readonly maxLongOutageSeconds?: number;
  readonly work: string;
  readonly out: string;
  /** Whether a tmpfs can be mounted (ENOSPC events). */
  readonly enospc: boolean;
}

/** The first upload after one (re)start of the agent. */
export interface FirstUpload {
  /** Seconds from the seed's start. */
  readonly startedAt: number;
  /** Which start: 0 is the first. */
  readonly start: number;
  /** `Content-Length` of the first PutObject/UploadPart after it, or undefined when none came before the next start. */
  readonly bytes: number | undefined;
  readonly key: string | undefined;
}

/** What one seed recorded. */
export interface SeedResult {
  readonly seed: number;
  readonly schedule: ChaosSchedule;
  readonly seconds: number;
  readonly requests: number;
  readonly faults: Readonly<Record<FaultKind | "outage", number>>;
  readonly eventsRun: number;
  readonly agentStarts: number;
  readonly writerStarts: number;
  readonly enospcFilledBytes: number;
  readonly firstUploads: readonly FirstUpload[];
  /** Per database: peak bytes of the state directory and the database size at the end. */
  readonly spool: readonly { db: string; peakSpoolBytes: number; dbBytesAtPeak: number; dbBytesEnd: number }[];
  readonly checks: readonly DbCheck[];
  readonly findings: readonly Finding[];
  readonly agentExit: number | string | undefined;
  /** Error and warning lines of the agent log (first 40). */
  readonly agentLogExcerpt: readonly string[];
  readonly agentLog: string;
  /** Every upload request the proxy saw (time from the seed's start, operation, key, `Content-Length`, fault), to trace a damaged object. */
  readonly uploads: readonly { t: number; op: string; key: string; bytes: number; fault: string | undefined }[];
}

/** Every child this process started, killed when it is told to stop or its parent goes away. */
const children = new Set<Subprocess>();
let cleanupMount: (() => void) | undefined;

function track<T extends Subprocess>(child: T): T {
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

function abandon(code: number): never {
  for (const c of children) c.kill("SIGKILL");
  cleanupMount?.();
  process.exit(code);
}

async function runSeed(input: SeedInput): Promise<SeedResult> {
  const t0 = performance.now();
  const since = (): number => Math.round((performance.now() - t0) / 100) / 10;
  const schedule = drawSchedule(input.seed, {
    durationSeconds: input.durationSeconds,
    longOutages: input.longOutages,
    maxLongOutageSeconds: input.maxLongOutageSeconds,
    enospc: input.enospc,
  });
  const findings: Finding[] = [];
  const work = input.work;
  mkdirSync(work, { recursive: true });
  const dbNames = Array.from({ length: schedule.dbs }, (_, i) => `db${i}`);
  const dbPath = (name: string): string => join(work, `${name}.db`);
  const stateDir = (name: string): string => join(work, `.${name}.db-litefleet`);
  const agentLog = join(work, "agent.log");
  const clockFile = join(work, "faketime");
  const usesClock = schedule.events.some((e) => e.kind === "clock-step");
  const usesEnospc = schedule.events.some((e) => e.kind === "enospc");
  writeFileSync(clockFile, "+0\n");

  await using s3 = await startS3Server({ buckets: [BUCKET] });
  await using proxy = await startS3FaultProxy({ target: s3.endpoint });
  const statusPort = await freePort();
  if (usesEnospc) {
    mountTmpfs(stateDir("db0"), TMPFS_SIZE);
    cleanupMount = () => unmount(stateDir("db0"));
  }
  try {
    const cfg = join(work, "litefleet.yml");
    writeFileSync(cfg, configYaml(schedule, { dbNames, dbPath, endpoint: proxy.endpoint, statusPort }));

    // Writers first: each creates its database and logs the empty state.
    const writers = new Map<string, Subprocess>();
    let writerStarts = 0;
    const allWriters: Subprocess[] = [];
    const writerDown = new Map<string, Promise<void>>();
    const startWriter = (name: string, i: number): void => {
      const running = writers.get(name);
      if (running !== undefined && running.exitCode === null && running.signalCode === null) {
        findings.push({ class: "harness", db: name, message: "writer restart while it still ran (skipped)" });
        return;
      }
      writerStarts++;
      const err = openSync(join(work, `${name}.writer.err`), "a");
      const w = track(
        Bun.spawn(
          [
            process.execPath,
            WRITER,
            dbPath(name),
            join(work, `${name}.writer.log`),
            String(schedule.seed * 31 + i * 7 + writerStarts),
            String(schedule.writerIntervalMs),
          ],
          { stdout: "ignore", stderr: err },
        ),
      );
      writers.set(name, w);
      allWriters.push(w);
      closeSync(err);
    };
    for (const [i, n] of dbNames.entries()) startWriter(n, i);
    for (const name of dbNames)
      await waitFor(() => existsSync(join(work, `${name}.writer.log`)), 20_000, `writer ${name} to start`);

    // The agent, under libfaketime when the seed steps its clock.
    let agent: Subprocess | undefined;
    let agentStarts = 0;
    const starts: number[] = [];
    const agentEnv: Record<string, string> = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      TMPDIR: process.env["TMPDIR"] ?? "/tmp",
    };
    if (usesClock) {
      Object.assign(agentEnv, {
        LD_PRELOAD: LIBFAKETIME,
        FAKETIME_TIMESTAMP_FILE: clockFile,
        // Re-read the file at least every second, and leave CLOCK_MONOTONIC alone:
        // a real clock step (NTP, RTC) moves only the wall clock, and a faked
        // monotonic clock going back would stall every timer for the whole step.
        FAKETIME_CACHE_DURATION: "1",
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
      });
    }
    const startAgent = async (): Promise<void> => {
      const fd = openSync(agentLog, "a");
      writeSync(fd, `--- chaos: agent start ${agentStarts} at ${since()} s\n`);
      starts.push(Date.now());
      agent = track(
        Bun.spawn([process.execPath, CLI_ENTRY, "replicate", "--config", cfg], {
          env: agentEnv,
          stdin: "ignore",
          stdout: fd,
          stderr: fd,
        }),
      );
      closeSync(fd);
      agentStarts++;
      const before = countIn(agentLog, "capture started");
      const p = agent;
      const ok = await waitFor(
        () => countIn(agentLog, "capture started") >= before + schedule.dbs || p.exitCode !== null,
        90_000,
        "",
      ).then(
        () => p.exitCode === null,
        () => false,
      );
      if (!ok)
        findings.push({
          class: "agent-start",
          message: `start ${agentStarts - 1}: no 'capture started' for every database (exit ${p.exitCode}); ${lastLines(agentLog, 3)}`,
        });
    };
    await startAgent();
    proxy.setDecider(requestDecider(schedule));

    // Spool sampler.
    const peaks = new Map(dbNames.map((n) => [n, { peakSpoolBytes: 0, dbBytesAtPeak: 0 }]));
    const sampler = setInterval(() => {
      for (const n of dbNames) {
        const spool = treeBytes(stateDir(n));
        const p = peaks.get(n);
        if (p !== undefined && spool > p.peakSpoolBytes) {
          p.peakSpoolBytes = spool;
          p.dbBytesAtPeak = fileSize(dbPath(n)) + fileSize(`${dbPath(n)}-wal`);
        }
      }
    }, 250);

    // The events.
    let enospcFilledBytes = 0;
    let agentDown: Promise<void> = Promise.resolve();
    const runEvent = async (e: ChaosEvent): Promise<void> => {
      await Bun.sleep(Math.max(0, e.at * 1000 - (performance.now() - tStart)));
      switch (e.kind) {
        case "agent-kill": {
          const before = agentDown;
          let release!: () => void;
          agentDown = new Promise((r) => (release = r));
          await before;
          try {
            agent?.kill("SIGKILL");
            await agent?.exited;
            await Bun.sleep(e.downSeconds * 1000);
            await startAgent();
          } finally {
            release();
          }
          return;
        }
        case "writer-kill": {
          // Kills of one writer take turns, like the agent's: a kill during
          // the previous one's downtime waits until that restart happened.
          const name = dbNames[e.db] as string;
          const before = writerDown.get(name) ?? Promise.resolve();
          let release!: () => void;
          writerDown.set(name, new Promise((r) => (release = r)));
          await before;
          try {
            const w = writers.get(name);
            w?.kill("SIGKILL");
            await w?.exited;
            await Bun.sleep(e.downSeconds * 1000);
            startWriter(name, e.db);
          } finally {
            release();
          }
          return;
        }
        case "outage":
          proxy.startOutage();
          await Bun.sleep(e.seconds * 1000);
          proxy.endOutage();
          return;
        case "clock-step":
          writeFileSync(clockFile, `${e.offset}\n`);
          return;
        case "enospc":
          enospcFilledBytes += fill(stateDir("db0"));
          await Bun.sleep(e.seconds * 1000);
          unfill(stateDir("db0"));
          return;
      }
    };
    const tStart = performance.now();
    const eventRuns = await Promise.allSettled(schedule.events.map(runEvent));
    for (const r of eventRuns)
      if (r.status === "rejected")
        findings.push({ class: "harness", message: `event failed: ${(r.reason as Error).message}` });
    await Bun.sleep(Math.max(0, schedule.durationSeconds * 1000 - (performance.now() - tStart)));

    // Drain: faults off, writers stopped, sync, SIGTERM.
    proxy.setDecider(undefined);
    proxy.endOutage();
    unfill(stateDir("db0"));
    await agentDown;
    await Promise.all(writerDown.values());
    for (const w of allWriters) w.kill("SIGTERM");
    await Promise.all(allWriters.map((w) => w.exited));
    const sync = await runCli(["sync", "--addr", `127.0.0.1:${statusPort}`, "--timeout", "120"]);
    if (sync.code !== 0)
      findings.push({
        class: "sync-failed",
        message: `litefleet sync exited ${sync.code}: ${oneLine(sync.stderr + sync.stdout)}`,
      });
    let agentExit: number | string | undefined;
    if (agent !== undefined) {
      const a = agent;
      a.kill("SIGTERM");
      const timer = setTimeout(() => a.kill("SIGKILL"), 60_000);
      await a.exited;
      clearTimeout(timer);
      agentExit = a.exitCode ?? String(a.signalCode);
      if (agentExit !== 0)
        findings.push({
          class: "agent-exit",
          message: `agent exited with ${agentExit} on SIGTERM; ${lastLines(agentLog, 3)}`,
        });
    }
    clearInterval(sampler);

    // Checks, against s3rver itself.
    const outDir = join(work, "restored");
    mkdirSync(outDir, { recursive: true });
    const sdk = s3.sdkClient();
    const checks: DbCheck[] = [];
    for (const name of dbNames) {
      try {
        const c = await checkReplica(
          {
            name,
            dbPath: dbPath(name),
            writerLog: join(work, `${name}.writer.log`),
            replicaUrl: `s3://${BUCKET}/${name}?endpoint=${s3.endpoint}`,
            bucket: BUCKET,
            prefix: name,
            env: { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey },
            outDir,
          },
          sdk,
        );
        checks.push(c);
        findings.push(...c.findings);
      } catch (err) {
        findings.push({ class: "harness", db: name, message: `check failed: ${(err as Error).message}` });
      }
    }

    // First upload after each start.
    const firstUploads: FirstUpload[] = starts.map((at, i) => {
      const next = starts[i + 1] ?? Infinity;
      const put = proxy.log.find(
        (r) => r.time >= at && r.time < next && (r.op === "PutObject" || r.op === "UploadPart"),
      );
      return {
        start: i,
        startedAt: Math.round((at - starts[0]!) / 100) / 10,
        bytes: put?.contentLength,
        key: put === undefined ? undefined : decodeURIComponent(new URL(put.url, "http://x").pathname),
      };
    });
    const logText = readText(agentLog);
    return {
      seed: schedule.seed,
      schedule,
      seconds: since(),
      requests: proxy.log.length,
      faults: { ...proxy.counts },
      eventsRun: schedule.events.length,
      agentStarts,
      writerStarts,
      enospcFilledBytes,
      firstUploads,
      spool: dbNames.map((n) => ({
        db: n,
        ...(peaks.get(n) ?? { peakSpoolBytes: 0, dbBytesAtPeak: 0 }),
        dbBytesEnd: fileSize(dbPath(n)) + fileSize(`${dbPath(n)}-wal`),
      })),
      checks,
      findings,
      agentExit,
      agentLogExcerpt: logText
        .split("\n")
        .filter((l) => /\b(ERROR|WARN|error|warn)\b|level":"(error|warn)/.test(l))
        .slice(0, 40),
      agentLog,
      uploads: proxy.log
        .filter((r) => r.method === "PUT" || r.method === "POST")
        .map((r) => ({
          t: Math.round((r.time - (starts[0] ?? r.time)) / 100) / 10,
          op: r.op,
          key: decodeURIComponent(new URL(r.url, "http://x").pathname),
          bytes: r.contentLength,
          fault: r.fault,
        })),
    };
  } finally {
    if (usesEnospc) unmount(stateDir("db0"));
  }
}

function configYaml(
  s: ChaosSchedule,
  o: { dbNames: string[]; dbPath: (n: string) => string; endpoint: string; statusPort: number },
): string {
  const lines = [
    `status: { addr: "127.0.0.1:${o.statusPort}" }`,
    "device: { id: chaos }",
    "logging: { level: info }",
    `snapshot: { interval: ${s.snapshotInterval}, retention: 24h }`,
  ];
  if (s.levels.length > 0) lines.push("levels:", ...s.levels.map((l) => `  - interval: ${l}`));
  if (s.spoolMaxBytes !== undefined) lines.push(`spool: { max-bytes: ${s.spoolMaxBytes} }`);
  lines.push("dbs:");
  for (const n of o.dbNames) {
    lines.push(
      `  - path: ${o.dbPath(n)}`,
      "    monitor-interval: 100ms",
      "    checkpoint-interval: 5s",
      "    min-checkpoint-page-count: 200",
      "    replica:",
      `      url: s3://${BUCKET}/${n}?endpoint=${o.endpoint}`,
      "      access-key-id: S3RVER",
      "      secret-access-key: S3RVER",
      `      sync-interval: ${s.syncIntervalMs}ms`,
    );
  }
  return `${lines.join("\n")}\n`;
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`Cannot wait for ${what}: timed out after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function countIn(path: string, text: string): number {
  return readText(path).split(text).length - 1;
}

function lastLines(path: string, n: number): string {
  return oneLine(readText(path).trimEnd().split("\n").slice(-n).join(" | "));
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function oneLine(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 400 ? `${t.slice(0, 400)}…` : t;
}

if (import.meta.main) {
  const input = JSON.parse(process.argv[2] ?? "{}") as SeedInput;
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => abandon(143));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) abandon(143);
  }, 500).unref();
  try {
    const result = await runSeed(input);
    writeFileSync(input.out, JSON.stringify(result, null, 1));
    process.exit(0);
  } catch (err) {
    process.stderr.write(`chaos seed ${input.seed}: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
}
