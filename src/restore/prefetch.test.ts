import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo, ReplicaClient } from "../replica/client.ts";
import { FileReplicaClient } from "../replica/file/replica-client.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { type PrefetchClient, PlanPrefetcher } from "./prefetch.ts";

/** Reads every chunk of `chunks` into one array. */
async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe("PlanPrefetcher", () => {
  test("hands out every file's bytes in order, never holds more than its budget, streams files above the size limit", async () => {
    await using dir = await makeTempDir("lf-prefetch-");
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "r") });
    await client.init();
    // Objects need not be LTX files for the prefetcher: sizes 1000..5000 bytes, some above the limit.
    const sizes = [1000, 5000, 2000, 2000, 2000, 4500, 1000, 2000, 2000, 1500];
    const files: LtxFileInfo[] = [];
    for (const [i, size] of sizes.entries()) {
      const body = new Uint8Array(size).fill(i + 1);
      files.push(
        await client.writeLtxFile({ level: 0, minTxid: txid(i + 1), maxTxid: txid(i + 1) }, body, {
          timestamp: new Date(),
        }),
      );
    }
    let running = 0;
    let maxRunning = 0;
    let whole = 0;
    // Counts concurrent whole-file reads of the real client (a delegate, not a fake).
    const counting: PrefetchClient = {
      openLtxFile: (key, options) => client.openLtxFile(key, options),
      readLtxFile: async (...args: Parameters<ReplicaClient["readLtxFile"]>) => {
        running++;
        whole++;
        maxRunning = Math.max(maxRunning, running);
        try {
          return await client.readLtxFile(...args);
        } finally {
          running--;
        }
      },
    };
    const prefetch = new PlanPrefetcher(counting, files, { parallelism: 4, maxFileBytes: 4000, maxTotalBytes: 5000 });
    try {
      for (const [i, size] of sizes.entries()) {
        const bytes = await collect(await prefetch.open(i));
        expect(bytes).toEqual(new Uint8Array(size).fill(i + 1));
      }
    } finally {
      prefetch.close();
    }
    expect(prefetch.peakHeldBytes).toBeLessThanOrEqual(5000);
    expect(prefetch.peakHeldBytes).toBeGreaterThan(0);
    expect(maxRunning).toBeLessThanOrEqual(3);
    // The two files above 4000 bytes were streamed, not read whole.
    expect(whole).toBeLessThanOrEqual(sizes.length - 2);
  });

  test("parallelism 1 fetches nothing ahead", async () => {
    await using dir = await makeTempDir("lf-prefetch-");
    const client = new FileReplicaClient({ type: "file", path: join(dir.path, "r") });
    await client.init();
    const files = [
      await client.writeLtxFile({ level: 0, minTxid: txid(1), maxTxid: txid(1) }, new Uint8Array(10), {
        timestamp: new Date(),
      }),
      await client.writeLtxFile({ level: 0, minTxid: txid(2), maxTxid: txid(2) }, new Uint8Array(10), {
        timestamp: new Date(),
      }),
    ];
    const prefetch = new PlanPrefetcher(client, files, { parallelism: 1 });
    await collect(await prefetch.open(0));
    await collect(await prefetch.open(1));
    expect(prefetch.peakHeldBytes).toBe(0);
  });
});
