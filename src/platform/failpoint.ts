/**
 * Failpoints for crash tests: `failpoint("restore.after-swap")` kills this
 * process with SIGKILL, exactly there, when the environment variable
 * `LITEFLEET_FAILPOINT` names it. Nothing happens otherwise. Used by the
 * tests that prove a restore interrupted at its worst moment rolls back on
 * the next start (docs/TESTING.md lists the names).
 *
 * @module
 */

/** Dies here when `LITEFLEET_FAILPOINT` equals `name`. */
export function failpoint(name: string): void {
  if (process.env["LITEFLEET_FAILPOINT"] === name) process.kill(process.pid, "SIGKILL");
}
