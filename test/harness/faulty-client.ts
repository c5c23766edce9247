/**
 * A `ReplicaClient` decorator that fails on demand (fault injection at the
 * interface, as Litestream's `mock.ReplicaClient` function fields do) and
 * counts calls. The wrapped client is real.
 *
 * @module
 */

import { ReplicaError } from "../../src/errors.ts";
import type { LtxFileKey, ReplicaClient } from "../../src/replica/client.ts";

/** See the module documentation. */
export class FaultyReplicaClient implements ReplicaClient {
  readonly type: string;
  readonly location: string;
  /** While true every call fails like an unreachable endpoint. */
  offline = false;
  writes: LtxFileKey[] = [];
  #inner: ReplicaClient;

  constructor(inner: ReplicaClient) {
    this.#inner = inner;
    this.type = inner.type;
    this.location = inner.location;
  }

  #check(): void {
    if (this.offline)
      throw new ReplicaError(`Cannot reach replica '${this.location}': offline (injected)`, { replica: this.location });
  }

  async init(...args: Parameters<ReplicaClient["init"]>) {
    this.#check();
    return this.#inner.init(...args);
  }
  listLtxFiles(...args: Parameters<ReplicaClient["listLtxFiles"]>) {
    this.#check();
    return this.#inner.listLtxFiles(...args);
  }
  async readLtxFile(...args: Parameters<ReplicaClient["readLtxFile"]>) {
    this.#check();
    return this.#inner.readLtxFile(...args);
  }
  async openLtxFile(...args: Parameters<ReplicaClient["openLtxFile"]>) {
    this.#check();
    return this.#inner.openLtxFile(...args);
  }
  async statLtxFile(...args: Parameters<ReplicaClient["statLtxFile"]>) {
    this.#check();
    return this.#inner.statLtxFile(...args);
  }
  async writeLtxFile(...args: Parameters<ReplicaClient["writeLtxFile"]>) {
    this.#check();
    this.writes.push(args[0]);
    return this.#inner.writeLtxFile(...args);
  }
  async deleteLtxFiles(...args: Parameters<ReplicaClient["deleteLtxFiles"]>) {
    this.#check();
    return this.#inner.deleteLtxFiles(...args);
  }
  async deleteAll(...args: Parameters<ReplicaClient["deleteAll"]>) {
    this.#check();
    return this.#inner.deleteAll(...args);
  }
}
