/**
 * Domain error classes that callers branch on. Argument problems use the
 * built-in `TypeError` / `RangeError`; everything here carries data a caller
 * or the CLI needs (a path, an object key, a field path, a hint).
 *
 * Messages follow "Cannot <action> <object>: <state>", capitalized, no
 * trailing period, values quoted.
 *
 * @module
 */

/** A file or object that was asked for does not exist. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  /** The path or object key that was missing. */
  readonly path: string;
  constructor(message: string, options: { path: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
  }
}

/** A checksum did not match: the data is not what its writer recorded. */
export class ChecksumMismatchError extends Error {
  override name = "ChecksumMismatchError";
  /** Where the mismatch was found (file path, object key or database). */
  readonly path: string;
  readonly expected: bigint;
  readonly actual: bigint;
  constructor(message: string, options: { path: string; expected: bigint; actual: bigint }) {
    super(message);
    this.path = options.path;
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

/**
 * A file is malformed: truncated, a bad magic number, an impossible field.
 * `autoRecoverable` is true when the file is a local derived copy that can be
 * thrown away and rebuilt (a local L0 file), false for replica data.
 */
export class CorruptFileError extends Error {
  override name = "CorruptFileError";
  readonly path: string;
  /** Byte offset where the problem was found, when known. */
  readonly offset: number | undefined;
  readonly autoRecoverable: boolean;
  constructor(message: string, options: { path: string; offset?: number; autoRecoverable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
    this.offset = options.offset;
    this.autoRecoverable = options.autoRecoverable ?? false;
  }
}

/** A configuration value is invalid. `field` is a path like `dbs[0].replica.url`. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly field: string;
  readonly value: unknown;
  constructor(message: string, options: { field: string; value?: unknown; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = options.field;
    this.value = options.value;
  }
}

/** The command line was wrong. The CLI prints `Error: <message>` and `Try: <hint>`. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/**
 * A replica could not be reached or refused us (missing bucket, bad
 * credentials, network). `hint` tells the operator what to check.
 */
export class ReplicaError extends Error {
  override name = "ReplicaError";
  readonly replica: string;
  readonly hint: string | undefined;
  constructor(message: string, options: { replica: string; hint?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.replica = options.replica;
    this.hint = options.hint;
  }
}

/**
 * A replica holds history this device did not write: a second agent (a
 * cloned SD image, a duplicated `device.id`) replicates to the same place.
 * Uploads to that replica stop until an operator decides (docs/OPERATIONS.md,
 * "Cloning images"); nothing of the replica is changed.
 */
export class WriterConflictError extends Error {
  override name = "WriterConflictError";
  readonly replica: string;
  readonly hint: string;
  constructor(message: string, options: { replica: string; hint: string }) {
    super(message);
    this.replica = options.replica;
    this.hint = options.hint;
  }
}

/**
 * A local file or directory cannot be used: a directory on its path is
 * missing, it is a directory where a file is expected, or this process may
 * not read or write it (permission, a read-only or full file system).
 * `path` is the file or directory at fault, `code` the system error
 * (`ENOENT`, `EACCES`, `EROFS` …) when there was one, `hint` what to do.
 * The CLI prints `Try: <hint>` and exits 1 (docs/CLI.md).
 */
export class LocalFileError extends Error {
  override name = "LocalFileError";
  readonly path: string;
  readonly code: string | undefined;
  readonly hint: string;
  constructor(message: string, options: { path: string; code?: string; hint: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
    this.code = options.code;
    this.hint = options.hint;
  }
}

/**
 * The CLI's output could not be written: `stream` is the one that failed,
 * `code` the system error (`EPIPE` when its reader closed early, `ENOSPC`,
 * `EIO` …). The CLI's exit path turns it into an exit code (docs/CLI.md).
 */
export class OutputError extends Error {
  override name = "OutputError";
  readonly stream: "stdout" | "stderr";
  /** The system error code, or undefined when the stream gave none. */
  readonly code: string | undefined;
  constructor(message: string, options: { stream: "stdout" | "stderr"; code: string | undefined; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.stream = options.stream;
    this.code = options.code;
  }
}

/** Returns `err.message` for an Error, else `String(err)`. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A Node system error's message with its code moved to the end, so that
 * wrapping it does not repeat the code: "EACCES: permission denied, open
 * '/x'" becomes "permission denied, open '/x' (EACCES)". Other errors give
 * their message.
 */
export function systemErrorText(err: unknown): string {
  const message = errorMessage(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !/^E[A-Z0-9]+$/.test(code)) return message;
  const rest = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
  return `${rest} (${code})`;
}

/**
 * True when `err` (or an error in its `cause` chain) says a disk is full:
 * `ENOSPC` from the file system, or SQLite's SQLITE_FULL.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "SQLITE_FULL") return true;
    if (e instanceof Error && /\bENOSPC\b|no space left on device|database or disk is full/i.test(e.message))
      return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** The replica holds nothing that fits the restore target. */
export class NoRestorePointError extends Error {
  override name = "NoRestorePointError";
}
