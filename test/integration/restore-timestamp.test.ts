/**
 * `restore --timestamp` picks states by their LTX header timestamp, never by
 * an object's listed time. Regression test for issue #11: S3 lists
 * `LastModified` in whole seconds, truncated, so a file whose header says
 * 20:18:52.465 was listed as 20:18:52 and taken for a target of
 * 20:18:52.033, restoring a state made after the target.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { S3ReplicaClient } from "../../src/replica/s3/replica-client.ts";
import { listAllLtxFiles } from "../../src/restore/planner.ts";
import { runCli } from "../harness/cli.ts";
import { writeLtxChain } from "../harness/ltx-chain.ts";
import { startS3Server } from "../harness/s3-server.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { txid } from "../../src/ltx/txid.ts";

/** Database images after each of `rows` is inserted. */
function images(rows: readonly string[]): Uint8Array[] {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (v TEXT)");
  const out: Uint8Array[] = [];
  for (const v of rows) {
    db.run("INSERT INTO t (v) VALUES (?)", [v]);
    out.push(new Uint8Array(db.serialize()));
  }
  db.close();
  return out;
}

describe("restore --timestamp (issue #11)", () => {
  test("a file listed in the target's second but stamped after the target is not restored", async () => {
    await using dir = await makeTempDir("restore-ts-");
    await using s3 = await startS3Server({ buckets: ["fleet"] });
    const env = { LITEFLEET_ACCESS_KEY_ID: s3.accessKeyId, LITEFLEET_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const url = `s3://fleet/dev1/app.db?endpoint=${s3.endpoint}`;
    const client = new S3ReplicaClient(
      { type: "s3", bucket: "fleet", path: "dev1/app.db", endpoint: s3.endpoint, forcePathStyle: true },
      { env },
    );
    await client.init();
    const [s1, s2, s3image] = images(["one", "two", "three"]) as [Uint8Array, Uint8Array, Uint8Array];

    // TXID 3 is stamped just before its upload; its LastModified is that
    // second, truncated. Retry until the upload stays inside the second the
    // header names, with room for a target between the two.
    let stamped = 0;
    let listed = 0;
    for (let attempt = 0; attempt < 20 && !(listed + 2 <= stamped); attempt++) {
      const now = Date.now();
      if (now % 1000 > 800) {
        await Bun.sleep(1000 - (now % 1000) + 10);
      }
      stamped = Date.now();
      await client.deleteAll();
      await writeLtxChain(
        client,
        [
          { image: s1, timestamp: stamped - 5000 },
          { image: s2, timestamp: stamped - 3000 },
          { image: s3image, timestamp: stamped },
        ],
        { pageSize: 4096 },
      );
      const third = (await listAllLtxFiles(client)).find((f) => f.maxTxid === txid(3));
      listed = third?.createdAt.getTime() ?? Infinity;
    }
    expect(listed % 1000).toBe(0); // S3 (and s3rver) list whole seconds
    expect(listed + 2).toBeLessThanOrEqual(stamped);

    const target = new Date(listed + Math.floor((stamped - listed) / 2));
    expect(target.getTime()).toBeLessThan(stamped);
    const out = join(dir.path, "restored.db");
    const res = await runCli(["restore", "-o", out, "--timestamp", target.toISOString(), "--json", url], { env });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ restored: true, txid: "0000000000000002" });
    const db = new Database(out, { readonly: true });
    expect(db.query("SELECT v FROM t ORDER BY rowid").all()).toEqual([{ v: "one" }, { v: "two" }]);
    db.close();

    // At the header timestamp itself, TXID 3 fits.
    const atStamp = join(dir.path, "at-stamp.db");
    const exact = await runCli(
      ["restore", "-o", atStamp, "--timestamp", new Date(stamped).toISOString(), "--json", url],
      { env },
    );
    expect(exact.code).toBe(0);
    expect(JSON.parse(exact.stdout)).toMatchObject({ restored: true, txid: "0000000000000003" });
  }, 60_000);
});
