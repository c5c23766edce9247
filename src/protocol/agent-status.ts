/**
 * The agent's status object: what `litefleet status` prints, what the local
 * status server serves, and what the fleet link summarizes over MQTT
 * (`messages.ts`). Versioned JSON with TXIDs as 16-hex strings and times as
 * Unix milliseconds. The agent builds it (`agent/status.ts`, `agent/store.ts`).
 *
 * @module
 */

/** Bumped when a field changes meaning or disappears. */
export const STATUS_VERSION = 1;

/** One replica of one database. */
export interface ReplicaStatus {
  readonly name: string;
  readonly type: string;
  readonly location: string;
  /** Highest TXID uploaded at level 0 (the batch chain). */
  readonly txid: string;
  readonly snapshotTxid: string;
  readonly snapshotTime: number;
  readonly pending: { readonly files: number; readonly bytes: number; readonly oldestAt: number | null };
  /** How long the oldest change not yet in the replica has waited (0 = caught up). */
  readonly lagMs: number;
  readonly metered: boolean | null;
  readonly lastUploadAt: number | null;
  readonly lastError: string | null;
  /**
   * Set when the replica holds files another writer wrote (a cloned image,
   * a duplicated device ID): uploads to it are stopped. Null otherwise.
   */
  readonly conflict: string | null;
  /** Since the agent started. */
  readonly puts: number;
  readonly bytes: number;
  readonly lists: number;
  readonly deletes: number;
  readonly batches: number;
  readonly coalesced: number;
  /**
   * PUTs, all requests (PUT + LIST + DELETE) and bytes per 30 days at the
   * rate seen since start.
   */
  readonly projectedPerMonth: { readonly puts: number; readonly requests: number; readonly bytes: number };
}

/** One database. */
export interface DbStatus {
  readonly path: string;
  /** Last captured TXID, or null before the first sync. */
  readonly txid: string | null;
  readonly pageSize: number | null;
  readonly pages: number | null;
  /** Why the last capture failed, while captures fail (null = capturing). */
  readonly captureError: string | null;
  /** True while the last capture or a batch failed because a disk is full. */
  readonly diskFull: boolean;
  readonly replicas: readonly ReplicaStatus[];
}

/** The MQTT fleet link, when the config has one. */
export interface MqttLinkStatus {
  readonly connected: boolean;
  /** Session sequence of the current (or last) connection. */
  readonly session: number;
  /** Connections made since the agent started. */
  readonly connections: number;
  /** Events waiting in the on-disk outbox. */
  readonly outboxEvents: number;
}

/** The whole agent. */
export interface AgentStatus {
  readonly version: number;
  readonly agent: string;
  readonly device: string;
  readonly startedAt: number;
  readonly now: number;
  readonly dbs: readonly DbStatus[];
  /** Null without an `mqtt:` section. */
  readonly mqtt: MqttLinkStatus | null;
}
