import { describe, expect, test } from "bun:test";
import { agentExitCode, execExit, startExecChild } from "./exec-child.ts";

describe("execExit", () => {
  test("execExit() reports the status as a shell does, and the signal a child ended of", () => {
    expect(execExit(null, "SIGTERM")).toEqual({ status: 143, signal: "SIGTERM" });
    expect(execExit(null, "SIGKILL")).toEqual({ status: 137, signal: "SIGKILL" });
    expect(execExit(143, null)).toEqual({ status: 143, signal: "SIGTERM" });
    expect(execExit(130, null)).toEqual({ status: 130, signal: "SIGINT" });
    expect(execExit(0, null)).toEqual({ status: 0, signal: undefined });
    expect(execExit(7, null)).toEqual({ status: 7, signal: undefined });
    expect(execExit(128, null)).toEqual({ status: 128, signal: undefined });
  });
});

describe("agentExitCode", () => {
  // Issue #12: `systemctl stop` of `replicate --exec` ended in exit 143, a failed unit.
  const cases: { name: string; exit: [number | null, NodeJS.Signals | null]; received: string[]; code: number }[] = [
    { name: "killed by the SIGTERM the agent forwarded", exit: [null, "SIGTERM"], received: ["SIGTERM"], code: 0 },
    { name: "exit 143 after the forwarded SIGTERM", exit: [143, null], received: ["SIGTERM"], code: 0 },
    { name: "exit 130 after the forwarded SIGINT", exit: [130, null], received: ["SIGINT"], code: 0 },
    { name: "killed by the SIGINT the agent forwarded", exit: [null, "SIGINT"], received: ["SIGINT"], code: 0 },
    { name: "exit 7 after the forwarded SIGTERM is passed through", exit: [7, null], received: ["SIGTERM"], code: 7 },
    { name: "exit 0 after the forwarded SIGTERM", exit: [0, null], received: ["SIGTERM"], code: 0 },
    { name: "exit 143 with no signal received is passed through", exit: [143, null], received: [], code: 143 },
    { name: "killed by a SIGTERM the agent never received", exit: [null, "SIGTERM"], received: [], code: 143 },
    {
      name: "exit 130 after a SIGTERM (another signal) is passed through",
      exit: [130, null],
      received: ["SIGTERM"],
      code: 130,
    },
    { name: "killed by SIGKILL during a stop", exit: [null, "SIGKILL"], received: ["SIGTERM"], code: 137 },
    { name: "killed by SIGPIPE after stdout's reader left", exit: [null, "SIGPIPE"], received: ["SIGPIPE"], code: 141 },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.code}`, () => {
      expect(agentExitCode(execExit(...c.exit), new Set(c.received))).toBe(c.code);
    });
  }
});

describe("startExecChild", () => {
  test("a real child killed by a forwarded SIGTERM reports it", async () => {
    const child = startExecChild("exec sleep 30", { env: { PATH: process.env.PATH } });
    child.signal("SIGTERM");
    expect(await child.exited).toEqual({ status: 143, signal: "SIGTERM" });
  });

  test("a real child's own exit code comes through", async () => {
    const child = startExecChild("exit 3", { env: { PATH: process.env.PATH } });
    expect(await child.exited).toEqual({ status: 3, signal: undefined });
  });
});
