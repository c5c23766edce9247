/**
 * Which running command holds which database, so remote commands can run
 * side by side without stepping on each other: a shared claim (`sync`,
 * `snapshot`, `verify`) coexists with other shared claims; an exclusive
 * claim (`restore`) needs its databases to itself. Commands that touch no
 * database (`status`) claim nothing and always run.
 *
 * @module
 */

/** What a command needs while it runs. */
export interface ClaimRequest {
  /** Database paths. */
  readonly dbs: readonly string[];
  readonly exclusive: boolean;
}

/** The command that stands in the way of a request. */
export interface ClaimConflict {
  readonly db: string;
  readonly id: string;
  readonly name: string;
}

interface Holder {
  readonly id: string;
  readonly name: string;
  readonly exclusive: boolean;
}

/** See the module documentation. */
export class DbClaims {
  readonly #held = new Map<string, Holder[]>();

  /**
   * Claims `request` for command `id` (`name` for messages), or returns the
   * first command in the way and claims nothing.
   * @returns a release function, or the conflict
   */
  claim(id: string, name: string, request: ClaimRequest): { release: () => void } | { conflict: ClaimConflict } {
    for (const db of request.dbs) {
      const other = (this.#held.get(db) ?? []).find((h) => request.exclusive || h.exclusive);
      if (other) return { conflict: { db, id: other.id, name: other.name } };
    }
    const holder: Holder = { id, name, exclusive: request.exclusive };
    const dbs = [...new Set(request.dbs)];
    for (const db of dbs) this.#held.set(db, [...(this.#held.get(db) ?? []), holder]);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const db of dbs) {
          const rest = (this.#held.get(db) ?? []).filter((h) => h !== holder);
          if (rest.length === 0) this.#held.delete(db);
          else this.#held.set(db, rest);
        }
      },
    };
  }
}
