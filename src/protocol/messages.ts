/**
 * MQTT payloads: versioned JSON (`"v": 1`), TXIDs as 16-hex strings, times
 * as Unix milliseconds. Every message has a `type`. Parsers accept only
 * well-formed messages and say what is wrong otherwise; unknown fields are
 * ignored so that a newer sender stays readable (a field that changes
 * meaning bumps `v`). Schemas: docs/FLEET.md.
 *
 * @module
 */

import type { AgentStatus, DbStatus, ReplicaStatus } from "./agent-status.ts";
import type { RefusalCode } from "./reply-codes.ts";

/** Payload schema version. */
export const MESSAGE_VERSION = 1;

/** The largest payload a parser accepts (256 KiB); a larger one is refused unread. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * The largest command payload searched for an id to answer, when it is over
 * {@linkcode MAX_PAYLOAD_BYTES}: parsing bigger ones just to refuse them
 * would let any sender make the device allocate a multiple of the payload.
 */
export const MAX_ID_SCAN_BYTES = 1024 * 1024;

/** One replica of a database in a status message. */
export interface ReplicaSummary {
  readonly name: string;
  /** Why its last upload (or the reading of its position) failed, while it fails. */
  readonly lastError: string | null;
  /** Another writer's files in this replica's prefix, while detected (null: none, or an agent that does not report it). */
  readonly conflict: string | null;
  readonly lagMs: number;
  readonly lastUploadAt: number | null;
  /**
   * S3 requests (PUT + LIST + DELETE) and bytes uploaded per 30 days at the
   * rate seen since the agent started (issue #15); null from older agents.
   */
  readonly projectedPerMonth: { readonly requests: number; readonly bytes: number } | null;
}

/** One database in a status message. */
export interface DbSummary {
  readonly path: string;
  /** Last captured TXID, or null before the first sync. */
  readonly txid: string | null;
  /**
   * "error" (a capture or a replica fails, or a writer conflict), "starting"
   * (no sync yet), "pending" (changes waiting), "ok" (caught up).
   */
  readonly state: "ok" | "pending" | "error" | "starting";
  readonly pendingFiles: number;
  readonly pendingBytes: number;
  /** Age of the oldest change not yet in every replica (0 = caught up). */
  readonly lagMs: number;
  readonly lastUploadAt: number | null;
  readonly lastError: string | null;
  /** Database size in bytes (pages × page size), or null before the first sync. */
  readonly size: number | null;
  /** Why the last capture failed, while captures fail (null from agents before 0.2 too). */
  readonly captureError: string | null;
  /** A capture or a batch failed because a disk is full (false from agents before 0.2). */
  readonly diskFull: boolean;
  /** Per replica (empty from agents before 0.2). */
  readonly replicas: readonly ReplicaSummary[];
}

/** Retained `status`: online (birth / periodic) or offline (Will, or a clean stop). */
export interface StatusMessage {
  readonly v: 1;
  readonly type: "status";
  readonly device: string;
  readonly online: boolean;
  /** Increases with every MQTT session of this device; the Will carries the same value as the birth. */
  readonly session: number;
  /** When sent (ms); for the Will, when its session connected. */
  readonly ts: number;
  /** Why offline: "lost" (the Will) or "stopped" (a clean shutdown). */
  readonly reason?: "lost" | "stopped";
  readonly agent?: string;
  readonly startedAt?: number;
  readonly dbs?: readonly DbSummary[];
  /** Free and total bytes of the file system holding the first database. */
  readonly disk?: { readonly free: number; readonly total: number };
  /**
   * The device's `mqtt.status-interval` (ms): it publishes its status at
   * least this often while online (issue #15; absent from older agents and
   * from the Will).
   */
  readonly intervalMs?: number;
}

/** `evt`: something happened (QoS 1 via the on-disk outbox). */
export interface EventMessage {
  readonly v: 1;
  readonly type: "event";
  readonly device: string;
  /** Unique per device, sortable: `<ms>-<seq>`. */
  readonly id: string;
  readonly ts: number;
  /** e.g. "snapshot.written", "restore.step", "upload.error", "command.rejected". */
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The signed part of a command. */
export interface CommandBody {
  /** Unique command id (idempotency key): 8–64 of A-Z a-z 0-9 _ -. */
  readonly id: string;
  readonly device: string;
  /** "sync" | "snapshot" | "status" | "verify" | "restore". */
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** `cmd`: a command and its Ed25519 signature over the canonical body. */
export interface CommandMessage {
  readonly v: 1;
  readonly type: "command";
  readonly body: CommandBody;
  /** Which operator key signed (see `keyId`). */
  readonly keyId: string;
  /** Base64url Ed25519 signature of `canonicalJson(body)`. */
  readonly signature: string;
}

/** A reply to a command, on its response topic. */
export interface ReplyMessage {
  readonly v: 1;
  readonly type: "reply";
  readonly device: string;
  /** The command id. */
  readonly id: string;
  /** "accepted" → "progress"* → "done" | "failed"; or "rejected" with no effect. */
  readonly status: "accepted" | "progress" | "done" | "failed" | "rejected";
  readonly ts: number;
  /** For "progress": the step reached. */
  readonly step?: string;
  readonly result?: Readonly<Record<string, unknown>>;
  readonly error?: string;
  /**
   * For "failed" and "rejected": why, from the list in `reply-codes.ts`
   * (absent from older agents; a code this reader does not know is kept as
   * received).
   */
  readonly code?: string;
}

/** The last telemetry of a device (`tele`, retained), summarised like a status. */
export interface TelemetrySummary {
  readonly device: string;
  /** When the device sent it (its `now`). */
  readonly ts: number;
  readonly agent: string | null;
  readonly dbs: readonly DbSummary[];
}

/** A payload that is not a valid message. */
export class MessageError extends Error {
  override name = "MessageError";
}

/**
 * A `cmd` payload that is not a valid, signed command message: the refusal
 * code it earns and, when the payload names one (`body.id`, a valid id),
 * the command id a rejection can be answered under.
 */
export class CommandParseError extends MessageError {
  override name = "CommandParseError";
  readonly code: RefusalCode;
  readonly id: string | undefined;
  constructor(message: string, options: { code: RefusalCode; id: string | undefined }) {
    super(message);
    this.code = options.code;
    this.id = options.id;
  }
}

const COMMAND_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

/** What {@linkcode summarizeDb} reads of a replica's status. */
type ReplicaInput = Pick<ReplicaStatus, "name" | "lastError" | "lagMs" | "lastUploadAt"> & {
  readonly pending: { readonly files: number; readonly bytes: number };
  /** Reported by agents that detect other writers. */
  readonly conflict?: string | null;
  /** `requests` from agents since issue #15 (before: `puts` alone, a lower bound). */
  readonly projectedPerMonth?: { readonly puts?: number; readonly requests?: number; readonly bytes: number } | null;
};

/** What {@linkcode summarizeDb} reads of a database's status. */
type DbInput = Pick<DbStatus, "path" | "txid" | "pageSize" | "pages" | "captureError" | "diskFull"> & {
  readonly replicas: readonly ReplicaInput[];
};

/** Summarises the agent's status for the `status` topic. */
export function summarizeStatus(status: AgentStatus): DbSummary[] {
  return status.dbs.map(summarizeDb);
}

/** One database of a status object, summarised. */
function summarizeDb(db: DbInput): DbSummary {
  const replicas = db.replicas;
  const lastError = db.captureError ?? replicas.find((r) => r.lastError !== null)?.lastError ?? null;
  const conflict = replicas.some((r) => (r.conflict ?? null) !== null);
  const pendingFiles = replicas.reduce((n, r) => Math.max(n, r.pending.files), 0);
  const pendingBytes = replicas.reduce((n, r) => Math.max(n, r.pending.bytes), 0);
  const lagMs = replicas.reduce((n, r) => Math.max(n, r.lagMs), 0);
  const uploads = replicas.map((r) => r.lastUploadAt).filter((t): t is number => t !== null);
  const state =
    lastError !== null || conflict ? "error" : db.txid === null ? "starting" : pendingFiles > 0 ? "pending" : "ok";
  return {
    path: db.path,
    txid: db.txid,
    state,
    pendingFiles,
    pendingBytes,
    lagMs,
    lastUploadAt: uploads.length === 0 ? null : Math.min(...uploads),
    lastError,
    size: db.pages === null || db.pageSize === null ? null : db.pages * db.pageSize,
    captureError: db.captureError,
    diskFull: db.diskFull,
    replicas: replicas.map(replicaSummary),
  };
}

function replicaSummary(r: ReplicaInput): ReplicaSummary {
  return {
    name: r.name,
    lastError: r.lastError,
    conflict: r.conflict ?? null,
    lagMs: r.lagMs,
    lastUploadAt: r.lastUploadAt,
    projectedPerMonth: projection(r.projectedPerMonth),
  };
}

/** A replica's monthly projection as the status carries it, from the agent's (null when unknown). */
function projection(p: ReplicaInput["projectedPerMonth"]): ReplicaSummary["projectedPerMonth"] {
  if (p === undefined || p === null) return null;
  const requests = p.requests ?? p.puts;
  return requests === undefined ? null : { requests, bytes: p.bytes };
}

/** Encodes a message as UTF-8 JSON. */
export function encodeMessage(message: StatusMessage | EventMessage | CommandMessage | ReplyMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/**
 * Parses a JSON payload and checks `v` and `type`.
 * @throws {MessageError} when it is not JSON, not an object, or another version or type
 */
function parseEnvelope(payload: Uint8Array, type: string): Record<string, unknown> {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new MessageError(oversize(type, payload.length));
  const obj = parseObject(payload, type);
  if (obj.v !== MESSAGE_VERSION)
    throw new MessageError(`Cannot parse ${type} message: version ${JSON.stringify(obj.v)} is not ${MESSAGE_VERSION}`);
  if (obj.type !== type) throw new MessageError(`Cannot parse ${type} message: type is ${JSON.stringify(obj.type)}`);
  return obj;
}

function oversize(type: string, length: number): string {
  return `Cannot parse ${type} message: ${length} bytes is over the ${MAX_PAYLOAD_BYTES / 1024} KiB limit`;
}

/**
 * Parses a payload as a JSON object.
 * @throws {MessageError} when it is not JSON, or not an object
 */
function parseObject(payload: Uint8Array, type: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw new MessageError(`Cannot parse ${type} message: payload is not JSON`);
  }
  if (!isObject(value)) throw new MessageError(`Cannot parse ${type} message: payload is not a JSON object`);
  return value;
}

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  type: string,
  check: (x: unknown) => x is T,
  what: string,
): T {
  const value = obj[key];
  if (!check(value)) throw new MessageError(`Cannot parse ${what} message: '${key}' must be ${type}`);
  return value;
}

const isString = (x: unknown): x is string => typeof x === "string";
const isNumber = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const isBoolean = (x: unknown): x is boolean => typeof x === "boolean";
const isArray = (x: unknown): x is unknown[] => Array.isArray(x);
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * Parses a `status` payload (online or offline).
 * @throws {MessageError} naming the first bad field
 */
export function parseStatus(payload: Uint8Array): StatusMessage {
  const o = parseEnvelope(payload, "status");
  const msg: StatusMessage = {
    v: 1,
    type: "status",
    device: field(o, "device", "a string", isString, "status"),
    online: field(o, "online", "a boolean", isBoolean, "status"),
    session: field(o, "session", "a number", isNumber, "status"),
    ts: field(o, "ts", "a number", isNumber, "status"),
  };
  const extra: { -readonly [K in keyof StatusMessage]?: StatusMessage[K] } = {};
  if (o.reason === "lost" || o.reason === "stopped") extra.reason = o.reason;
  if (isString(o.agent)) extra.agent = o.agent;
  if (isNumber(o.startedAt)) extra.startedAt = o.startedAt;
  if (Array.isArray(o.dbs)) extra.dbs = o.dbs.filter(isObject).map(parseDbSummary);
  if (isObject(o.disk) && isNumber(o.disk.free) && isNumber(o.disk.total))
    extra.disk = { free: o.disk.free, total: o.disk.total };
  if (isNumber(o.intervalMs) && o.intervalMs > 0) extra.intervalMs = o.intervalMs;
  return { ...msg, ...extra };
}

function parseDbSummary(o: Record<string, unknown>): DbSummary {
  const num = (k: string) => (isNumber(o[k]) ? (o[k] as number) : 0);
  const nullableNum = (k: string) => (isNumber(o[k]) ? (o[k] as number) : null);
  const state =
    o.state === "ok" || o.state === "pending" || o.state === "error" || o.state === "starting" ? o.state : "starting";
  return {
    path: field(o, "path", "a string", isString, "status"),
    txid: isString(o.txid) ? o.txid : null,
    state,
    pendingFiles: num("pendingFiles"),
    pendingBytes: num("pendingBytes"),
    lagMs: num("lagMs"),
    lastUploadAt: nullableNum("lastUploadAt"),
    lastError: isString(o.lastError) ? o.lastError : null,
    size: nullableNum("size"),
    captureError: isString(o.captureError) ? o.captureError : null,
    diskFull: o.diskFull === true,
    replicas: Array.isArray(o.replicas)
      ? o.replicas.filter(isObject).map((r) => replicaSummary(parseReplica(r, "status")))
      : [],
  };
}

/** A replica of a status or telemetry message; missing optional fields read as "nothing to report". */
function parseReplica(r: Record<string, unknown>, what: string): ReplicaInput {
  const pending = isObject(r.pending) ? r.pending : {};
  const p = isObject(r.projectedPerMonth) ? r.projectedPerMonth : undefined;
  const requests = p && isNumber(p.requests) ? p.requests : p && isNumber(p.puts) ? p.puts : undefined;
  return {
    name: field(r, "name", "a string", isString, what),
    lastError: isString(r.lastError) ? r.lastError : null,
    conflict: isString(r.conflict) ? r.conflict : null,
    lagMs: isNumber(r.lagMs) ? r.lagMs : 0,
    lastUploadAt: isNumber(r.lastUploadAt) ? r.lastUploadAt : null,
    pending: { files: isNumber(pending.files) ? pending.files : 0, bytes: isNumber(pending.bytes) ? pending.bytes : 0 },
    projectedPerMonth:
      p !== undefined && requests !== undefined && isNumber(p.bytes) ? { requests, bytes: p.bytes } : null,
  };
}

/**
 * Parses a `tele` payload (the agent's whole status object) into the
 * summary a status message would carry: how an operator learns the last
 * data of a device whose retained status is now its Will.
 * @throws {MessageError} naming the first bad field
 */
export function parseTelemetry(payload: Uint8Array): TelemetrySummary {
  const o = parseEnvelope(payload, "tele");
  const dbs = field(o, "dbs", "an array", isArray, "tele").filter(isObject);
  const nullable = <T>(x: unknown, check: (x: unknown) => x is T): T | null => (check(x) ? x : null);
  return {
    device: field(o, "device", "a string", isString, "tele"),
    ts: field(o, "now", "a number", isNumber, "tele"),
    agent: nullable(o.agent, isString),
    dbs: dbs.map((d) =>
      summarizeDb({
        path: field(d, "path", "a string", isString, "tele"),
        txid: nullable(d.txid, isString),
        pageSize: nullable(d.pageSize, isNumber),
        pages: nullable(d.pages, isNumber),
        captureError: nullable(d.captureError, isString),
        diskFull: d.diskFull === true,
        replicas: Array.isArray(d.replicas) ? d.replicas.filter(isObject).map((r) => parseReplica(r, "tele")) : [],
      }),
    ),
  };
}

/**
 * Parses an `evt` payload.
 * @throws {MessageError} naming the first bad field
 */
export function parseEvent(payload: Uint8Array): EventMessage {
  const o = parseEnvelope(payload, "event");
  return {
    v: 1,
    type: "event",
    device: field(o, "device", "a string", isString, "event"),
    id: field(o, "id", "a string", isString, "event"),
    ts: field(o, "ts", "a number", isNumber, "event"),
    event: field(o, "event", "a string", isString, "event"),
    data: field(o, "data", "an object", isObject, "event"),
  };
}

/**
 * Parses a `cmd` payload (the signature is checked by `signing.ts`, not
 * here; only its presence is).
 * @throws {CommandParseError} with the refusal code ("too-large",
 *   "bad-payload", "bad-version", "bad-signature" when unsigned) and the
 *   command id when the payload names a valid one
 */
export function parseCommand(payload: Uint8Array): CommandMessage {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    let id: string | undefined;
    if (payload.length <= MAX_ID_SCAN_BYTES) {
      try {
        id = commandIdIn(parseObject(payload, "command"));
      } catch (err) {
        if (!(err instanceof MessageError)) throw err;
      }
    }
    throw new CommandParseError(oversize("command", payload.length), { code: "too-large", id });
  }
  let o: Record<string, unknown>;
  try {
    o = parseObject(payload, "command");
  } catch (err) {
    if (!(err instanceof MessageError)) throw err;
    throw new CommandParseError(err.message, { code: "bad-payload", id: undefined });
  }
  const id = commandIdIn(o);
  if (o.v !== MESSAGE_VERSION)
    throw new CommandParseError(
      `Cannot parse command message: version ${JSON.stringify(o.v)} is not ${MESSAGE_VERSION}`,
      { code: "bad-version", id },
    );
  let body: CommandBody;
  try {
    if (o.type !== "command") throw new MessageError(`Cannot parse command message: type is ${JSON.stringify(o.type)}`);
    const b = field(o, "body", "an object", isObject, "command");
    body = {
      id: field(b, "id", "a string", isString, "command"),
      device: field(b, "device", "a string", isString, "command"),
      name: field(b, "name", "a string", isString, "command"),
      args: field(b, "args", "an object", isObject, "command"),
      issuedAt: field(b, "issuedAt", "a number", isNumber, "command"),
      expiresAt: field(b, "expiresAt", "a number", isNumber, "command"),
    };
    if (!COMMAND_ID_RE.test(body.id))
      throw new MessageError("Cannot parse command message: 'id' must be 8-64 of A-Z a-z 0-9 _ -");
  } catch (err) {
    if (!(err instanceof MessageError)) throw err;
    throw new CommandParseError(err.message, { code: "bad-payload", id });
  }
  if (!isString(o.keyId) || !isString(o.signature))
    throw new CommandParseError(
      "Cannot accept command: it is not signed ('keyId' and 'signature' must be strings; sign it with an operator key)",
      { code: "bad-signature", id },
    );
  return { v: 1, type: "command", body, keyId: o.keyId, signature: o.signature };
}

/** `body.id` of a command-like object when it is a valid command id (so a refusal can be answered). */
function commandIdIn(o: Record<string, unknown>): string | undefined {
  const id = isObject(o.body) ? o.body.id : undefined;
  return isString(id) && COMMAND_ID_RE.test(id) ? id : undefined;
}

/**
 * Parses a reply payload.
 * @throws {MessageError} naming the first bad field
 */
export function parseReply(payload: Uint8Array): ReplyMessage {
  const o = parseEnvelope(payload, "reply");
  const status = o.status;
  if (
    status !== "accepted" &&
    status !== "progress" &&
    status !== "done" &&
    status !== "failed" &&
    status !== "rejected"
  ) {
    throw new MessageError(
      `Cannot parse reply message: 'status' ${JSON.stringify(status)} is not one of accepted, progress, done, failed, rejected`,
    );
  }
  const msg: ReplyMessage = {
    v: 1,
    type: "reply",
    device: field(o, "device", "a string", isString, "reply"),
    id: field(o, "id", "a string", isString, "reply"),
    status,
    ts: field(o, "ts", "a number", isNumber, "reply"),
  };
  const extra: { -readonly [K in keyof ReplyMessage]?: ReplyMessage[K] } = {};
  if (isString(o.step)) extra.step = o.step;
  if (isObject(o.result)) extra.result = o.result;
  if (isString(o.error)) extra.error = o.error;
  if (isString(o.code)) extra.code = o.code;
  return { ...msg, ...extra };
}
