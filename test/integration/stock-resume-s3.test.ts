/**
 * Issue #14, handing a database back to stock Litestream v0.5 over an S3
 * replica (s3rver): the graceful stop's handover tip is one stock resumes
 * from incrementally, and when the replica is unreachable at the stop, the
 * spool keeps the data until `replicate --once` sends it and writes the tip.
 * The model of stock's resume reads and writes through our S3 client
 * (`stockResumeVia`, `stockNextL0Via`: stock's `MaxLTXFileInfo`,
 * `OpenLTXFile`, `WriteLTXFile`); the agent runs in its own process.
 */
import { describe, expect, test } from "bun:test";
import { decodeHeader, HEADER_SIZE } from "../../src/ltx/header.ts";
import type { LtxFileInfo, ReplicaClient } from "../../src/replica/client.ts";
import { createReplicaClient } from "../../src/replica/registry.ts";
import { parseReplicaUrl } from "../../src/replica/url.ts";
import { startAgent } from "../harness/agent-process.ts";
import { runCli } from "../harness/cli.ts";
import { startS3Server, type S3Server } from "../harness/s3-server.ts";
import { capturesMergedAtStop, expectStockRoundTrip, setupStockSide } from "../harness/stock-handover.ts";
import { stockResumeVia } from "../harness/stock-litestream-resume.ts";
import { startTcpProxy } from "../harness/tcp-proxy.ts";
import { makeTempDir } from "../harness/temp-dir.ts";

const UPLOAD = ["min-interval: 1h", "max-interval: 1h", "access-key-id: S3RVER", "secret-access-key: S3RVER"];

function urlOf(endpoint: string): string {
  return `s3://bkt/app.db?endpoint=${endpoint}`;
}

/** The replica on `s3` as the model and `litefleet restore` reach it (directly, never through a proxy). */
async function stockView(s3: S3Server) {
  const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const source = urlOf(s3.endpoint);
  const client = await createReplicaClient(parseReplicaUrl(source), { env });
  return { env, source, client };
}

async function l0Files(client: ReplicaClient): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for await (const f of client.listLtxFiles(0)) out.push(f);
  return out;
}

const merged = (f: LtxFileInfo | undefined) => f !== undefined && f.minTxid !== f.maxTxid;

describe("handing over to stock Litestream v0.5 on S3 (issue #14)", () => {
  test("after a graceful stop over merged batches, stock resumes incrementally at the tip's WAL position; its next file restores", async () => {
    await using s3 = await startS3Server({ buckets: ["bkt"] });
    await using dir = await makeTempDir("stock-resume-s3-");
    const s = setupStockSide(dir.path, UPLOAD, { url: urlOf(s3.endpoint) });
    const log = await capturesMergedAtStop(s);
    expect(log).toContain("handover tip written");
    const view = await stockView(s3);
    const files = await l0Files(view.client);
    const tip = files.at(-1) as LtxFileInfo;
    expect(merged(tip)).toBe(false);
    expect(merged(files.at(-2))).toBe(true);
    const h = decodeHeader(await view.client.readLtxFile(tip, { offset: 0, size: HEADER_SIZE }), { path: "tip" });
    const resume = await stockResumeVia(s.db, view.client);
    expect(resume).toMatchObject({
      decision: "incremental",
      txid: tip.maxTxid,
      offset: Number(h.walOffset + h.walSize),
    });
    expect(resume.offset).toBeGreaterThan(32 + 4096 + 24);
    await expectStockRoundTrip({ ...s, replica: view.client, source: view.source, env: view.env }, dir.path, resume);
    s.app.close();
  }, 30_000);

  test("the replica unreachable at the stop: the data waits in the spool; replicate --once sends it and stock resumes incrementally", async () => {
    await using s3 = await startS3Server({ buckets: ["bkt"] });
    const { hostname, port } = new URL(s3.endpoint);
    await using proxy = await startTcpProxy({ target: { host: hostname, port: Number(port) } });
    await using dir = await makeTempDir("stock-resume-s3-");
    const s = setupStockSide(dir.path, UPLOAD, {
      url: urlOf(proxy.endpoint),
      top: ["shutdown-sync-timeout: 1s"],
    });
    const agent = startAgent(s.cfg);
    await agent.waitForLog("capture started");
    for (let i = 0; i < 3; i++) {
      s.insert(20);
      await agent.waitForLog(`txid=${i + 2} `);
    }
    proxy.cut();
    const log = await agent.stop();
    expect(log).toContain("final upload did not finish; the spool keeps the data for next start");
    const view = await stockView(s3);
    // Nothing of this run reached the bucket: stock would snapshot, it has nothing to resume from.
    expect(await l0Files(view.client)).toEqual([]);

    proxy.resume();
    const once = await runCli(["replicate", "--once", "--config", s.cfg]);
    expect({ code: once.code, stderr: once.stderr }).toMatchObject({ code: 0 });
    expect(merged((await l0Files(view.client)).at(-1))).toBe(false);
    const resume = await stockResumeVia(s.db, view.client);
    expect(resume.decision).toBe("incremental");
    await expectStockRoundTrip({ ...s, replica: view.client, source: view.source, env: view.env }, dir.path, resume);
    s.app.close();
  }, 30_000);
});
