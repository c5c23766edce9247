import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import { type Config, DEFAULTS } from "./schema.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const OPTIONS: ParseConfigOptions = { env: { L1: "5m" }, cwd: "/srv", deviceId: "host-1" };

function levelsOf(text: string): Config["levels"] {
  return parseConfig(text, OPTIONS).levels;
}

const errorOf = (text: string): ConfigError => thrownConfigError(() => levelsOf(text));

describe("readLevels", () => {
  const ok: { name: string; text: string; want: Config["levels"] }[] = [
    { name: "absent means the defaults (none)", text: "", want: [] },
    { name: "no value means the defaults", text: "levels:\n", want: DEFAULTS.levels.map((l) => ({ ...l })) },
    { name: "an empty list disables compaction", text: "levels: []\n", want: [] },
    {
      name: "Litestream's shape",
      text: "levels:\n  - interval: 30s\n  - interval: 5m\n  - interval: 1h\n",
      want: [{ interval: 30_000 }, { interval: 300_000 }, { interval: 3_600_000 }],
    },
    { name: "environment expansion", text: "levels: [{ interval: $L1 }]\n", want: [{ interval: 300_000 }] },
    {
      name: "eight levels",
      text: `levels: [${[1, 2, 3, 4, 5, 6, 7, 8].map((h) => `{ interval: ${h}h }`).join(", ")}]\n`,
      want: [1, 2, 3, 4, 5, 6, 7, 8].map((h) => ({ interval: h * 3_600_000 })),
    },
  ];
  for (const { name, text, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(levelsOf(text)).toEqual(want);
    });
  }

  const err: { name: string; text: string; field: string; message: string }[] = [
    {
      name: "nine levels",
      text: `levels: [${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((h) => `{ interval: ${h}h }`).join(", ")}]\n`,
      field: "levels",
      message: "Cannot read config: 'levels' may list at most 8 compaction levels (L1 to L8): received 9",
    },
    {
      name: "not a list",
      text: "levels: { interval: 5m }\n",
      field: "levels",
      message: "Cannot read config: 'levels' must be a list: received a mapping",
    },
    {
      name: "entry is a duration",
      text: "levels: [5m]\n",
      field: "levels[0]",
      message: "Cannot read config: 'levels[0]' must be a mapping of keys to values: received '5m'",
    },
    {
      name: "missing interval",
      text: "levels: [{ interval: 5m }, {}]\n",
      field: "levels[1].interval",
      message: "Cannot read config: missing key 'levels[1].interval' (how often level L2 is compacted, e.g. '15m')",
    },
    {
      name: "misspelled key",
      text: "levels: [{ intervall: 5m }]\n",
      field: "levels[0].intervall",
      message: "Cannot read config: unknown key 'levels[0].intervall' (did you mean 'interval'?)",
    },
    {
      name: "zero interval",
      text: "levels: [{ interval: 0 }]\n",
      field: "levels[0].interval",
      message: "Cannot read config: 'levels[0].interval' must be greater than 0: received 0",
    },
    {
      name: "decreasing intervals",
      text: "levels: [{ interval: 5m }, { interval: 1h }, { interval: 30m }]\n",
      field: "levels[2].interval",
      message: "Cannot read config: 'levels[2].interval' must be longer than 'levels[1].interval' (1h): received '30m'",
    },
    {
      name: "equal intervals",
      text: "levels: [{ interval: 1h }, { interval: 60m }]\n",
      field: "levels[1].interval",
      message: "Cannot read config: 'levels[1].interval' must be longer than 'levels[0].interval' (1h): received '60m'",
    },
  ];
  for (const { name, text, field, message } of err) {
    test(`err: ${name}`, () => {
      const e = errorOf(text);
      expect(e.field).toBe(field);
      expect(e.message).toBe(message);
    });
  }
});
