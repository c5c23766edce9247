/**
 * Expected values for config tests.
 *
 * @module
 */

import { DEFAULTS, type ReplicaConfig } from "../../src/config/schema.ts";
import type { ReplicaSpec } from "../../src/replica/spec.ts";

/** A replica as `parseConfig` resolves it when the config sets no upload keys. */
export function defaultReplica(name: string, spec: ReplicaSpec): ReplicaConfig {
  return {
    name,
    spec,
    upload: { ...DEFAULTS.upload },
    windows: [],
    metered: DEFAULTS.metered.mode,
    meteredUpload: {
      ...DEFAULTS.upload,
      minInterval: DEFAULTS.metered.minInterval,
      maxInterval: DEFAULTS.metered.maxInterval,
    },
    meteredSnapshots: DEFAULTS.metered.snapshots,
  };
}
