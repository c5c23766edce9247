/**
 * The upload policy keys, accepted in the top-level `upload:` section
 * (defaults for every replica) and flat on each replica (overriding it):
 * `min-interval`, `max-interval`, `max-batch-bytes`, `bandwidth`,
 * Litestream's `sync-interval` (sets both intervals), `windows`, `metered`
 * and `metered-policy`.
 *
 * Resolution, per replica: `DEFAULTS.upload` ← `upload:` ← the replica's
 * keys, one mapping at a time. Within a mapping, `min-interval` alone raises
 * an inherited `max-interval` that is smaller; `max-interval` alone below the
 * inherited `min-interval` is an error. The metered policy starts from the
 * resolved normal one, raised to `DEFAULTS.metered`'s intervals where those
 * are larger, then takes `upload.metered-policy` and the replica's
 * `metered-policy` the same way.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { formatDuration } from "./duration.ts";
import { configError, describeValue, fieldPath, type MapReader } from "./map-reader.ts";
import { DEFAULTS, type ReplicaConfig, type TimeWindow, type UploadPolicy } from "./schema.ts";
import { parseTimeWindow } from "./time-window.ts";

/** Keys of one upload policy (also the keys of `metered-policy`, with `snapshots`). */
const POLICY_KEYS = ["min-interval", "max-interval", "max-batch-bytes", "bandwidth"] as const;

/** Keys accepted in `upload:` and on each replica. */
export const UPLOAD_KEYS = [...POLICY_KEYS, "sync-interval", "windows", "metered", "metered-policy"] as const;

/** Keys accepted in `metered-policy:`. */
export const METERED_POLICY_KEYS = [...POLICY_KEYS, "snapshots"] as const;

/** How a replica decides whether its link is metered. */
export type MeteredMode = ReplicaConfig["metered"];

const METERED_WORDS: ReadonlyMap<string, MeteredMode> = new Map([
  ["auto", "auto"],
  ["yes", "yes"],
  ["true", "yes"],
  ["on", "yes"],
  ["no", "no"],
  ["false", "no"],
  ["off", "no"],
]);

/** Policy keys read from one mapping, with where they were written. */
interface PolicyLayer {
  /** Path of the mapping, e.g. `upload` or `dbs[0].replica.metered-policy`. */
  readonly field: string;
  readonly minInterval?: number;
  readonly maxInterval?: number;
  readonly maxBatchBytes?: number;
  readonly bandwidth?: number;
  /** Path of the key that set `minInterval` (`min-interval` or `sync-interval`). */
  readonly minField?: string;
  /** Path of the key that set `maxInterval`, and its value as written (for messages). */
  readonly maxField?: string;
  readonly maxRaw?: unknown;
}

/** The upload keys of one mapping (`upload:` or a replica), not yet resolved. */
export interface UploadLayer {
  readonly policy: PolicyLayer;
  readonly windows: readonly TimeWindow[] | undefined;
  readonly metered: MeteredMode | undefined;
  readonly meteredPolicy: PolicyLayer | undefined;
  readonly meteredSnapshots: boolean | undefined;
}

/** The upload part of a resolved replica. */
export type ResolvedUpload = Pick<
  ReplicaConfig,
  "upload" | "windows" | "metered" | "meteredUpload" | "meteredSnapshots"
>;

/** A policy being resolved, and what its `minInterval` came from (for messages). */
interface Resolving {
  readonly policy: UploadPolicy;
  /** `'upload.min-interval'`, or a phrase such as `the default min-interval`. */
  readonly minSource: string;
}

/**
 * Reads the top-level `upload:` section.
 *
 * @param root the document root
 * @returns its keys, or `undefined` when the section is absent
 * @throws {ConfigError} for an unknown key or an invalid value
 */
export function readUploadSection(root: MapReader): UploadLayer | undefined {
  const upload = root.map("upload");
  if (upload === undefined) return undefined;
  upload.checkKeys(UPLOAD_KEYS);
  return readUploadLayer(upload);
}

/**
 * Reads the upload keys of one mapping. The caller has already rejected
 * unknown keys of `r` (a replica accepts more keys than these).
 *
 * @param r the `upload:` section or a replica entry
 * @returns the keys found
 * @throws {ConfigError} for an invalid value, `sync-interval` together with
 * `min-interval` / `max-interval`, or an unknown key in `metered-policy`
 */
export function readUploadLayer(r: MapReader): UploadLayer {
  const policy = readPolicyLayer(r);
  const windows = readWindows(r);
  const metered = readMetered(r);
  const mp = r.map("metered-policy");
  mp?.checkKeys(METERED_POLICY_KEYS, {
    "sync-interval": "is not accepted here (set 'min-interval' and 'max-interval')",
    windows: `is not accepted here ('windows' applies whether or not the link is metered)`,
  });
  return {
    policy,
    windows,
    metered,
    meteredPolicy: mp === undefined ? undefined : readPolicyLayer(mp),
    meteredSnapshots: mp?.boolean("snapshots"),
  };
}

/**
 * Resolves a replica's upload settings: `DEFAULTS` ← `global` ← `replica`
 * (see the module doc). Called with only `global` it validates the
 * `upload:` section on its own.
 *
 * @param global the top-level `upload:` section, if any
 * @param replica the replica's own keys, if any
 * @returns fresh objects, safe to modify
 * @throws {ConfigError} when a `max-interval` is below the `min-interval`
 * it ends up paired with; the message names both keys
 */
export function resolveUpload(global: UploadLayer | undefined, replica: UploadLayer | undefined): ResolvedUpload {
  let normal: Resolving = { policy: { ...DEFAULTS.upload }, minSource: "the default min-interval" };
  if (global !== undefined) normal = applyLayer(normal, global.policy);
  if (replica !== undefined) normal = applyLayer(normal, replica.policy);
  let metered = meteredBase(normal);
  if (global?.meteredPolicy !== undefined) metered = applyLayer(metered, global.meteredPolicy);
  if (replica?.meteredPolicy !== undefined) metered = applyLayer(metered, replica.meteredPolicy);
  const windows = replica?.windows ?? global?.windows ?? [];
  return {
    upload: normal.policy,
    windows: windows.map((w) => ({ ...w })),
    metered: replica?.metered ?? global?.metered ?? DEFAULTS.metered.mode,
    meteredUpload: metered.policy,
    meteredSnapshots: replica?.meteredSnapshots ?? global?.meteredSnapshots ?? DEFAULTS.metered.snapshots,
  };
}

function readPolicyLayer(r: MapReader): PolicyLayer {
  const syncField = fieldPath(r.field, "sync-interval");
  if (r.has("sync-interval")) {
    const other = ["min-interval", "max-interval"].find((key) => r.has(key));
    if (other !== undefined) {
      throw configError(
        syncField,
        `'${syncField}' cannot be given with '${fieldPath(r.field, other)}' ('sync-interval' sets both 'min-interval' and 'max-interval')`,
      );
    }
  }
  const sync = r.duration("sync-interval", 1);
  const min = sync ?? r.duration("min-interval", 1);
  const max = sync ?? r.duration("max-interval", 1);
  const maxBatchBytes = r.byteSize("max-batch-bytes", 1);
  const bandwidth = r.byteSize("bandwidth", 0, { perSecond: true });
  const maxKey = sync === undefined ? "max-interval" : "sync-interval";
  return {
    field: r.field,
    ...(min === undefined
      ? {}
      : { minInterval: min, minField: sync === undefined ? fieldPath(r.field, "min-interval") : syncField }),
    ...(max === undefined ? {} : { maxInterval: max, maxField: fieldPath(r.field, maxKey), maxRaw: r.raw(maxKey) }),
    ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
    ...(bandwidth === undefined ? {} : { bandwidth }),
  };
}

/** Applies one mapping's policy keys on top of an inherited policy. */
function applyLayer(base: Resolving, layer: PolicyLayer): Resolving {
  const policy = { ...base.policy };
  let minSource = base.minSource;
  if (layer.minInterval !== undefined) {
    policy.minInterval = layer.minInterval;
    minSource = `'${layer.minField}'`;
  }
  if (layer.maxInterval !== undefined) {
    if (layer.maxInterval < policy.minInterval) {
      const field = layer.maxField ?? fieldPath(layer.field, "max-interval");
      const hint = layer.minInterval === undefined ? ` (set '${fieldPath(layer.field, "min-interval")}' too)` : "";
      throw configError(
        field,
        `'${field}' must not be less than ${minSource} (${formatDuration(policy.minInterval)}): received ${describeValue(
          layer.maxRaw,
          false,
        )}${hint}`,
        { value: layer.maxRaw },
      );
    }
    policy.maxInterval = layer.maxInterval;
  } else if (policy.maxInterval < policy.minInterval) {
    // Only `min-interval` was given: a longer minimum implies a longer maximum.
    policy.maxInterval = policy.minInterval;
  }
  if (layer.maxBatchBytes !== undefined) policy.maxBatchBytes = layer.maxBatchBytes;
  if (layer.bandwidth !== undefined) policy.bandwidth = layer.bandwidth;
  return { policy, minSource };
}

/** The normal policy with the metered default intervals where those are longer. */
function meteredBase(normal: Resolving): Resolving {
  const { minInterval, maxInterval } = DEFAULTS.metered;
  const raisedMin = minInterval > normal.policy.minInterval;
  return {
    policy: {
      ...normal.policy,
      minInterval: Math.max(normal.policy.minInterval, minInterval),
      maxInterval: Math.max(normal.policy.maxInterval, maxInterval),
    },
    minSource: raisedMin ? "the default metered min-interval" : normal.minSource,
  };
}

function readWindows(r: MapReader): TimeWindow[] | undefined {
  const list = r.stringList("windows");
  if (list === undefined) return undefined;
  const field = fieldPath(r.field, "windows");
  return list.map((text, i) => {
    try {
      return parseTimeWindow(text);
    } catch (cause) {
      const item = fieldPath(field, i);
      const reason = errorMessage(cause);
      throw configError(item, `'${item}' is invalid: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
        value: text,
        cause,
      });
    }
  });
}

function readMetered(r: MapReader): MeteredMode | undefined {
  const value = r.raw("metered");
  if (value === undefined) return undefined;
  if (typeof value === "boolean") return value ? "yes" : "no";
  const field = fieldPath(r.field, "metered");
  const text = typeof value === "string" ? r.string("metered", { allowEmpty: true }) : undefined;
  const mode = text === undefined ? undefined : METERED_WORDS.get(text.trim().toLowerCase());
  if (mode === undefined) {
    throw configError(
      field,
      `'${field}' must be one of 'auto', 'yes', 'no' (or true / false): received ${describeValue(value, false)}`,
      { value },
    );
  }
  return mode;
}
