import { describe, expect, test } from "bun:test";
import type { AgentBinaries } from "./agent-binaries.ts";
import { agentRoutes, prepareAgents, uncleanExitNote, type ComparedAgent } from "./benchmark-run.ts";

const AGENTS: ComparedAgent[] = [
  { kind: "litestream", name: "ls" },
  { kind: "litefleet", name: "lf" },
];

function binaries(litestream: string | undefined): AgentBinaries {
  return { litefleet: "/bin/litefleet", litestream, versions: {}, notes: [] };
}

describe("prepareAgents()", () => {
  test("prepares every agent in order and checks the litefleet configs", async () => {
    const checked: string[] = [];
    const prepared = await prepareAgents(
      AGENTS,
      binaries("/bin/litestream"),
      (a) => `p-${a.name}`,
      async (p) => void checked.push(p),
    );
    expect(prepared).toEqual(["p-ls", "p-lf"]);
    expect(checked).toEqual(["p-lf"]);
  });

  test("leaves out Litestream when it is not installed", async () => {
    const prepared = await prepareAgents(
      AGENTS,
      binaries(undefined),
      (a) => a.name,
      async () => {},
    );
    expect(prepared).toEqual(["lf"]);
  });
});

describe("agentRoutes()", () => {
  test("routes by prefix, then by each family's user-agent token", () => {
    expect(agentRoutes(AGENTS, (a) => `${a.name}/app.db`)).toEqual([
      { name: "ls", prefix: "ls/app.db", userAgentToken: "aws-sdk-go" },
      { name: "lf", prefix: "lf/app.db", userAgentToken: "app/lf" },
    ]);
  });
});

describe("uncleanExitNote()", () => {
  test("says nothing of a clean exit or of no exit", () => {
    expect(
      uncleanExitNote("lf", { code: 0, signal: null, stopSeconds: 1, killed: false }, "/nonexistent.log"),
    ).toBeUndefined();
    expect(uncleanExitNote("lf", undefined, "/nonexistent.log")).toBeUndefined();
  });

  test("notes a non-zero exit and a SIGKILL", () => {
    expect(
      uncleanExitNote("lf", { code: 2, signal: null, stopSeconds: 1, killed: false }, "/nonexistent.log"),
    ).toStartWith("lf did not exit cleanly after SIGTERM (exit 2):\n");
    expect(
      uncleanExitNote("ls", { code: null, signal: "SIGKILL", stopSeconds: 120, killed: true }, "/nonexistent.log"),
    ).toStartWith("ls did not exit cleanly after SIGTERM (killed after the timeout):\n");
  });
});
