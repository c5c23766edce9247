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
