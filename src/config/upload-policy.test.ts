import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import { DEFAULTS, type UploadPolicy } from "./schema.ts";
import type { ResolvedUpload } from "./upload-policy.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const OPTIONS: ParseConfigOptions = { env: { METERED: "Yes", RATE: "64KiB/s" }, cwd: "/srv", deviceId: "host-1" };

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const MIB = 1024 * 1024;

/**
 * Parses a config with an optional top-level section and one file replica
 * carrying `keys` (flow-mapping entries, e.g. `min-interval: 1m`), and
 * returns the replica's upload settings.
 */
function uploadOf(keys: string, top = ""): ResolvedUpload {
  const replica = keys === "" ? "{ path: r }" : `{ path: r, ${keys} }`;
  const config = parseConfig(`${top}dbs:\n  - path: app.db\n    replica: ${replica}\n`, OPTIONS);
  const r = config.dbs[0]?.replicas[0];
  if (r === undefined) throw new Error("no replica");
  const { name: _, spec: __, ...upload } = r;
  return upload;
}

const errorOf = (keys: string, top = ""): ConfigError => thrownConfigError(() => uploadOf(keys, top));

function policy(minInterval: number, maxInterval: number, extra: Partial<UploadPolicy> = {}): UploadPolicy {
  return { minInterval, maxInterval, maxBatchBytes: 16 * MIB, bandwidth: 0, ...extra };
}

/** The defaults, spelled out so a change to DEFAULTS is a deliberate test change too. */
function resolved(extra: Partial<ResolvedUpload> = {}): ResolvedUpload {
  return {
    upload: policy(10 * S, 60 * S),
    windows: [],
    metered: "auto",
    meteredUpload: policy(5 * M, 15 * M),
    meteredSnapshots: false,
    ...extra,
  };
}

describe("resolveUpload", () => {
  test("resolveUpload() defaults match DEFAULTS", () => {
    expect(resolved().upload).toEqual({ ...DEFAULTS.upload });
    expect(resolved().meteredUpload).toEqual({
      ...DEFAULTS.upload,
      minInterval: DEFAULTS.metered.minInterval,
      maxInterval: DEFAULTS.metered.maxInterval,
    });
    expect([resolved().metered, resolved().meteredSnapshots]).toEqual([
      DEFAULTS.metered.mode,
      DEFAULTS.metered.snapshots,
    ]);
  });

  const ok: { name: string; keys: string; top?: string; want: ResolvedUpload }[] = [
    { name: "no keys gives the defaults", keys: "", want: resolved() },
    { name: "an empty upload section gives the defaults", keys: "", top: "upload: {}\n", want: resolved() },
    {
      name: "min-interval below the inherited max keeps the max",
      keys: "min-interval: 30s",
      want: resolved({ upload: policy(30 * S, 60 * S) }),
    },
    {
      name: "min-interval above the inherited max raises the max",
      keys: "min-interval: 2m",
      want: resolved({ upload: policy(2 * M, 2 * M) }),
    },
    {
      name: "max-interval alone above the inherited min",
      keys: "max-interval: 5m",
      want: resolved({ upload: policy(10 * S, 5 * M) }),
    },
    {
      name: "max-interval equal to min-interval",
      keys: "min-interval: 1m, max-interval: 1m",
      want: resolved({ upload: policy(M, M) }),
    },
    {
      name: "sync-interval sets both intervals",
      keys: "sync-interval: 1s",
      want: resolved({ upload: policy(S, S) }),
    },
    {
      name: "a sync-interval longer than the metered defaults carries over to the metered policy",
      keys: "sync-interval: 1h",
      want: resolved({ upload: policy(H, H), meteredUpload: policy(H, H) }),
    },
    {
      name: "a max-interval longer than the metered default carries over",
      keys: "max-interval: 30m",
      want: resolved({ upload: policy(10 * S, 30 * M), meteredUpload: policy(5 * M, 30 * M) }),
    },
    {
      name: "the upload section applies to replicas, metered policy included",
      keys: "",
      top: "upload: { min-interval: 30s, max-interval: 10m, max-batch-bytes: 4MiB, bandwidth: 64KiB/s }\n",
      want: resolved({
        upload: policy(30 * S, 10 * M, { maxBatchBytes: 4 * MIB, bandwidth: 65_536 }),
        meteredUpload: policy(5 * M, 15 * M, { maxBatchBytes: 4 * MIB, bandwidth: 65_536 }),
      }),
    },
    {
      name: "replica keys override the upload section key by key",
      keys: "max-interval: 2m, bandwidth: 0",
      top: "upload: { sync-interval: 30s, bandwidth: 1MB/s }\n",
      want: resolved({ upload: policy(30 * S, 2 * M) }),
    },
    {
      name: "a replica min-interval raises a max-interval from the upload section",
      keys: "min-interval: 45s",
      top: "upload: { max-interval: 30s }\n",
      want: resolved({ upload: policy(45 * S, 45 * S) }),
    },
    {
      name: "a replica sync-interval replaces both intervals of the upload section",
      keys: "sync-interval: 5s",
      top: "upload: { min-interval: 1m, max-interval: 1h }\n",
      want: resolved({ upload: policy(5 * S, 5 * S) }),
    },
    {
      name: "bandwidth as a size without /s",
      keys: "bandwidth: 64KiB",
      want: resolved({
        upload: policy(10 * S, M, { bandwidth: 65_536 }),
        meteredUpload: policy(5 * M, 15 * M, { bandwidth: 65_536 }),
      }),
    },
    {
      name: "bandwidth in decimal units per second",
      keys: "bandwidth: 1MB/s",
      want: resolved({
        upload: policy(10 * S, M, { bandwidth: 1_000_000 }),
        meteredUpload: policy(5 * M, 15 * M, { bandwidth: 1_000_000 }),
      }),
    },
    {
      name: "bandwidth as an integer is bytes per second",
      keys: "bandwidth: 2048",
      want: resolved({
        upload: policy(10 * S, M, { bandwidth: 2048 }),
        meteredUpload: policy(5 * M, 15 * M, { bandwidth: 2048 }),
      }),
    },
    {
      name: "bandwidth from the environment, with a space before /s",
      keys: "bandwidth: '$RATE', max-batch-bytes: '1 MiB'",
      want: resolved({
        upload: policy(10 * S, M, { bandwidth: 65_536, maxBatchBytes: MIB }),
        meteredUpload: policy(5 * M, 15 * M, { bandwidth: 65_536, maxBatchBytes: MIB }),
      }),
    },
    {
      name: "bandwidth '0/s' is unlimited",
      keys: "bandwidth: 0/s",
      top: "upload: { bandwidth: 8KiB/s }\n",
      want: resolved(),
    },
    {
      name: "windows wrap past midnight and 24:00 ends the day",
      keys: "",
      top: "upload:\n  windows: ['22:00-04:00', '00:00-24:00', 9:30-17:00]\n",
      want: resolved({
        windows: [
          { start: 1320, end: 240 },
          { start: 0, end: 1440 },
          { start: 570, end: 1020 },
        ],
      }),
    },
    {
      name: "replica windows replace the global list",
      keys: "windows: ['12:00-13:00']",
      top: "upload: { windows: ['22:00-04:00', '01:00-02:00'] }\n",
      want: resolved({ windows: [{ start: 720, end: 780 }] }),
    },
    {
      name: "an empty replica windows list means any time",
      keys: "windows: []",
      top: "upload: { windows: ['22:00-04:00'] }\n",
      want: resolved(),
    },
    { name: "metered yes", keys: "metered: yes", want: resolved({ metered: "yes" }) },
    { name: "metered no", keys: "metered: no", want: resolved({ metered: "no" }) },
    { name: "metered true is yes", keys: "metered: true", want: resolved({ metered: "yes" }) },
    { name: "metered false is no", keys: "metered: false", want: resolved({ metered: "no" }) },
    { name: "metered from the environment, any case", keys: "metered: $METERED", want: resolved({ metered: "yes" }) },
    {
      name: "replica metered overrides the upload section",
      keys: "metered: auto",
      top: "upload: { metered: no }\n",
      want: resolved(),
    },
    {
      name: "metered-policy for a cellular gateway",
      keys: "",
      top: "upload:\n  metered: auto\n  metered-policy: { max-interval: 15m, bandwidth: 32KiB/s, snapshots: false }\n",
      want: resolved({ meteredUpload: policy(5 * M, 15 * M, { bandwidth: 32_768 }) }),
    },
    {
      name: "metered-policy keys override the global ones key by key",
      keys: "metered-policy: { bandwidth: 8KiB/s, snapshots: false }",
      top: "upload:\n  metered-policy: { max-interval: 30m, bandwidth: 32KiB/s, max-batch-bytes: 1MiB, snapshots: true }\n",
      want: resolved({ meteredUpload: policy(5 * M, 30 * M, { bandwidth: 8192, maxBatchBytes: MIB }) }),
    },
    {
      name: "metered-policy snapshots from the upload section",
      keys: "",
      top: "upload: { metered-policy: { snapshots: true } }\n",
      want: resolved({ meteredSnapshots: true }),
    },
    {
      name: "metered-policy min-interval may be shorter than the metered default",
      keys: "metered-policy: { min-interval: 1m }",
      want: resolved({ meteredUpload: policy(M, 15 * M) }),
    },
    {
      name: "metered-policy min-interval above the metered max raises it",
      keys: "metered-policy: { min-interval: 1h }",
      want: resolved({ meteredUpload: policy(H, H) }),
    },
    {
      name: "metered-policy starts from the replica's normal policy",
      keys: "sync-interval: 30m, max-batch-bytes: 2MiB, metered-policy: { max-interval: 45m }",
      want: resolved({
        upload: policy(30 * M, 30 * M, { maxBatchBytes: 2 * MIB }),
        meteredUpload: policy(30 * M, 45 * M, { maxBatchBytes: 2 * MIB }),
      }),
    },
    {
      name: "metered-policy does not change the normal policy",
      keys: "metered-policy: { min-interval: 10m, max-interval: 1h, bandwidth: 1KiB }",
      want: resolved({ meteredUpload: policy(10 * M, H, { bandwidth: 1024 }) }),
    },
  ];
  for (const { name, keys, top, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(uploadOf(keys, top)).toEqual(want);
    });
  }

  const err: { name: string; keys: string; top?: string; field: string; message: string }[] = [
    {
      name: "sync-interval with min-interval",
      keys: "sync-interval: 1s, min-interval: 1s",
      field: "dbs[0].replica.sync-interval",
      message:
        "Cannot read config: 'dbs[0].replica.sync-interval' cannot be given with 'dbs[0].replica.min-interval' ('sync-interval' sets both 'min-interval' and 'max-interval')",
    },
    {
      name: "sync-interval with max-interval in the upload section",
      keys: "",
      top: "upload: { max-interval: 1m, sync-interval: 1s }\n",
      field: "upload.sync-interval",
      message:
        "Cannot read config: 'upload.sync-interval' cannot be given with 'upload.max-interval' ('sync-interval' sets both 'min-interval' and 'max-interval')",
    },
    {
      name: "max-interval below min-interval in one mapping",
      keys: "min-interval: 1m, max-interval: 30s",
      field: "dbs[0].replica.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.max-interval' must not be less than 'dbs[0].replica.min-interval' (1m): received '30s'",
    },
    {
      name: "max-interval alone below the default min-interval",
      keys: "max-interval: 5s",
      field: "dbs[0].replica.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.max-interval' must not be less than the default min-interval (10s): received '5s' (set 'dbs[0].replica.min-interval' too)",
    },
    {
      name: "max-interval alone below the upload section's min-interval",
      keys: "max-interval: 20s",
      top: "upload: { min-interval: 30s }\n",
      field: "dbs[0].replica.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.max-interval' must not be less than 'upload.min-interval' (30s): received '20s' (set 'dbs[0].replica.min-interval' too)",
    },
    {
      name: "max-interval alone below the upload section's sync-interval",
      keys: "max-interval: 30s",
      top: "upload: { sync-interval: 1m }\n",
      field: "dbs[0].replica.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.max-interval' must not be less than 'upload.sync-interval' (1m): received '30s' (set 'dbs[0].replica.min-interval' too)",
    },
    {
      name: "zero min-interval",
      keys: "min-interval: 0s",
      field: "dbs[0].replica.min-interval",
      message: "Cannot read config: 'dbs[0].replica.min-interval' must be greater than 0: received '0s'",
    },
    {
      name: "bare number max-interval",
      keys: "",
      top: "upload: { max-interval: 60 }\n",
      field: "upload.max-interval",
      message:
        "Cannot read config: 'upload.max-interval' must be a duration like '10s' or '1m30s': cannot parse duration '60': a unit is required (e.g. '60s' or '60ms')",
    },
    {
      name: "zero max-batch-bytes",
      keys: "max-batch-bytes: 0",
      field: "dbs[0].replica.max-batch-bytes",
      message: "Cannot read config: 'dbs[0].replica.max-batch-bytes' must be greater than 0: received 0",
    },
    {
      name: "max-batch-bytes is not a rate",
      keys: "max-batch-bytes: 16MiB/s",
      field: "dbs[0].replica.max-batch-bytes",
      message:
        "Cannot read config: 'dbs[0].replica.max-batch-bytes' must be a byte size like '16MiB' or '512KiB': cannot parse byte size '16MiB/s': expected a number and an optional unit",
    },
    {
      name: "bandwidth that is not a rate",
      keys: "",
      top: "upload: { bandwidth: fast }\n",
      field: "upload.bandwidth",
      message:
        "Cannot read config: 'upload.bandwidth' must be a rate like '64KiB/s' or '1MB/s': cannot parse byte size 'fast': expected a number and an optional unit",
    },
    {
      name: "bandwidth per hour",
      keys: "bandwidth: 1GB/h",
      field: "dbs[0].replica.bandwidth",
      message:
        "Cannot read config: 'dbs[0].replica.bandwidth' must be a rate like '64KiB/s' or '1MB/s': cannot parse byte size '1GB/h'",
    },
    {
      name: "negative bandwidth",
      keys: "bandwidth: -1",
      field: "dbs[0].replica.bandwidth",
      message:
        "Cannot read config: 'dbs[0].replica.bandwidth' must be a rate like '64KiB/s' or '1MB/s': cannot parse byte size '-1': a plain number must be a non-negative whole number of bytes",
    },
    {
      name: "bandwidth is a list",
      keys: "bandwidth: [1]",
      field: "dbs[0].replica.bandwidth",
      message:
        "Cannot read config: 'dbs[0].replica.bandwidth' must be a rate like '64KiB/s' or '1MB/s': received a list",
    },
    {
      name: "window hour out of range",
      keys: "",
      top: "upload: { windows: ['01:00-02:00', '25:00-01:00'] }\n",
      field: "upload.windows[1]",
      message:
        "Cannot read config: 'upload.windows[1]' is invalid: cannot parse time window '25:00-01:00': '25:00' is not a time of day (00:00 to 23:59, or 24:00 as an end)",
    },
    {
      name: "window that starts where it ends",
      keys: "windows: ['04:00-04:00']",
      field: "dbs[0].replica.windows[0]",
      message:
        "Cannot read config: 'dbs[0].replica.windows[0]' is invalid: cannot parse time window '04:00-04:00': the start equals the end (write '00:00-24:00' for the whole day)",
    },
    {
      name: "window starting at 24:00",
      keys: "windows: ['24:00-06:00']",
      field: "dbs[0].replica.windows[0]",
      message:
        "Cannot read config: 'dbs[0].replica.windows[0]' is invalid: cannot parse time window '24:00-06:00': the start must be 00:00 to 23:59",
    },
    {
      name: "window without an end",
      keys: "windows: ['22:00']",
      field: "dbs[0].replica.windows[0]",
      message:
        "Cannot read config: 'dbs[0].replica.windows[0]' is invalid: cannot parse time window '22:00': expected 'HH:MM-HH:MM' on a 24-hour clock (e.g. '22:00-04:00')",
    },
    {
      name: "windows is a string",
      keys: "",
      top: "upload: { windows: '22:00-04:00' }\n",
      field: "upload.windows",
      message: "Cannot read config: 'upload.windows' must be a list: received '22:00-04:00'",
    },
    {
      name: "window is a number",
      keys: "windows: [1320]",
      field: "dbs[0].replica.windows[0]",
      message: `Cannot read config: 'dbs[0].replica.windows[0]' must be a string: received 1320 (put it in quotes: '"1320"')`,
    },
    {
      name: "window with an unset variable",
      keys: "windows: ['$NIGHT']",
      field: "dbs[0].replica.windows[0]",
      message: "Cannot read config: environment variable 'NIGHT' used in 'dbs[0].replica.windows[0]' is not set",
    },
    {
      name: "unknown metered mode",
      keys: "",
      top: "upload: { metered: sometimes }\n",
      field: "upload.metered",
      message:
        "Cannot read config: 'upload.metered' must be one of 'auto', 'yes', 'no' (or true / false): received 'sometimes'",
    },
    {
      name: "numeric metered mode",
      keys: "metered: 1",
      field: "dbs[0].replica.metered",
      message:
        "Cannot read config: 'dbs[0].replica.metered' must be one of 'auto', 'yes', 'no' (or true / false): received 1",
    },
    {
      name: "misspelled key in the upload section",
      keys: "",
      top: "upload: { min-intreval: 1m }\n",
      field: "upload.min-intreval",
      message: "Cannot read config: unknown key 'upload.min-intreval' (did you mean 'min-interval'?)",
    },
    {
      name: "upload section is a list",
      keys: "",
      top: "upload: [1]\n",
      field: "upload",
      message: "Cannot read config: 'upload' must be a mapping of keys to values: received a list",
    },
    {
      name: "misspelled metered-policy key",
      keys: "metered-policy: { bandwith: 1KiB }",
      field: "dbs[0].replica.metered-policy.bandwith",
      message: "Cannot read config: unknown key 'dbs[0].replica.metered-policy.bandwith' (did you mean 'bandwidth'?)",
    },
    {
      name: "sync-interval in metered-policy",
      keys: "",
      top: "upload: { metered-policy: { sync-interval: 15m } }\n",
      field: "upload.metered-policy.sync-interval",
      message:
        "Cannot read config: key 'upload.metered-policy.sync-interval' is not accepted here (set 'min-interval' and 'max-interval')",
    },
    {
      name: "windows in metered-policy",
      keys: "metered-policy: { windows: [] }",
      field: "dbs[0].replica.metered-policy.windows",
      message:
        "Cannot read config: key 'dbs[0].replica.metered-policy.windows' is not accepted here ('windows' applies whether or not the link is metered)",
    },
    {
      name: "bad metered-policy bandwidth",
      keys: "metered-policy: { bandwidth: slow }",
      field: "dbs[0].replica.metered-policy.bandwidth",
      message: "Cannot read config: 'dbs[0].replica.metered-policy.bandwidth' must be a rate like '64KiB/s' or '1MB/s'",
    },
    {
      name: "bad metered-policy snapshots",
      keys: "metered-policy: { snapshots: sometimes }",
      field: "dbs[0].replica.metered-policy.snapshots",
      message:
        "Cannot read config: 'dbs[0].replica.metered-policy.snapshots' must be true or false: received 'sometimes'",
    },
    {
      name: "metered-policy is a string",
      keys: "metered-policy: cheap",
      field: "dbs[0].replica.metered-policy",
      message:
        "Cannot read config: 'dbs[0].replica.metered-policy' must be a mapping of keys to values: received 'cheap'",
    },
    {
      name: "metered-policy max-interval below the metered default min-interval",
      keys: "",
      top: "upload: { metered-policy: { max-interval: 2m } }\n",
      field: "upload.metered-policy.max-interval",
      message:
        "Cannot read config: 'upload.metered-policy.max-interval' must not be less than the default metered min-interval (5m): received '2m' (set 'upload.metered-policy.min-interval' too)",
    },
    {
      name: "metered-policy max-interval below the replica's sync-interval",
      keys: "sync-interval: 30m, metered-policy: { max-interval: 20m }",
      field: "dbs[0].replica.metered-policy.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.metered-policy.max-interval' must not be less than 'dbs[0].replica.sync-interval' (30m): received '20m' (set 'dbs[0].replica.metered-policy.min-interval' too)",
    },
    {
      name: "replica metered-policy max-interval below the global metered-policy min-interval",
      keys: "metered-policy: { max-interval: 8m }",
      top: "upload: { metered-policy: { min-interval: 10m } }\n",
      field: "dbs[0].replica.metered-policy.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.metered-policy.max-interval' must not be less than 'upload.metered-policy.min-interval' (10m): received '8m' (set 'dbs[0].replica.metered-policy.min-interval' too)",
    },
    {
      name: "metered-policy max-interval below its min-interval",
      keys: "metered-policy: { min-interval: 20m, max-interval: 10m }",
      field: "dbs[0].replica.metered-policy.max-interval",
      message:
        "Cannot read config: 'dbs[0].replica.metered-policy.max-interval' must not be less than 'dbs[0].replica.metered-policy.min-interval' (20m): received '10m'",
    },
  ];
  for (const { name, keys, top, field, message } of err) {
    test(`err: ${name}`, () => {
      const e = errorOf(keys, top);
      expect(e.field).toBe(field);
      expect(e.message).toStartWith(message);
    });
  }

  test("parseConfig() reports an invalid upload section without any database", () => {
    expect(() => parseConfig("upload: { max-interval: 5s }\n", OPTIONS)).toThrow(
      "Cannot read config: 'upload.max-interval' must not be less than the default min-interval (10s): received '5s' (set 'upload.min-interval' too)",
    );
  });
});
