/**
 * Uploaders for tests that want every capture in the replica at once: an
 * explicit sync each time (one batch per call), no compaction, unlimited
 * bandwidth.
 *
 * @module
 */

import type { LocalStore } from "../../src/agent/local-store.ts";
import { Uploader, type TickResult } from "../../src/agent/uploader.ts";
import type { UploadPolicy } from "../../src/config/schema.ts";
import { nullLogger } from "../../src/log.ts";
import type { ReplicaClient } from "../../src/replica/client.ts";

const POLICY: UploadPolicy = { minInterval: 1000, maxInterval: 1000, maxBatchBytes: 64 * 1024 * 1024, bandwidth: 0 };

/** An uploader with a plain policy, no levels and a 24 h retention. */
export function testUploader(options: {
  name: string;
  client: ReplicaClient;
  store: LocalStore;
  levels?: ReadonlyArray<{ interval: number }>;
}): Uploader {
  return new Uploader({
    name: options.name,
    client: options.client,
    store: options.store,
    log: nullLogger(),
    replica: { upload: POLICY, meteredUpload: POLICY, windows: [], meteredSnapshots: true },
    levels: options.levels ?? [],
    snapshotRetentionMs: 24 * 3_600_000,
    spool: { maxBytes: 1 << 30, maxAge: 24 * 3_600_000 },
  });
}

/** Batches and uploads everything pending now. */
export function flush(u: Uploader): Promise<TickResult> {
  return u.tick({ metered: false, explicit: true });
}
