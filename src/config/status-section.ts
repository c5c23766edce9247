/**
 * The top-level `status:` section: the address of the agent's local status
 * and control HTTP server (`litefleet status`, `litefleet sync`).
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";
import { errorMessage } from "../errors.ts";
import { configError, fieldPath, type MapReader } from "./map-reader.ts";
import { type Config, DEFAULTS } from "./schema.ts";

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Checks a listen address: `host:port`, where host is a host name, an IPv4
 * address or a bracketed IPv6 address (`[::1]:9397`), and port is 0 to
 * 65535 (0 = any free port).
 *
 * @example
 * ```ts
 * parseListenAddr("127.0.0.1:9397"); // { host: "127.0.0.1", port: 9397 }
 * parseListenAddr("[::1]:0"); // { host: "::1", port: 0 }
 * ```
 *
 * @param text the address
 * @returns host (without brackets) and port
 * @throws {SyntaxError} when the text is not `host:port` or the host is not
 * a host name or IP address
 * @throws {RangeError} when the port is above 65535
 */
export function parseListenAddr(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (m === null) {
    const hint =
      (text.match(/:/g) ?? []).length > 1 && !text.startsWith("[")
        ? " (write IPv6 addresses in brackets, e.g. '[::1]:9397')"
        : "";
    throw new SyntaxError(`Cannot use listen address '${text}': expected 'host:port' (e.g. '127.0.0.1:9397')${hint}`);
  }
  const port = Number(m[3]);
  if (port > 65_535) {
    throw new RangeError(`Cannot use listen address '${text}': the port must be 0 to 65535`);
  }
  const v6 = m[1];
  if (v6 !== undefined) {
    if (!isIPv6(v6)) throw new SyntaxError(`Cannot use listen address '${text}': '${v6}' is not an IPv6 address`);
    return { host: v6, port };
  }
  const host = m[2] ?? "";
  if (host === "") {
    throw new SyntaxError(
      `Cannot use listen address '${text}': the host is missing (e.g. '127.0.0.1${text}'; '0.0.0.0' listens on every interface)`,
    );
  }
  const numeric = /^[\d.]+$/.test(host);
  if (numeric ? !isIPv4(host) : host.length > 253 || !host.split(".").every((label) => LABEL.test(label))) {
    throw new SyntaxError(`Cannot use listen address '${text}': '${host}' is not a host name or IP address`);
  }
  return { host, port };
}

/**
 * Reads `status:`. Absent, or `addr:` with no value, means
 * `DEFAULTS.status.addr`; `addr: ""` disables the server.
 *
 * @param root the document root
 * @returns the resolved section
 * @throws {ConfigError} for an unknown key or an invalid address
 */
export function readStatus(root: MapReader): Config["status"] {
  return { addr: readListenSection(root, "status", DEFAULTS.status.addr) };
}

/**
 * Reads `metrics:` (Prometheus `/metrics`). Absent or `addr: ""` means off.
 *
 * @param root the document root
 * @returns the resolved section
 * @throws {ConfigError} for an unknown key or an invalid address
 */
export function readMetrics(root: MapReader): Config["metrics"] {
  return { addr: readListenSection(root, "metrics", "") };
}

/** Reads `<key>: { addr }`; `undefined` when off. */
function readListenSection(root: MapReader, key: string, fallback: string): string | undefined {
  const section = root.map(key);
  section?.checkKeys(["addr"]);
  const addr = section?.string("addr", { allowEmpty: true }) ?? fallback;
  if (addr.trim() === "") return undefined;
  try {
    parseListenAddr(addr);
  } catch (cause) {
    const field = fieldPath(section?.field ?? key, "addr");
    const reason = errorMessage(cause);
    throw configError(field, `'${field}' is invalid: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`, {
      value: addr,
      cause,
    });
  }
  return addr;
}
