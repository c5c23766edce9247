/**
 * The dashboard's listen address, `host:port`: parsed without side effects,
 * so that the CLI can check `--addr` before it connects to anything
 * (`cli/fleet.ts`), and the server listens on what was checked
 * (`server.ts`).
 *
 * @module
 */

/**
 * Splits `host:port` (`[v6]:port` for IPv6); an empty host is 127.0.0.1.
 * `what` names the address in the message (`--addr` on the command line).
 *
 * @example
 * ```ts
 * parseDashboardAddr("127.0.0.1:9398"); // { host: "127.0.0.1", port: 9398 }
 * parseDashboardAddr("[::1]:0"); // { host: "::1", port: 0 }
 * parseDashboardAddr(":8080"); // { host: "127.0.0.1", port: 8080 }
 * ```
 *
 * @throws {RangeError} when it is not that shape or the port is out of range
 */
export function parseDashboardAddr(addr: string, what = "dashboard address"): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new RangeError(`Cannot parse ${what} '${addr}': use host:port with a port in 0-65535`);
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "127.0.0.1" : host, port };
}
