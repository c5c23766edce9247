/**
 * Downloads the files of a restore plan ahead of the applier, which still
 * applies them strictly in order: up to `parallelism - 1` small files are
 * fetched while the current one is applied, so a plan of many small level-0
 * files is not one round trip per file. Memory stays bounded whatever the
 * plan: only files of at most {@linkcode PREFETCH_FILE_BYTES} are fetched
 * ahead (whole, into memory), at most {@linkcode PREFETCH_TOTAL_BYTES} of
 * them at once; a larger file is streamed when its turn comes.
 *
 * @module
 */

import type { DatabaseChecksums } from "../ltx/no-checksum.ts";
import type { LtxFileBody, LtxFileInfo, ReplicaClient } from "../replica/client.ts";

/** The largest file fetched ahead (bigger ones stream in their turn). */
export const PREFETCH_FILE_BYTES = 4 * 1024 * 1024;
/** The most bytes fetched ahead and not yet handed to the applier. */
export const PREFETCH_TOTAL_BYTES = 16 * 1024 * 1024;

/** Options of {@linkcode PlanPrefetcher}. */
export interface PrefetchOptions {
  /** Downloads at once, the current file's included; 1 = none ahead. */
  readonly parallelism: number;
  readonly signal?: AbortSignal;
  /** @default PREFETCH_FILE_BYTES */
  readonly maxFileBytes?: number;
  /** @default PREFETCH_TOTAL_BYTES */
  readonly maxTotalBytes?: number;
}

/** What the prefetcher reads through: a replica client's two reads. */
export type PrefetchClient = Pick<ReplicaClient, "openLtxFile">;

/** A file fetched ahead, or being fetched. */
interface Fetched {
  readonly size: number;
  /** The file's bytes and the checksum record its object carries (`LtxFileBody.checksums`). */
  readonly body: Promise<{ bytes: Uint8Array; checksums: DatabaseChecksums | undefined }>;
}

/**
 * Hands out the plan's files in order, each as the chunk stream
 * `ReplicaClient.openLtxFile` gives, prefetched where the limits allow.
 *
 * @example
 * ```ts
 * const prefetch = new PlanPrefetcher(client, plan.files, { parallelism: 8 });
 * try {
 *   for (const [i, info] of plan.files.entries()) await apply(info, await prefetch.open(i));
 * } finally {
 *   prefetch.close();
 * }
 * ```
 */
export class PlanPrefetcher {
  readonly #client: PrefetchClient;
  readonly #files: readonly LtxFileInfo[];
  readonly #ahead: number;
  readonly #maxFile: number;
  readonly #maxTotal: number;
  readonly #abort = new AbortController();
  readonly #fetched = new Map<number, Fetched>();
  /** Next plan index to consider for a fetch ahead. */
  #scan = 0;
  #inFlight = 0;
  /** Bytes of the files fetched ahead (or being fetched) not yet handed out. */
  #held = 0;
  /** The largest `#held` seen (tests check the bound). */
  #peak = 0;

  constructor(client: PrefetchClient, files: readonly LtxFileInfo[], options: PrefetchOptions) {
    this.#client = client;
    this.#files = files;
    this.#ahead = Math.max(0, Math.floor(options.parallelism) - 1);
    this.#maxFile = options.maxFileBytes ?? PREFETCH_FILE_BYTES;
    this.#maxTotal = options.maxTotalBytes ?? PREFETCH_TOTAL_BYTES;
    options.signal?.addEventListener("abort", () => this.#abort.abort(options.signal?.reason), { once: true });
  }

  /** The most bytes held ahead at once so far. */
  get peakHeldBytes(): number {
    return this.#peak;
  }

  /**
   * The chunks of plan file `index` (call with 0, 1, 2 … in order): its
   * bytes fetched ahead, or a stream opened now. Starts the next fetches.
   * @throws the storage's error for this file (`NotFoundError`, `ReplicaError` …)
   */
  async open(index: number): Promise<LtxFileBody> {
    if (this.#scan <= index) this.#scan = index + 1;
    const ahead = this.#fetched.get(index);
    this.#fetched.delete(index);
    this.#fill();
    if (ahead === undefined) {
      return this.#client.openLtxFile(this.#files[index] as LtxFileInfo, { signal: this.#abort.signal });
    }
    try {
      const { bytes, checksums } = await ahead.body;
      return { checksums, [Symbol.asyncIterator]: () => oneChunk(bytes) };
    } finally {
      this.#held -= ahead.size;
      this.#fill();
    }
  }

  /** Stops every fetch still running (their results are dropped). */
  close(): void {
    this.#abort.abort();
    this.#fetched.clear();
  }

  /** Starts fetches ahead while a download slot and the byte budget allow. */
  #fill(): void {
    while (this.#inFlight < this.#ahead && this.#scan < this.#files.length && !this.#abort.signal.aborted) {
      const index = this.#scan;
      const info = this.#files[index] as LtxFileInfo;
      if (info.size > this.#maxFile) {
        this.#scan++;
        continue;
      }
      if (this.#held + info.size > this.#maxTotal) return;
      this.#scan++;
      this.#inFlight++;
      this.#held += info.size;
      this.#peak = Math.max(this.#peak, this.#held);
      const body = readWhole(this.#client, info, this.#abort.signal).finally(() => {
        this.#inFlight--;
        this.#fill();
      });
      // A failure surfaces when the applier reaches this file (or never, after close).
      body.catch(() => {});
      this.#fetched.set(index, { size: info.size, body });
    }
  }
}

async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** A whole (small) file in memory, with the checksum record of its object. */
async function readWhole(
  client: PrefetchClient,
  info: LtxFileInfo,
  signal: AbortSignal,
): Promise<{ bytes: Uint8Array; checksums: DatabaseChecksums | undefined }> {
  const body = await client.openLtxFile(info, { signal });
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk.slice());
  return { bytes: Buffer.concat(chunks), checksums: body.checksums };
}
