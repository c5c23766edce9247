/**
 * Builds the agent's status object (`protocol/agent-status.ts`) from the
 * capture and the uploaders of one database.
 *
 * @module
 */

import { formatTxid } from "../ltx/txid.ts";
import type { DbStatus } from "../protocol/agent-status.ts";
import { SNAPSHOT_LEVEL } from "../replica/client.ts";
import type { DbCapture } from "./capture.ts";
import type { Uploader } from "./uploader.ts";

const MONTH_MS = 30 * 24 * 3_600_000;

/** Builds one database's status. */
export function dbStatus(input: {
  path: string;
  capture: DbCapture | undefined;
  captureError: string | undefined;
  diskFull: boolean;
  uploaders: readonly Uploader[];
  metered: ReadonlyMap<string, boolean>;
  now: number;
}): DbStatus {
  const pos = input.capture?.position;
  return {
    path: input.path,
    txid: pos ? formatTxid(pos.txid) : null,
    pageSize: pos?.pageSize ?? null,
    pages: pos?.commit ?? null,
    captureError: input.captureError ?? null,
    diskFull: input.diskFull,
    replicas: input.uploaders.map((u) => {
      const pending = u.pending();
      const s = u.stats;
      // Monotonic: a clock NTP stepped must not turn the month's projection into nonsense.
      const elapsed = Math.max(1, u.uptimeMs());
      const state = u.state;
      return {
        name: u.name,
        type: u.client.type,
        location: u.client.location,
        txid: formatTxid(state?.uploaded[0] ?? (0n as never)),
        snapshotTxid: formatTxid(state?.uploaded[SNAPSHOT_LEVEL] ?? (0n as never)),
        snapshotTime: state?.snapshotTime ?? 0,
        pending: { files: pending.files, bytes: pending.bytes, oldestAt: pending.oldestAt ?? null },
        lagMs: pending.oldestAt === undefined ? 0 : Math.max(0, input.now - pending.oldestAt),
        metered: input.metered.get(u.name) ?? null,
        lastUploadAt: s.lastUploadAt || null,
        lastError: s.lastError ?? null,
        conflict: u.conflict?.message ?? null,
        puts: s.puts,
        bytes: s.bytes,
        lists: s.lists,
        deletes: s.deletes,
        batches: s.batches,
        coalesced: s.coalesced,
        projectedPerMonth: {
          puts: Math.round((s.puts * MONTH_MS) / elapsed),
          requests: Math.round(((s.puts + s.lists + s.deletes) * MONTH_MS) / elapsed),
          bytes: Math.round((s.bytes * MONTH_MS) / elapsed),
        },
      };
    }),
  };
}
