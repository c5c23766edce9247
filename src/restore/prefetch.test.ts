import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { txid } from "../ltx/txid.ts";
import type { LtxFileInfo } from "../replica/client.ts";
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
    // Which plan file the test has asked for last, and the fetches made ahead of it.
    let asked = -1;
    let running = 0;
    let maxRunning = 0;
    const openedBigEarly: number[] = [];
    // Counts concurrent reads ahead of the real client (a delegate, not a fake).
    const counting: PrefetchClient = {
      openLtxFile: async (key, options) => {
        const index = files.findIndex((f) => f.minTxid === key.minTxid);
        if ((sizes[index] ?? 0) > 4000 && index > asked) openedBigEarly.push(index);
        const ahead = index > asked;
        const body = await client.openLtxFile(key, options);
        if (!ahead) return body;
        running++;
        maxRunning = Math.max(maxRunning, running);
        return {
          checksums: body.checksums,
          async *[Symbol.asyncIterator]() {
            try {
              for await (const chunk of body) yield chunk;
            } finally {
              running--;
            }
          },
        };
      },
    };
    const prefetch = new PlanPrefetcher(counting, files, { parallelism: 4, maxFileBytes: 4000, maxTotalBytes: 5000 });
    try {
      for (const [i, size] of sizes.entries()) {
        asked = i;
        const bytes = await collect(await prefetch.open(i));
        expect(bytes).toEqual(new Uint8Array(size).fill(i + 1));
      }
    } finally {
      prefetch.close();
    }
    expect(prefetch.peakHeldBytes).toBeLessThanOrEqual(5000);
    expect(prefetch.peakHeldBytes).toBeGreaterThan(0);
    expect(maxRunning).toBeLessThanOrEqual(3);
    // The two files above 4000 bytes were streamed when their turn came, never fetched ahead.
    expect(openedBigEarly).toEqual([]);
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
