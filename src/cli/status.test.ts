import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { runCli } from "../../test/harness/cli.ts";

// A stand-in agent whose POST /sync never answers (until the test ends), so
// the only way out is --timeout.
let release: () => void = () => {};
const never = new Promise<Response>((resolve) => (release = () => resolve(new Response("{}"))));
let server: ReturnType<typeof Bun.serve>;
let addr: string;

beforeAll(() => {
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => never });
  addr = `127.0.0.1:${server.port}`;
});

afterAll(async () => {
  release();
  await server.stop(true);
});

describe("sync --timeout", () => {
  // Issue #12: `sync --timeout` took only seconds while `fleet send --timeout` took durations.
  const gaveUp: [timeout: string, shown: string][] = [
    ["300ms", "300ms"],
    ["1", "1s"],
    ["0.5", "500ms"],
  ];
  for (const [timeout, shown] of gaveUp) {
    test(`--timeout ${timeout} gives up after ${shown} (exit 5)`, async () => {
      const started = Date.now();
      const r = await runCli(["sync", "--addr", addr, "--timeout", timeout], { env: {} });
      expect(r.stderr).toContain(`Error: Cannot sync: the agent at '${addr}' did not answer within ${shown}\n`);
      expect(r.stderr).toContain("Try: 'litefleet status' shows each replica's last error");
      expect(r.code).toBe(5);
      expect(Date.now() - started).toBeLessThan(10_000);
    }, 20_000);
  }

  const bad: [timeout: string, message: string][] = [
    ["soon", "Error: Cannot parse --timeout 'soon': expected a number followed by a unit"],
    ["5x", "Error: Cannot parse --timeout '5x': unknown unit 'x'"],
    ["0", "Error: Cannot use --timeout '0': it must be longer than 0"],
    ["0s", "Error: Cannot use --timeout '0s': it must be longer than 0"],
  ];
  for (const [timeout, message] of bad) {
    test(`--timeout ${timeout} is a usage error (exit 2)`, async () => {
      const r = await runCli(["sync", "--addr", addr, "--timeout", timeout], { env: {} });
      expect(r.stderr).toStartWith(message);
      expect(r.stderr).toContain("Try: e.g. --timeout");
      expect(r.code).toBe(2);
    });
  }
});
