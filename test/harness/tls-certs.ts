/**
 * Test certificates made with the `openssl` command: a CA, a server
 * certificate for 127.0.0.1 and a client certificate, all signed by the CA,
 * plus a second, unrelated CA (for "wrong CA" cases).
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** PEM file paths. */
export interface TestCertificates {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly otherCa: string;
}

/** Why certificates cannot be made here, or undefined when `openssl` works. */
export function opensslMissing(): string | undefined {
  const r = spawnSync("openssl", ["version"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "the 'openssl' command is not available";
}

/**
 * Writes the certificates into `dir`.
 * @throws {Error} with openssl's output when a step fails
 */
export function makeTestCertificates(dir: string): TestCertificates {
  const f = (name: string) => join(dir, name);
  const run = (...args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`Cannot make test certificates: openssl ${args[0]} failed:\n${r.stderr}`);
  };
  for (const ca of ["ca", "other-ca"]) {
    run(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=litefleet test ${ca}`,
      "-keyout",
      f(`${ca}.key`),
      "-out",
      f(`${ca}.pem`),
    );
  }
  writeFileSync(f("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const [name, ext] of [
    ["server", ["-extfile", f("server.ext")]],
    ["client", []],
  ] as const) {
    run(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      `/CN=${name === "server" ? "127.0.0.1" : "dev-1"}`,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
    );
    run(
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      f(`${name}.pem`),
      ...ext,
    );
  }
  return {
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    otherCa: f("other-ca.pem"),
  };
}
