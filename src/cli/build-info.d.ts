/**
 * Build information that `cross-compile/build.ts` passes to
 * `bun build --compile --define`. Run from source, none of these exist: read
 * them only behind `typeof NAME === "undefined"` (see `version.ts`).
 */

/** Package version, e.g. "0.1.0". */
declare const LITEFLEET_VERSION: string;
/** Short git commit, "-dirty" appended when the tree had changes; "unknown" without git. */
declare const LITEFLEET_COMMIT: string;
/** Compile target, e.g. "linux-arm64" or "linux-x64-musl". */
declare const LITEFLEET_TARGET: string;
