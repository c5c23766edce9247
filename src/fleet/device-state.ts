/**
 * What the fleet link keeps on disk besides the outbox (`mqtt.state-dir`):
 *
 * - `session.json`: the MQTT session sequence, incremented before every
 *   connection, so a status and the Will of the same connection carry the
 *   same number and a stale Will can be told from a newer birth;
 * - `commands.json`: every command id seen, with its outcome, kept until the
 *   command expires, so a duplicate or replayed command never runs twice.
 *
 * Both are written atomically.
 *
 * @module
 */

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { atomicWrite } from "../platform/atomic-write.ts";

/** The outcome recorded for a command id. */
export interface SeenCommand {
  readonly expiresAt: number;
  readonly status: "running" | "done" | "failed" | "rejected";
  readonly result?: Readonly<Record<string, unknown>>;
  readonly error?: string;
}

/** See the module documentation. */
export class DeviceState {
  readonly dir: string;
  #session: number;
  #seen: Map<string, SeenCommand>;

  /** Loads (or starts) the state in `dir`; unreadable files start over. */
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#session = (readJson<{ session?: unknown }>(join(dir, "session.json"))?.session as number | undefined) ?? 0;
    if (!Number.isSafeInteger(this.#session) || this.#session < 0) this.#session = 0;
    const seen = readJson<Record<string, SeenCommand>>(join(dir, "commands.json")) ?? {};
    this.#seen = new Map(Object.entries(seen));
  }

  /** The current session sequence (0 before the first connection). */
  get session(): number {
    return this.#session;
  }

  /** Increments and stores the session sequence; returns the new value. */
  async nextSession(): Promise<number> {
    this.#session++;
    await atomicWrite(join(this.dir, "session.json"), Buffer.from(JSON.stringify({ session: this.#session })));
    return this.#session;
  }

  /** The outcome recorded for `id`, if seen. */
  seen(id: string): SeenCommand | undefined {
    return this.#seen.get(id);
  }

  /** Records `id`'s outcome and forgets commands that expired before `now - keepMs`. */
  async record(id: string, outcome: SeenCommand, now: number, keepMs: number): Promise<void> {
    this.#seen.set(id, outcome);
    for (const [k, v] of this.#seen) if (v.expiresAt < now - keepMs) this.#seen.delete(k);
    await atomicWrite(join(this.dir, "commands.json"), Buffer.from(JSON.stringify(Object.fromEntries(this.#seen))));
  }
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const value: unknown = JSON.parse(readFileSync(path, "utf8"));
    return typeof value === "object" && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
