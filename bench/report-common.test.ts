import { describe, expect, test } from "bun:test";
import {
  attributionLines,
  exitCell,
  mibOrNa,
  notesSection,
  quickRunMark,
  restoreMethodNote,
  runFactLines,
  stopSecondsCell,
  type RunFacts,
} from "./report-common.ts";
import { emptyTally } from "./s3-accounting.ts";

const MACHINE = { nproc: 2, cpuModel: "cpu", bunVersion: "1.4.5", os: "linux x64", memoryGiB: 4 };

describe("report-common", () => {
  test("runFactLines() states command, date, machine and versions", () => {
    const startedAt = new Date("2026-01-01T00:00:00Z");
    const versions = { litefleet: "0.1.0", Litestream: "v0.3.13" };
    const facts: RunFacts = {
      command: "bun run bench batching --quick",
      startedAt,
      machine: MACHINE,
      versions,
      quick: true,
      transactions: 30,
      lateTicks: 0,
      steadySeconds: 30,
      notes: [],
    };
    const lines = runFactLines(facts);
    expect(lines).toEqual([
      "- Command: `bun run bench batching --quick`",
      "- Date: 2026-01-01T00:00:00.000Z",
      "- Machine: nproc 2, cpu, 4 GiB, linux x64; bun 1.4.5",
      "- Agents: litefleet 0.1.0; Litestream v0.3.13",
    ]);
    expect(quickRunMark(true)).toBe(" (quick smoke run, not a result of record)");
    expect(quickRunMark(false)).toBe("");
  });

  test("restoreMethodNote() names the column and what was restored", () => {
    expect(restoreMethodNote("Restore ok", "the agents stopped, a restore of the replica")).toBe(
      "- Restore ok = after the agents stopped, a restore of the replica (litefleet: `litefleet restore -o X <url>`; Litestream: `litestream restore -o X -config FILE <db>`) " +
        "has as many `readings` rows as the database and as the writer committed, and `PRAGMA integrity_check` = ok.",
    );
  });

  test("attributionLines() and notesSection()", () => {
    expect(attributionLines(emptyTally(), 0)).toEqual(["", "Every request was attributed to an agent."]);
    expect(attributionLines({ ...emptyTally(), requests: 3, puts: 1, lists: 2 }, 2)).toEqual([
      "",
      "Unattributed requests: 3 (PUT 1, LIST 2, GET/HEAD 0, DELETE 0, other 0).",
      "Uploads without content-length (bytes missing from the table): 2.",
    ]);
    expect(notesSection([])).toEqual([]);
    expect(notesSection(["a", "b"])).toEqual(["", "Notes:", "- a", "- b"]);
  });

  test("exit and size cells", () => {
    expect(exitCell(undefined)).toBe("n/a");
    expect(exitCell({ code: 0, signal: null, stopSeconds: 1.25, killed: false })).toBe("0");
    expect(exitCell({ code: null, signal: "SIGTERM", stopSeconds: 1, killed: false })).toBe("SIGTERM");
    expect(exitCell({ code: null, signal: "SIGKILL", stopSeconds: 120, killed: true })).toBe("SIGKILLed after timeout");
    expect(stopSecondsCell({ code: 0, signal: null, stopSeconds: 1.25, killed: false })).toBe("1.3");
    expect(stopSecondsCell(undefined)).toBe("n/a");
    expect(mibOrNa(63_744)).toBe("62.3");
    expect(mibOrNa(undefined)).toBe("n/a");
  });
});
