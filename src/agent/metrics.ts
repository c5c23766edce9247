/**
 * Prometheus text exposition (version 0.0.4) of the agent's counters and
 * gauges. Names follow Litestream's with a `litefleet_` prefix; labels are
 * `db` and `replica`. Nothing secret is ever a label (replica names, not
 * URLs).
 *
 * @module
 */

import type { MqttLinkStatus } from "../protocol/agent-status.ts";
import type { DbAgent } from "./db-agent.ts";

type Kind = "counter" | "gauge";

/** One metric family being built. */
interface Family {
  readonly help: string;
  readonly kind: Kind;
  readonly samples: string[];
}

/** Renders every metric of `agents`. */
export function renderMetrics(agents: readonly DbAgent[], mqtt: MqttLinkStatus | null = null): string {
  const families = new Map<string, Family>();
  const add = (name: string, kind: Kind, help: string, labels: Record<string, string>, value: number) => {
    let f = families.get(name);
    if (!f) {
      f = { help, kind, samples: [] };
      families.set(name, f);
    }
    f.samples.push(`${name}${formatLabels(labels)} ${Number.isFinite(value) ? value : 0}`);
  };
  for (const a of agents) {
    const db = { db: a.path };
    const c = a.counters;
    const pos = a.capture?.position;
    add("litefleet_txid", "gauge", "Last captured TXID.", db, pos ? Number(pos.txid) : 0);
    const sizes = a.capture?.fileSizes();
    add("litefleet_db_size_bytes", "gauge", "Size of the database file.", db, sizes?.db ?? 0);
    add("litefleet_wal_size_bytes", "gauge", "Size of the -wal file.", db, sizes?.wal ?? 0);
    add("litefleet_sync_count", "counter", "Captures (syncs) run.", db, c.syncs);
    add("litefleet_sync_error_count", "counter", "Captures that failed.", db, c.syncErrors);
    add("litefleet_sync_seconds", "counter", "Time spent capturing.", db, c.syncSeconds);
    for (const [mode, n] of Object.entries(c.checkpoints)) {
      add("litefleet_checkpoint_count", "counter", "Checkpoints run by the agent.", { ...db, mode }, n);
    }
    add("litefleet_checkpoint_seconds", "counter", "Time spent checkpointing.", db, c.checkpointSeconds);
    const status = a.status();
    add(
      "litefleet_capture_failing",
      "gauge",
      "1 while captures fail (status captureError).",
      db,
      status.captureError === null ? 0 : 1,
    );
    add(
      "litefleet_disk_full",
      "gauge",
      "1 while the last capture or batch failed because a disk is full.",
      db,
      status.diskFull ? 1 : 0,
    );
    for (const [i, u] of a.uploaders.entries()) {
      const r = { ...db, replica: u.name };
      const s = u.stats;
      const rs = status.replicas[i];
      add(
        "litefleet_replica_txid",
        "gauge",
        "Highest TXID the replica holds at level 0.",
        r,
        Number(u.state?.uploaded[0] ?? 0n),
      );
      add(
        "litefleet_replica_operation_total",
        "counter",
        "Requests to the replica by operation.",
        { ...r, operation: "PUT" },
        s.puts,
      );
      add(
        "litefleet_replica_operation_total",
        "counter",
        "Requests to the replica by operation.",
        { ...r, operation: "LIST" },
        s.lists,
      );
      add(
        "litefleet_replica_operation_total",
        "counter",
        "Requests to the replica by operation.",
        { ...r, operation: "DELETE" },
        s.deletes,
      );
      add("litefleet_replica_operation_bytes", "counter", "Bytes uploaded to the replica.", r, s.bytes);
      add("litefleet_replica_operation_errors_total", "counter", "Failed remote attempts.", r, s.errors);
      add("litefleet_replica_batches_total", "counter", "Batches formed.", r, s.batches);
      add("litefleet_replica_coalesced_total", "counter", "Times waiting batches were coalesced.", r, s.coalesced);
      add(
        "litefleet_pending_bytes",
        "gauge",
        "Bytes captured but not yet in the replica (the spool).",
        r,
        rs?.pending.bytes ?? 0,
      );
      add("litefleet_pending_files", "gauge", "Files captured but not yet in the replica.", r, rs?.pending.files ?? 0);
      add(
        "litefleet_lag_seconds",
        "gauge",
        "Age of the oldest change not yet in the replica.",
        r,
        (rs?.lagMs ?? 0) / 1000,
      );
      add(
        "litefleet_last_upload_timestamp_seconds",
        "gauge",
        "Unix time of the last successful upload (0 = none yet).",
        r,
        s.lastUploadAt / 1000,
      );
      add(
        "litefleet_replica_failing",
        "gauge",
        "1 while the replica's last attempt failed (status lastError).",
        r,
        rs?.lastError ? 1 : 0,
      );
      add(
        "litefleet_replica_conflict",
        "gauge",
        "1 while another writer's files stop uploads to the replica.",
        r,
        rs?.conflict ? 1 : 0,
      );
      add("litefleet_metered", "gauge", "1 while the replica uses its metered policy.", r, rs?.metered ? 1 : 0);
    }
  }
  if (mqtt) {
    add("litefleet_mqtt_connected", "gauge", "1 while connected to the MQTT broker.", {}, mqtt.connected ? 1 : 0);
    add("litefleet_mqtt_connections_total", "counter", "MQTT connections made since start.", {}, mqtt.connections);
    add("litefleet_mqtt_outbox_events", "gauge", "Events waiting in the on-disk outbox.", {}, mqtt.outboxEvents);
  }
  let out = "";
  for (const [name, f] of families) {
    out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.kind}\n${f.samples.join("\n")}\n`;
  }
  return out;
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`,
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}
