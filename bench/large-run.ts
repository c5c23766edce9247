/**
 * One replication case of the `large` benchmark: both agents started at
 * once, each on its own copy of the same fresh database, watched until
 * each one's first sync is complete (or it dies, or the `--rss-limit`
 * kills it, or time runs out), then stopped with SIGTERM.
 *
 * A first sync counts as complete once, for
 * {@linkcode LargeSettings.quietMs}: the agent's replica has not changed
 * (S3: no request of the agent in flight or ended; file: no file or
 * directory of the replica changed), and the agent used less than
 * {@linkcode LargeSettings.idleCpuFraction} of a core. The time to the
 * first complete sync is from the agent's start to the end of its last
 * request (S3) or its replica's latest change (file). The restore that
 * follows checks that the replica really was complete.
 *
 * @module
 */

import { stopAgent, logTail, spawnAgent, type AgentExit, type AgentProcess } from "./agent-process.ts";
import { agentRoutes, type ComparedAgent } from "./benchmark-run.ts";
import { treeStats } from "./large-database.ts";
import type { PreparedLargeAgent } from "./large-agents.ts";
import type { LargeSettings, ReplicaKind } from "./large-settings.ts";
import { WatchedProcess } from "./large-watch.ts";
import type { TrackChild } from "./process-guard.ts";
import { addToTally, attributeRequest, emptyTally, type RequestTally } from "./s3-accounting.ts";
import type { S3RequestLog } from "./s3-request-log.ts";

/** How an agent's replication ended. */
export type ReplicationOutcome =
  | { readonly kind: "synced" }
  | { readonly kind: "rss-limit"; readonly rssKiB: number; readonly afterSeconds: number }
  | {
      readonly kind: "exited";
      readonly code: number | null;
      readonly signal: string | null;
      readonly afterSeconds: number;
      readonly logTail: string;
    }
  | { readonly kind: "timeout"; readonly afterSeconds: number }
  | { readonly kind: "skipped"; readonly reason: string };

/** What one agent's replication of one case measured. */
export interface AgentReplication {
  readonly agent: ComparedAgent;
  readonly outcome: ReplicationOutcome;
  /** Seconds from start to the last replica write of the first complete sync (`synced` only). */
  readonly syncSeconds: number | undefined;
  /** CPU seconds (user + system) at the end of the watch: completion, kill or exit. */
  readonly cpuSeconds: number | undefined;
  /** `VmHWM` at the end of the watch, KiB. */
  readonly peakRssKiB: number | undefined;
  /** Largest `VmRSS` polled, KiB. */
  readonly maxSampledRssKiB: number | undefined;
  /** File replicas: bytes of the replica directory at completion. S3: filled in by the caller from a listing. */
  readonly replicaBytes: number | undefined;
  /** S3: the agent's requests from start to completion of the first sync (or to its death, kill or timeout). */
  readonly firstSync: RequestTally | undefined;
  /** S3: the agent's requests from start to exit (shutdown included). */
  readonly total: RequestTally | undefined;
  readonly exit: AgentExit | undefined;
}

type State = "running" | "stopping" | "gone";

interface Watch {
  readonly p: PreparedLargeAgent;
  readonly agentProcess: AgentProcess;
  readonly watched: WatchedProcess;
  readonly startedAt: number;
  readonly startedEpochMs: number;
  state: State;
  outcome: ReplicationOutcome | undefined;
  syncSeconds: number | undefined;
  replicaBytes: number | undefined;
  firstSync: RequestTally | undefined;
  stopping: Promise<AgentExit> | undefined;
  /** `performance.now()` of the latest replica activity seen, and the replica's last signature (file). */
  activityAt: number | undefined;
  signature: string;
  nextProgressAt: number;
}

/** What the case's agents share while they run. */
export interface LargeCaseContext {
  readonly kind: ReplicaKind;
  readonly s3log: S3RequestLog;
  readonly settings: LargeSettings;
  readonly rssLimitKiB: number;
  /** How long each agent may take to its first complete sync, ms. */
  readonly timeoutMs: number;
  readonly track: TrackChild;
  readonly say: (message: string) => void;
  /** Called on every poll (the disk watch). */
  readonly onPoll: () => void;
}

/**
 * Runs the case's agents side by side until each is done; see the module
 * doc. Never throws for an agent that dies or is killed: that is its
 * outcome.
 */
export async function runLargeCase(
  prepared: readonly PreparedLargeAgent[],
  ctx: LargeCaseContext,
): Promise<AgentReplication[]> {
  const { settings, s3log } = ctx;
  const routes = agentRoutes(
    prepared.map((p) => p.agent),
    (a) => prepared.find((p) => p.agent === a)?.replica ?? a.name,
  );
  const fromRequest = s3log.count();
  ctx.say(`starting ${prepared.map((p) => p.agent.name).join(" and ")} side by side (${ctx.kind} replicas)`);
  const watches: Watch[] = prepared.map((p) => {
    const startedAt = performance.now();
    const startedEpochMs = Date.now();
    const agentProcess = spawnAgent(p.launch, ctx.track);
    return {
      p,
      agentProcess,
      watched: new WatchedProcess(agentProcess.process, ctx.rssLimitKiB, startedAt),
      startedAt,
      startedEpochMs,
      state: "running",
      outcome: undefined,
      syncSeconds: undefined,
      replicaBytes: undefined,
      firstSync: undefined,
      stopping: undefined,
      activityAt: undefined,
      signature: "",
      nextProgressAt: startedAt + 15_000,
    };
  });

  const requestsOf = (name: string, until: number): RequestTally => {
    const tally = emptyTally();
    for (const r of s3log.requests().slice(fromRequest)) {
      if ((r.startedAt ?? 0) <= until && attributeRequest(r, routes) === name) addToTally(tally, r);
    }
    return tally;
  };

  while (watches.some((w) => w.state !== "gone")) {
    await Bun.sleep(settings.pollIntervalMs);
    const now = performance.now();
    ctx.onPoll();
    const s3 = ctx.kind === "s3" ? s3Activity(s3log, fromRequest, routes, now) : undefined;
    for (const w of watches) {
      if (w.state === "gone") continue;
      w.watched.poll(now);
      const name = w.p.agent.name;
      const seconds = (now - w.startedAt) / 1000;
      if (w.watched.exited) {
        const hit = w.watched.limitHit;
        if (w.state === "running") {
          w.outcome = hit
            ? { kind: "rss-limit", ...hit }
            : {
                kind: "exited",
                code: w.agentProcess.process.exitCode,
                signal: signalOf(w.agentProcess),
                afterSeconds: seconds,
                logTail: logTail(w.agentProcess.logPath, 8),
              };
          // What it uploaded before it died or was killed.
          if (ctx.kind === "s3") w.firstSync = requestsOf(name, now);
          ctx.say(
            `${name}: ${hit ? `exceeded --rss-limit (RSS ${Math.round(hit.rssKiB / 1024)} MiB after ${hit.afterSeconds.toFixed(1)} s), killed` : `exited on its own after ${seconds.toFixed(1)} s`}`,
          );
        }
        w.state = "gone";
        continue;
      }
      if (w.state !== "running") continue;

      // The replica's latest activity, and whether it holds anything yet.
      let hasData: boolean;
      let busy = false;
      let lastWriteSeconds: number | undefined;
      if (s3 !== undefined) {
        const a = s3.get(name);
        hasData = (a?.puts ?? 0) > 0;
        busy = a?.inFlight ?? false;
        if (a?.lastEndedAt !== undefined) {
          w.activityAt = Math.max(w.activityAt ?? 0, a.lastEndedAt);
          lastWriteSeconds = (a.lastEndedAt - w.startedAt) / 1000;
        }
      } else {
        const t = treeStats(w.p.replica);
        hasData = t.files > 0 && t.bytes > 0;
        const signature = `${t.files}/${t.bytes}/${t.latestChangeMs}`;
        if (signature !== w.signature) {
          w.signature = signature;
          w.activityAt = now;
        }
        lastWriteSeconds = t.latestChangeMs > 0 ? (t.latestChangeMs - w.startedEpochMs) / 1000 : undefined;
        w.replicaBytes = t.bytes;
      }
      if (busy) w.activityAt = now;

      const cpu = w.watched.cpuOver(settings.quietMs, now);
      const quiet = w.activityAt !== undefined && now - w.activityAt >= settings.quietMs && !busy;
      const idle = cpu !== undefined && cpu < (settings.idleCpuFraction * settings.quietMs) / 1000;
      if (hasData && quiet && idle) {
        w.outcome = { kind: "synced" };
        w.syncSeconds = lastWriteSeconds;
        if (s3 !== undefined) w.firstSync = requestsOf(name, now);
        ctx.say(
          `${name}: first sync complete after ${lastWriteSeconds?.toFixed(1) ?? "?"} s (peak RSS ${Math.round((w.watched.hwmKiB ?? 0) / 1024)} MiB); stopping it`,
        );
      } else if (now - w.startedAt > ctx.timeoutMs) {
        w.outcome = { kind: "timeout", afterSeconds: seconds };
        if (s3 !== undefined) w.firstSync = requestsOf(name, now);
        ctx.say(`${name}: no complete first sync within ${Math.round(ctx.timeoutMs / 1000)} s; stopping it`);
      } else {
        if (now >= w.nextProgressAt) {
          w.nextProgressAt = now + 15_000;
          ctx.say(
            `  ${name}: ${Math.round(seconds)} s, RSS ${Math.round((w.watched.maxRssKiB ?? 0) / 1024)} MiB max, CPU ${(w.watched.cpuSeconds ?? 0).toFixed(1)} s`,
          );
        }
        continue;
      }
      w.state = "stopping";
      w.stopping = stopAgent(w.agentProcess, settings.stopTimeoutMs);
    }
  }

  const results: AgentReplication[] = [];
  for (const w of watches) {
    const exit = w.stopping === undefined ? undefined : await w.stopping;
    results.push({
      agent: w.p.agent,
      outcome: w.outcome ?? { kind: "exited", code: null, signal: null, afterSeconds: 0, logTail: "" },
      syncSeconds: w.syncSeconds,
      cpuSeconds: w.watched.cpuSeconds,
      peakRssKiB: w.watched.hwmKiB,
      maxSampledRssKiB: w.watched.maxRssKiB,
      replicaBytes: w.replicaBytes,
      firstSync: w.firstSync,
      total: ctx.kind === "s3" ? requestsOf(w.p.agent.name, Number.POSITIVE_INFINITY) : undefined,
      exit,
    });
  }
  return results;
}

function signalOf(p: AgentProcess): string | null {
  return p.process.signalCode === null ? null : String(p.process.signalCode);
}

/** Per agent: PUT-class requests so far, whether one is in flight, and when the last one ended. */
function s3Activity(
  s3log: S3RequestLog,
  fromRequest: number,
  routes: Parameters<typeof attributeRequest>[1],
  now: number,
): Map<string, { puts: number; inFlight: boolean; lastEndedAt: number | undefined }> {
  const out = new Map<string, { puts: number; inFlight: boolean; lastEndedAt: number | undefined }>();
  for (const r of s3log.requests().slice(fromRequest)) {
    const name = attributeRequest(r, routes);
    if (name === undefined) continue;
    const a = out.get(name) ?? { puts: 0, inFlight: false, lastEndedAt: undefined };
    if (r.kind === "PutObject" || r.kind === "CompleteMultipartUpload") a.puts++;
    if (r.endedAt === undefined) a.inFlight = true;
    a.lastEndedAt = Math.max(a.lastEndedAt ?? 0, r.endedAt ?? now);
    out.set(name, a);
  }
  return out;
}
