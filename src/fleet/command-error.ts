/**
 * Which reply code (`protocol/reply-codes.ts`) a command handler's error
 * becomes on the device: a handler throws `CommandError` to choose one, and
 * `failureCode()` maps the domain error classes.
 *
 * @module
 */

import { ChecksumMismatchError, CorruptFileError, ReplicaError, UsageError, isDiskFull } from "../errors.ts";
import type { FailureCode } from "../protocol/reply-codes.ts";
import { NoRestorePointError } from "../restore/planner.ts";

/** An error a command handler throws to choose its reply code. */
export class CommandError extends Error {
  override name = "CommandError";
  readonly code: FailureCode;
  constructor(message: string, options: { code: FailureCode; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/**
 * The failure code of an error a command handler threw: the first error of
 * a known kind along its `cause` chain decides (a `CommandError`'s own
 * code, then the domain error classes), else "disk-full" when the disk is
 * full, else "internal".
 */
export function failureCode(err: unknown): FailureCode {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof CommandError) return e.code;
    if (e instanceof UsageError) return "usage";
    if (e instanceof NoRestorePointError) return "no-restore-point";
    if (e instanceof ChecksumMismatchError) return "checksum-mismatch";
    if (e instanceof CorruptFileError) return "corrupt";
    if (isDiskFull(e)) return "disk-full";
    if (e instanceof ReplicaError) return "replica";
  }
  return "internal";
}
