import { describe, expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parseConfig, type ParseConfigOptions } from "./parse.ts";
import type { Config } from "./schema.ts";
import { parseListenAddr } from "./status-section.ts";
import { thrownConfigError } from "../../test/harness/config.ts";

const OPTIONS: ParseConfigOptions = { env: { ADDR: "127.0.0.1:0", EMPTY: "" }, cwd: "/srv", deviceId: "host-1" };

function statusOf(text: string): Config["status"] {
  return parseConfig(text, OPTIONS).status;
}

const errorOf = (text: string): ConfigError => thrownConfigError(() => statusOf(text));

describe("parseListenAddr", () => {
  const ok: [string, { host: string; port: number }][] = [
    ["127.0.0.1:9397", { host: "127.0.0.1", port: 9397 }],
    ["localhost:0", { host: "localhost", port: 0 }],
    ["[::1]:65535", { host: "::1", port: 65_535 }],
    ["0.0.0.0:80", { host: "0.0.0.0", port: 80 }],
    ["gw-7.site.example:8080", { host: "gw-7.site.example", port: 8080 }],
  ];
  for (const [text, want] of ok) {
    test(`ok: parseListenAddr('${text}')`, () => {
      expect(parseListenAddr(text)).toEqual(want);
    });
  }

  const err: [string, string][] = [
    ["127.0.0.1", "Cannot use listen address '127.0.0.1': expected 'host:port' (e.g. '127.0.0.1:9397')"],
    ["localhost:http", "Cannot use listen address 'localhost:http': expected 'host:port'"],
    [
      "::1:9397",
      "Cannot use listen address '::1:9397': expected 'host:port' (e.g. '127.0.0.1:9397') (write IPv6 addresses in brackets, e.g. '[::1]:9397')",
    ],
    ["127.0.0.1:65536", "Cannot use listen address '127.0.0.1:65536': the port must be 0 to 65535"],
    [
      ":9397",
      "Cannot use listen address ':9397': the host is missing (e.g. '127.0.0.1:9397'; '0.0.0.0' listens on every interface)",
    ],
    ["[zz]:1", "Cannot use listen address '[zz]:1': 'zz' is not an IPv6 address"],
    ["300.1.1.1:1", "Cannot use listen address '300.1.1.1:1': '300.1.1.1' is not a host name or IP address"],
    ["my_host:1", "Cannot use listen address 'my_host:1': 'my_host' is not a host name or IP address"],
    ["http://localhost:1", "Cannot use listen address 'http://localhost:1': expected 'host:port'"],
  ];
  for (const [text, message] of err) {
    test(`err: parseListenAddr('${text}')`, () => {
      expect(() => parseListenAddr(text)).toThrow(message);
    });
  }
});

describe("readStatus", () => {
  const ok: { name: string; text: string; want: Config["status"] }[] = [
    { name: "absent means the default", text: "", want: { addr: "127.0.0.1:9397" } },
    { name: "addr with no value means the default", text: "status: { addr: }\n", want: { addr: "127.0.0.1:9397" } },
    { name: "an address", text: "status: { addr: 'localhost:8080' }\n", want: { addr: "localhost:8080" } },
    { name: "from the environment", text: "status: { addr: $ADDR }\n", want: { addr: "127.0.0.1:0" } },
    { name: "empty disables the server", text: "status: { addr: '' }\n", want: { addr: undefined } },
    {
      name: "empty from the environment disables the server",
      text: "status: { addr: $EMPTY }\n",
      want: { addr: undefined },
    },
  ];
  for (const { name, text, want } of ok) {
    test(`ok: ${name}`, () => {
      expect(statusOf(text)).toEqual(want);
    });
  }

  const err: { name: string; text: string; field: string; message: string }[] = [
    {
      name: "missing port",
      text: "status: { addr: localhost }\n",
      field: "status.addr",
      message:
        "Cannot read config: 'status.addr' is invalid: cannot use listen address 'localhost': expected 'host:port' (e.g. '127.0.0.1:9397')",
    },
    {
      name: "port out of range",
      text: "status: { addr: '127.0.0.1:70000' }\n",
      field: "status.addr",
      message:
        "Cannot read config: 'status.addr' is invalid: cannot use listen address '127.0.0.1:70000': the port must be 0 to 65535",
    },
    {
      name: "a number",
      text: "status: { addr: 9397 }\n",
      field: "status.addr",
      message: `Cannot read config: 'status.addr' must be a string: received 9397 (put it in quotes: '"9397"')`,
    },
    {
      name: "misspelled key",
      text: "status: { adr: ':1' }\n",
      field: "status.adr",
      message: "Cannot read config: unknown key 'status.adr' (did you mean 'addr'?)",
    },
    {
      name: "not a mapping",
      text: "status: off\n",
      field: "status",
      message: "Cannot read config: 'status' must be a mapping of keys to values: received 'off'",
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
