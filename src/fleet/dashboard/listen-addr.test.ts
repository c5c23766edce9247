import { describe, expect, test } from "bun:test";
import { parseDashboardAddr } from "./listen-addr.ts";

describe("parseDashboardAddr()", () => {
  const ok: [string, { host: string; port: number }][] = [
    ["127.0.0.1:9398", { host: "127.0.0.1", port: 9398 }],
    [":0", { host: "127.0.0.1", port: 0 }],
    ["[::1]:65535", { host: "::1", port: 65_535 }],
    ["0.0.0.0:80", { host: "0.0.0.0", port: 80 }],
    ["localhost:8080", { host: "localhost", port: 8080 }],
  ];
  for (const [addr, want] of ok) {
    test(`ok: '${addr}'`, () => {
      expect(parseDashboardAddr(addr)).toEqual(want);
    });
  }

  for (const addr of ["nope", "8080", "127.0.0.1:99999", "127.0.0.1:70000", "a:b:1", "::1:80", "host:http", ""]) {
    test(`err: '${addr}' is a RangeError naming what was parsed`, () => {
      expect(() => parseDashboardAddr(addr)).toThrow(
        new RangeError(`Cannot parse dashboard address '${addr}': use host:port with a port in 0-65535`),
      );
      expect(() => parseDashboardAddr(addr, "--addr")).toThrow(
        new RangeError(`Cannot parse --addr '${addr}': use host:port with a port in 0-65535`),
      );
    });
  }
});
