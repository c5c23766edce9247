import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import type { DbConfig } from "./schema.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const OPTIONS: ParseConfigOptions = { env: { SPOOL: "64MiB" }, cwd: "/srv", deviceId: "host-1" };
const MIB = 1024 * 1024;

/** Parses a config with an optional top-level section and one database carrying `keys`. */
function spoolOf(keys: string, top = ""): DbConfig["spool"] | undefined {
  const config = parseConfig(`${top}dbs:\n  - path: app.db\n    replica: { path: r }\n${keys}`, OPTIONS);
  return config.dbs[0]?.spool;
}

const errorOf = (keys: string, top = ""): ConfigError => thrownConfigError(() => spoolOf(keys, top));

describe("readSpool", () => {
  const ok: { name: string; keys: string; top?: string; want: DbConfig["spool"] }[] = [
    { name: "defaults", keys: "", want: { maxBytes: 256 * MIB, maxAge: 86_400_000 } },
    { name: "empty section", keys: "    spool: {}\n", want: { maxBytes: 256 * MIB, maxAge: 86_400_000 } },
    {
      name: "top-level section",
      keys: "",
      top: "spool: { max-bytes: 1GB, max-age: 1h }\n",
      want: { maxBytes: 1e9, maxAge: 3_600_000 },
    },
    {
      name: "database keys override the top-level ones key by key",
      keys: "    spool: { max-bytes: $SPOOL }\n",
      top: "spool: { max-bytes: 1GB, max-age: 1h }\n",
      want: { maxBytes: 64 * MIB, maxAge: 3_600_000 },
    },
    {
      name: "integer bytes",
      keys: "    spool: { max-bytes: 4096, max-age: 90s }\n",
      want: { maxBytes: 4096, maxAge: 90_000 },
    },
  ];
  for (const { name, keys, top, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(spoolOf(keys, top)).toEqual(want);
    });
  }

  const err: { name: string; keys: string; top?: string; field: string; message: string }[] = [
    {
      name: "zero max-bytes",
      keys: "",
      top: "spool: { max-bytes: 0 }\n",
      field: "spool.max-bytes",
      message: "Cannot read config: 'spool.max-bytes' must be greater than 0: received 0",
    },
    {
      name: "bad max-bytes unit",
      keys: "    spool: { max-bytes: 5 parsecs }\n",
      field: "dbs[0].spool.max-bytes",
      message:
        "Cannot read config: 'dbs[0].spool.max-bytes' must be a byte size like '16MiB' or '512KiB': cannot parse byte size '5 parsecs': unknown unit 'parsecs'",
    },
    {
      name: "zero max-age",
      keys: "    spool: { max-age: 0s }\n",
      field: "dbs[0].spool.max-age",
      message: "Cannot read config: 'dbs[0].spool.max-age' must be greater than 0: received '0s'",
    },
    {
      name: "misspelled key",
      keys: "",
      top: "spool: { max-byte: 1GiB }\n",
      field: "spool.max-byte",
      message: "Cannot read config: unknown key 'spool.max-byte' (did you mean 'max-bytes'?)",
    },
    {
      name: "not a mapping",
      keys: "    spool: 1GiB\n",
      field: "dbs[0].spool",
      message: "Cannot read config: 'dbs[0].spool' must be a mapping of keys to values: received '1GiB'",
    },
  ];
  for (const { name, keys, top, field, message } of err) {
    test(`err: ${name}`, () => {
      const e = errorOf(keys, top);
      expect(e.field).toBe(field);
      expect(e.message).toStartWith(message);
    });
  }
});
