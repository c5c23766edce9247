/**
 * The SQLite version floor. SQLite before 3.51.3 can corrupt a database when
 * the WAL is reset while another connection checkpoints (Litestream
 * #1432/#1436); the agent checkpoints from its own connections, so it
 * refuses to run on such a library.
 *
 * @module
 */

/** The oldest SQLite litefleet runs on. */
export const MIN_SQLITE_VERSION = "3.51.3";

/**
 * Throws when `version` (e.g. "3.54.1") is older than {@linkcode MIN_SQLITE_VERSION}.
 * @throws {Error} naming both versions
 */
export function requireSqliteVersion(version: string): void {
  const have = version.split(".").map(Number);
  const need = MIN_SQLITE_VERSION.split(".").map(Number);
  for (let i = 0; i < need.length; i++) {
    const h = have[i] ?? 0;
    const n = need[i] ?? 0;
    if (Number.isNaN(h)) break;
    if (h > n) return;
    if (h < n) {
      throw new Error(
        `Cannot replicate: SQLite ${version} has the WAL-reset corruption bug; ${MIN_SQLITE_VERSION} or newer is required`,
      );
    }
  }
}
