/**
 * Test helpers that look at a database the way SQLite sees it.
 *
 * @module
 */

import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

/** SHA-256 of the logical database image (all pages as SQLite reads them, WAL included). */
export function imageHash(db: Database): string {
  return createHash("sha256").update(db.serialize()).digest("hex");
}

/** SHA-256 of a database file's bytes. */
export function fileHash(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** `PRAGMA integrity_check` of a database file. */
export function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.query("PRAGMA integrity_check").all() as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join("; ");
  } finally {
    db.close();
  }
}

/**
 * SHA-256 of a database's content as the application sees it: the schema and
 * every row of every table, without the agent's own `_litefleet_*` tables.
 * Equal for two states that differ only in the agent's bookkeeping writes or
 * in page layout (VACUUM), which `imageHash` tells apart.
 */
export function contentHash(db: Database): string {
  const hash = createHash("sha256");
  const tables = db
    .query(
      "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE '\\_litefleet%' ESCAPE '\\' ORDER BY name",
    )
    .all() as { name: string; sql: string | null }[];
  for (const t of tables) {
    hash.update(`${t.name}\n${t.sql ?? ""}\n`);
    if (!t.sql?.startsWith("CREATE TABLE")) continue;
    for (const row of db.query(`SELECT * FROM "${t.name.replace(/"/g, '""')}" ORDER BY rowid`).values()) {
      hash.update(
        JSON.stringify(row, (_k, v: unknown) =>
          v instanceof Uint8Array ? Buffer.from(v).toString("hex") : typeof v === "bigint" ? v.toString() : v,
        ),
      );
    }
  }
  return hash.digest("hex");
}
