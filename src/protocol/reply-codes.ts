/**
 * Error codes of command replies (docs/FLEET.md "Reply codes"): every
 * `rejected` and `failed` reply carries one in `code`, beside the human
 * `error`, so an operator tool can tell a command the device refused
 * (nothing ran) from one that ran and failed, and why, without parsing
 * messages. Replies of older devices have no `code`; readers fall back to
 * `status` then.
 *
 * Which error becomes which code on the device: `fleet/command-error.ts`.
 *
 * @module
 */

/** Codes of a `rejected` reply: the command was refused before anything ran. */
export const REFUSAL_CODES = [
  /** Not a valid command message, or a malformed protocol field (`timeoutMs`). */
  "bad-payload",
  /** The payload is over the 256 KiB limit (`MAX_PAYLOAD_BYTES`). */
  "too-large",
  /** Its `v` is not a version this device speaks (1). */
  "bad-version",
  /** Unsigned (no `keyId` or `signature`), signed by a key the device does not trust, or tampered with. */
  "bad-signature",
  /** Addressed to another device (`body.device`); answered on this device's own `res/` topic. */
  "wrong-device",
  /** Outside its validity: expired, issued in the device's future, or valid for longer than 24 h. */
  "expired",
  /** Its id was already received (QoS 1 redelivery, an operator retry, a replay). */
  "replay",
  /** A command name this device does not know (an older agent). */
  "unknown-command",
  /** Another command holds a database it needs (a restore runs alone on its database). */
  "busy",
  /**
   * Its arguments would fail: `db` not configured, a malformed `txid` or
   * `timestamp`, an `output` outside `fleet.restore-dirs` or existing (a
   * dangling symlink included). Checked before "accepted", so nothing ran.
   */
  "bad-arguments",
] as const;

/** Codes of a `failed` reply: the command ran and did not succeed. */
export const FAILURE_CODES = [
  /**
   * Bad arguments found only while running (an `output` file that appeared
   * after the command was accepted); agents before issue #15 also used it
   * for what is now "bad-arguments".
   */
  "usage",
  /** A replica could not be reached or refused (network, credentials, missing bucket). */
  "replica",
  /** Nothing to restore at the requested TXID or time. */
  "no-restore-point",
  /** Replica data did not match its checksum. */
  "checksum-mismatch",
  /** A file is malformed, or `integrity_check` failed. */
  "corrupt",
  /** A disk on the device is full. */
  "disk-full",
  /** A restored database failed `quick_check` or the health probe (`fleet.probe`). */
  "unhealthy",
  /** The application did not close the database within `fleet.quiesce-timeout`. */
  "quiesce-timeout",
  /**
   * A live restore did not finish within `fleet.swap-timeout` of the
   * application letting go (a replica stopped answering, say): it rolled
   * back, removed the lock file, and the live database is as before.
   */
  "swap-timeout",
  /**
   * The agent stopped (a crash, kill -9, power loss) while the command ran;
   * its next start finished what it could (a live restore rolled back or
   * cleaned up) and sends this final reply once connected.
   */
  "interrupted",
  /** The command's deadline passed before it finished. */
  "timeout",
  /** Anything else; `error` says what. */
  "internal",
] as const;

/** Why a command was refused. */
export type RefusalCode = (typeof REFUSAL_CODES)[number];
/** Why a command failed. */
export type FailureCode = (typeof FAILURE_CODES)[number];
/** Any reply code. */
export type ReplyCode = RefusalCode | FailureCode;
