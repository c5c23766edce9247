import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../../test/harness/cli.ts";
import { fastDbYaml } from "../../test/harness/config.ts";
import { makeTempDir } from "../../test/harness/temp-dir.ts";

describe("takeover", () => {
  test("with status.addr off it cannot ask whether the agent runs: refused (2) unless --agent-stopped", async () => {
    await using dir = await makeTempDir("takeover-");
    const db = join(dir.path, "app.db");
    const cfg = join(dir.path, "litefleet.yml");
    writeFileSync(cfg, [...fastDbYaml(db, join(dir.path, "replica")), "status:", '  addr: ""', ""].join("\n"));
    const state = join(dir.path, ".app.db-litefleet");
    mkdirSync(state);
    writeFileSync(join(state, "marker"), "a running agent's state");

    const refused = await runCli(["takeover", "--config", cfg]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      "Error: Cannot take over: with 'status.addr' off there is no way to tell whether the agent is running\nTry: stop it (systemctl stop litefleet), then run takeover --agent-stopped\n",
    );
    expect(existsSync(join(state, "marker"))).toBe(true);

    const done = await runCli(["takeover", "--config", cfg, "--agent-stopped"]);
    expect(done.code).toBe(0);
    expect(done.stdout).toBe(
      `Takeover prepared for ${db}: its next start continues on top of what its replicas hold\n`,
    );
    expect(existsSync(join(state, "marker"))).toBe(false);
  });
});
