import { describe, expect, test } from "bun:test";
import { ChecksumMismatchError, CorruptFileError, ReplicaError, UsageError } from "../errors.ts";
import type { FailureCode } from "../protocol/reply-codes.ts";
import { NoRestorePointError } from "../restore/planner.ts";
import { CommandError, failureCode } from "./command-error.ts";

describe("failureCode", () => {
  test("failureCode() maps the domain errors, also through a cause chain", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const cases: [unknown, FailureCode][] = [
      [new CommandError("x", { code: "unhealthy" }), "unhealthy"],
      [new UsageError("Cannot restore: 'txid' must be a hex string"), "usage"],
      [new NoRestorePointError("Cannot restore: no snapshot"), "no-restore-point"],
      [new ChecksumMismatchError("bad", { path: "x", expected: 1n, actual: 2n }), "checksum-mismatch"],
      [new CorruptFileError("short", { path: "x" }), "corrupt"],
      [new ReplicaError("Cannot reach bucket", { replica: "s3://b/app.db" }), "replica"],
      [enospc, "disk-full"],
      [
        new Error("Cannot restore: wrapped; the live database was not changed", {
          cause: new NoRestorePointError("none"),
        }),
        "no-restore-point",
      ],
      [new Error("boom"), "internal"],
      ["not an error", "internal"],
    ];
    expect(cases.map(([err]) => failureCode(err))).toEqual(cases.map(([, code]) => code));
  });
});
