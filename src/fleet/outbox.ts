/**
 * The event outbox: events wait on disk (one file each, written
 * atomically) until the broker acknowledged them at QoS 1, so they survive
 * restarts, power loss and offline periods. It is bounded in bytes: beyond
 * the bound the oldest events are dropped and counted, and the count is
 * reported in the next `outbox.dropped` event, so a long outage costs old
 * events, never the agent's disk.
 *
 * File names sort in sending order: the event id `<ms>-<seq>`, both padded.
 *
 * @module
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { atomicWrite, TEMP_SUFFIX } from "../platform/atomic-write.ts";
import type { EventMessage } from "../protocol/messages.ts";

/** One waiting event. */
export interface OutboxEntry {
  readonly name: string;
  readonly message: EventMessage;
}

/** See the module documentation. */
export class Outbox {
  readonly #dir: string;
  readonly #maxBytes: number;
  #dropped = 0;

  /** Opens (creating) the outbox in `dir`; removes temp files a crash left. */
  constructor(dir: string, options: { maxBytes: number }) {
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) if (name.endsWith(TEMP_SUFFIX)) rmSync(join(dir, name), { force: true });
  }

  /** Events dropped to stay within the bound since the last `takeDropped`. */
  takeDropped(): number {
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }

  /** Stores `message` (its id names the file), then drops the oldest events beyond the bound. */
  async add(message: EventMessage): Promise<void> {
    await atomicWrite(join(this.#dir, fileName(message.id)), Buffer.from(JSON.stringify(message)));
    this.#enforceBound();
  }

  /** Waiting events, oldest first; unreadable files are removed (and counted as dropped). */
  pending(): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const name of this.#names()) {
      try {
        out.push({ name, message: JSON.parse(readFileSync(join(this.#dir, name), "utf8")) as EventMessage });
      } catch {
        rmSync(join(this.#dir, name), { force: true });
        this.#dropped++;
      }
    }
    return out;
  }

  /** How many events are waiting. */
  count(): number {
    return this.#names().length;
  }

  /** Removes a sent event. */
  remove(name: string): void {
    rmSync(join(this.#dir, name), { force: true });
  }

  #names(): string[] {
    return readdirSync(this.#dir)
      .filter((n) => n.endsWith(".json"))
      .sort();
  }

  #enforceBound(): void {
    const names = this.#names();
    const sizes = names.map((n) => statSync(join(this.#dir, n), { throwIfNoEntry: false })?.size ?? 0);
    let total = sizes.reduce((a, b) => a + b, 0);
    for (let i = 0; i < names.length - 1 && total > this.#maxBytes; i++) {
      rmSync(join(this.#dir, names[i]!), { force: true });
      total -= sizes[i]!;
      this.#dropped++;
    }
  }
}

/** `<ms>-<seq>` ids → sortable file names. */
function fileName(id: string): string {
  const [ms = "0", seq = "0"] = id.split("-");
  return `${ms.padStart(15, "0")}-${seq.padStart(10, "0")}.json`;
}
