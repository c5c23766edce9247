/**
 * The chaos benchmark's end-of-seed checks of one database's replica: every
 * LTX object verifies, every restore point (each L0 file's max TXID still in
 * the bucket, plus the latest) restores with `litefleet restore --txid` to a
 * state the writer logged (byte for byte when it logged that exact state, by
 * content otherwise, the rule of `test/integration/replicate-e2e.test.ts`),
 * and the latest restore equals the live database after the agent's final
 * sync (nothing lost).
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { verifyLtxFile } from "../src/ltx/decoder.ts";
import { runCli } from "../test/harness/cli.ts";
import { contentHash, fileHash, imageHash, integrityCheck } from "../test/harness/sqlite-image.ts";

/** Finding classes. `mismatch` and `lost` are restored data that is wrong; the others are missing or failing things. */
export type FindingClass =
  /** A restore produced a database that is not a state the writer logged, or fails `integrity_check`. */
  | "mismatch"
  /** The latest restore is older than the writer's last commit. */
  | "lost"
  /** The latest restore has the writer's last commit but not the live database's bytes (an agent bookkeeping write missing). */
  | "latest-not-live-image"
  /** `restore --txid` of a restore point failed. */
  | "restore-failed"
  /** An LTX object in the bucket does not verify or its name disagrees with its header. */
  | "ltx-invalid"
  /** `litefleet sync` at the end failed. */
  | "sync-failed"
  /** The agent did not exit 0 on SIGTERM. */
  | "agent-exit"
  /** The agent never logged `capture started` after a (re)start. */
  | "agent-start"
  /** The benchmark itself failed (a bug here, or the seed timed out). */
  | "harness";

/** Classes that make the short CI run fail: the restored data is wrong. */
export const DATA_CLASSES: ReadonlySet<FindingClass> = new Set(["mismatch", "lost"]);

/** One finding. */
export interface Finding {
  readonly class: FindingClass;
  readonly db?: string;
  readonly txid?: string;
  readonly message: string;
}

/** What the checks of one database found. */
export interface DbCheck {
  readonly db: string;
  readonly objects: number;
  readonly restorePoints: number;
  /** Restore points equal byte for byte to a logged state. */
  readonly exact: number;
  /** Restore points equal by content only. */
  readonly byContent: number;
  readonly lastSeq: number;
  readonly findings: Finding[];
}

interface Recorded {
  seq: number;
  hash: string;
  content: string;
}

/** Reads a writer log: every logged state, by marker. */
export function readWriterLog(path: string): Map<number, Recorded[]> {
  const map = new Map<number, Recorded[]>();
  if (!existsSync(path)) return map;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    let r: Recorded;
    try {
      r = JSON.parse(line) as Recorded;
    } catch {
      continue; // A line the kill cut off.
    }
    const list = map.get(r.seq) ?? [];
    list.push(r);
    map.set(r.seq, list);
  }
  return map;
}

function markerOf(path: string): number | undefined {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("SELECT seq FROM _test_marker WHERE id = 1").get() as { seq: number } | null)?.seq ?? 0;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

function contentOf(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return contentHash(db);
  } finally {
    db.close();
  }
}

/** Where one database is replicated and logged. */
export interface CheckSubject {
  /** Short name, e.g. `db0`. */
  readonly name: string;
  readonly dbPath: string;
  readonly writerLog: string;
  /** `s3://bucket/prefix?endpoint=…` of the S3 server itself (not the proxy). */
  readonly replicaUrl: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly env: Record<string, string>;
  /** Where restored databases go. */
  readonly outDir: string;
}

/** Runs every check of one database. */
export async function checkReplica(subject: CheckSubject, s3: S3Client): Promise<DbCheck> {
  const findings: Finding[] = [];
  const db = subject.name;
  const states = readWriterLog(subject.writerLog);
  const lastSeq = Math.max(0, ...states.keys());

  // Every object verifies.
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: subject.bucket, Prefix: `${subject.prefix}/`, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.NextContinuationToken;
  } while (token !== undefined);
  const l0Max = new Set<string>();
  for (const key of keys) {
    const m = /\/([0-9a-f]{4})\/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/.exec(key);
    if (m === null) continue;
    const [, level, min, max] = m as unknown as [string, string, string, string];
    if (level === "0000") l0Max.add(max);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: subject.bucket, Key: key }));
      const bytes = await got.Body?.transformToByteArray();
      if (bytes === undefined) throw new Error("empty body");
      const file = verifyLtxFile(bytes, { path: key });
      if (file.header.minTxid !== BigInt(`0x${min}`) || file.header.maxTxid !== BigInt(`0x${max}`)) {
        throw new Error(`header says ${file.header.minTxid.toString(16)}-${file.header.maxTxid.toString(16)}`);
      }
    } catch (err) {
      findings.push({ class: "ltx-invalid", db, message: `${key}: ${(err as Error).message}` });
    }
  }

  // Every restore point.
  let exact = 0;
  let byContent = 0;
  const points = [...l0Max].sort();
  for (const id of points) {
    const out = join(subject.outDir, `${db}-${id}.db`);
    const r = await runCli(["restore", "--txid", id, "-o", out, subject.replicaUrl], { env: subject.env });
    if (r.code !== 0 || !existsSync(out)) {
      findings.push({ class: "restore-failed", db, txid: id, message: oneLine(r.stderr) });
      continue;
    }
    const verdict = compare(out, states);
    if (verdict === "exact") exact++;
    else if (verdict === "content") byContent++;
    else findings.push({ class: "mismatch", db, txid: id, message: verdict.mismatch });
  }

  // The latest: the writer's last commit, and the live database's bytes.
  const out = join(subject.outDir, `${db}-latest.db`);
  const r = await runCli(["restore", "-o", out, subject.replicaUrl], { env: subject.env });
  if (r.code !== 0 || !existsSync(out)) {
    findings.push({ class: "restore-failed", db, txid: "latest", message: oneLine(r.stderr) });
  } else {
    const marker = markerOf(out);
    const verdict = compare(out, states);
    if (typeof verdict === "object")
      findings.push({ class: "mismatch", db, txid: "latest", message: verdict.mismatch });
    else if (marker !== lastSeq)
      findings.push({
        class: "lost",
        db,
        txid: "latest",
        message: `latest restore has commit ${marker}, the writer's last is ${lastSeq}`,
      });
    else {
      if (verdict === "exact") exact++;
      else byContent++;
      const live = new Database(subject.dbPath, { readonly: true });
      const liveHash = imageHash(live);
      live.close();
      if (fileHash(out) !== liveHash)
        findings.push({
          class: "latest-not-live-image",
          db,
          txid: "latest",
          message: "latest restore differs from the live database's image (content equal)",
        });
    }
  }
  return { db, objects: keys.length, restorePoints: points.length + 1, exact, byContent, lastSeq, findings };
}

function compare(out: string, states: ReadonlyMap<number, Recorded[]>): "exact" | "content" | { mismatch: string } {
  const integrity = integrityCheck(out);
  if (integrity !== "ok") return { mismatch: `integrity_check: ${integrity.slice(0, 200)}` };
  const marker = markerOf(out);
  if (marker === undefined) return { mismatch: "no _test_marker table" };
  const recs = states.get(marker);
  if (recs === undefined) return { mismatch: `commit ${marker} was never logged by the writer` };
  const hash = fileHash(out);
  if (recs.some((r) => r.hash === hash)) return "exact";
  const content = contentOf(out);
  if (recs.some((r) => r.content === content)) return "content";
  return { mismatch: `commit ${marker}: neither bytes nor content equal any logged state of that commit` };
}

function oneLine(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 400 ? `${t.slice(0, 400)}…` : t;
}
