/**
 * `litefleet migrate --from V03_REPLICA --to REPLICA [--history]`: converts
 * a Litestream v0.3 replica into LTX files (the v0.5 layout) so a device
 * switching from Litestream keeps its point-in-time history, and
 * `litefleet replicate` continues on top of it (its first file takes the
 * next TXID). The source is only read; the destination must hold no LTX
 * files, and is cleaned up again if the migration fails or is interrupted.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULTS } from "../config/schema.ts";
import { UsageError } from "../errors.ts";
import { formatTxid } from "../ltx/txid.ts";
import { migrateV3Replica, type MigrationProgress } from "../migrate/migrate.ts";
import { planMigration } from "../migrate/plan.ts";
import { createReplicaClient } from "../replica/registry.ts";
import type { ReplicaSpec } from "../replica/spec.ts";
import { isReplicaUrl, parseReplicaUrl } from "../replica/url.ts";
import { createV3Storage } from "../litestream-v3/layout.ts";
import { ExitCode, type CliIo } from "./io.ts";
import { formatBytes } from "./restore.ts";

/** Options of `migrate`. */
export interface MigrateCliOptions {
  readonly from?: string;
  readonly to?: string;
  readonly history?: boolean;
  readonly workDir?: string;
  readonly json?: boolean;
}

/** Runs `migrate`; returns the exit code. */
export async function runMigrate(io: CliIo, options: MigrateCliOptions): Promise<number> {
  if (options.from === undefined || options.to === undefined) {
    throw new UsageError(
      "Cannot migrate: both --from and --to are required",
      "litefleet migrate --from s3://bucket/db --to s3://bucket/db",
    );
  }
  const say = (msg: string) => {
    if (!options.json) io.stderr(`${msg}\n`);
  };
  const storage = createV3Storage(specOf(io, options.from, "--from"), { env: io.env });
  const dest = await createReplicaClient(specOf(io, options.to, "--to"), { env: io.env });
  const listing = await storage.list();
  if (listing.snapshots.length === 0 && listing.segments.length === 0) {
    throw new UsageError(
      `Cannot migrate from '${storage.location}': it holds no Litestream v0.3 backup (no generations/<id>/snapshots or wal objects)`,
      "point --from at the replica path Litestream v0.3 was configured with",
    );
  }
  const plan = planMigration(listing, { history: options.history === true, location: storage.location });
  const retention = retentionAdvice(plan, (io.now ?? Date.now)());
  const points = plan.generations.reduce((n, g) => n + g.points.length, 0);
  say(
    `Migrating Litestream v0.3 replica ${storage.location} to ${dest.location}: ` +
      `${plan.generations.length} generation(s), up to ${points} restore point(s)${options.history ? "" : " (latest state only; add --history for every restore point)"}`,
  );
  for (const s of plan.skipped)
    say(`Skipping generation ${s.generation}: ${s.reason} (restore it from the v0.3 replica with --generation)`);

  const workDir = mkdtempSync(
    join(options.workDir === undefined ? tmpdir() : resolve(io.cwd, options.workDir), "litefleet-migrate-"),
  );
  const abort = new AbortController();
  const offSignal = io.onSignal(() => abort.abort(new Error("Cannot migrate: interrupted")));
  const started = Date.now();
  try {
    const result = await migrateV3Replica(storage, dest, plan, {
      workDir,
      signal: abort.signal,
      onCleanup: (msg) => io.stderr(`${msg}\n`),
      ...(io.isTty && !options.json ? { onProgress: progressPrinter(io) } : {}),
    });
    if (io.isTty && !options.json) io.stderr("\n");
    const seconds = (Date.now() - started) / 1000;
    if (options.json) {
      io.stdout(
        `${JSON.stringify({
          migrated: true,
          from: storage.location,
          to: dest.location,
          txid: formatTxid(result.txid),
          pageSize: result.pageSize,
          files: result.files,
          bytes: result.bytes,
          readFiles: result.readFiles,
          readBytes: result.readBytes,
          generations: result.generations.map((g) => ({
            ...g,
            firstTxid: formatTxid(g.firstTxid),
            lastTxid: formatTxid(g.lastTxid),
          })),
          skipped: plan.skipped,
          ...(retention
            ? { oldestPoint: new Date(retention.oldest).toISOString(), retentionNeeded: retention.needed }
            : {}),
          seconds,
        })}\n`,
      );
    } else {
      for (const g of result.generations) {
        say(
          `  generation ${g.generation} -> TXIDs ${formatTxid(g.firstTxid)}..${formatTxid(g.lastTxid)} (${g.points} restore points)`,
        );
      }
      say(
        `Migrated to TXID ${formatTxid(result.txid)}: ${result.files} LTX files (${formatBytes(result.bytes)}) from ` +
          `${result.readFiles} v0.3 objects (${formatBytes(result.readBytes)}), integrity ok, in ${seconds.toFixed(1)}s`,
      );
      say(
        `Next: stop Litestream, then 'litefleet replicate' continues from TXID ${formatTxid(result.txid)}; the v0.3 objects were left untouched`,
      );
    }
    if (retention) {
      // Said in --json mode too (stderr): the agent would delete this history minutes later.
      io.stderr(
        `Warning: the oldest migrated restore point is from ${new Date(retention.oldest).toISOString()}, older than the ` +
          `agent's default snapshot.retention (${DEFAULTS.snapshot.retention / 3_600_000}h); the agent deletes restore points ` +
          `older than its retention after its next snapshot. To keep this history, set 'snapshot: { retention: ${retention.needed} }' ` +
          `(or longer) in the agent's config before starting 'litefleet replicate'\n`,
      );
    }
    return ExitCode.ok;
  } finally {
    offSignal();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * When the history written is older than the default retention: its oldest
 * point and a retention (whole hours, with a day to spare) that keeps it.
 */
function retentionAdvice(
  plan: ReturnType<typeof planMigration>,
  now: number,
): { oldest: number; needed: string } | undefined {
  const oldest = Math.min(...plan.generations.flatMap((g) => g.points.map((p) => p.timestamp)));
  if (!Number.isFinite(oldest) || now - oldest <= DEFAULTS.snapshot.retention) return undefined;
  return { oldest, needed: `${Math.ceil((now - oldest) / 3_600_000) + 24}h` };
}

/** A replica URL, or a plain path for a file replica (which need not exist yet for --to). */
function specOf(io: CliIo, arg: string, flag: string): ReplicaSpec {
  if (!isReplicaUrl(arg)) return { type: "file", path: resolve(io.cwd, arg) };
  try {
    return parseReplicaUrl(arg, { cwd: io.cwd });
  } catch (err) {
    if (err instanceof TypeError)
      throw new UsageError(`Cannot use ${flag}: ${err.message}`, "see docs/CONFIG.md for replica URL forms");
    throw err;
  }
}

function progressPrinter(io: CliIo): (p: MigrationProgress) => void {
  return (p) => {
    io.stderr(
      `\rgeneration ${p.generation}: ${p.pointsDone}/${p.pointsTotal} points, ${p.files} files, ${formatBytes(p.bytes)}   `,
    );
  };
}
