import { describe, expect, test } from "bun:test";
import { dbSummary } from "../../test/harness/fleet-summaries.ts";
import {
  matches,
  parseDeviceList,
  parseSelector,
  selectDevices,
  SelectorError,
  type SelectableDevice,
} from "./selector.ts";

function device(id: string, overrides: Partial<SelectableDevice> = {}): SelectableDevice {
  return { device: id, state: "ok", agent: "0.1.0", dbs: [dbSummary()], problems: [], ...overrides };
}

const fleet: SelectableDevice[] = [
  device("gw-01"),
  device("gw-02", { state: "error", problems: ["replica 's3' of '/data/app.db' fails: ECONNREFUSED"] }),
  device("gw-03", { state: "offline", agent: "0.0.9" }),
  device("lab-01", { state: "degraded", dbs: [dbSummary({ path: "/srv/lab.db", lagMs: 45 * 60_000 })] }),
  device("lab-02", { agent: null, dbs: [] }),
];

describe("parseSelector()", () => {
  test("parses every clause, with alternatives and several texts", () => {
    const s = parseSelector(["state=error,offline version=0.1.0", "lag-over=30m", "search=GW-,lab"]);
    expect(s).toEqual({
      states: new Set(["error", "offline"]),
      versions: new Set(["0.1.0"]),
      lagOverMs: 30 * 60_000,
      search: ["gw-", "lab"],
    });
  });

  test("names the bad clause", () => {
    const cases: [string[], string][] = [
      [[""], "Cannot parse selector: it is empty (e.g. 'state=error')"],
      [
        ["colour=red"],
        "Cannot parse selector clause 'colour=red': the key must be one of state, version, lag-over, search",
      ],
      [["state="], "Cannot parse selector clause 'state=': it has no value"],
      [
        ["state=broken"],
        "Cannot parse selector clause 'state=broken': unknown state 'broken' (states: starting, ok, degraded, error, offline)",
      ],
      [
        ["state=ok", "state=error"],
        "Cannot parse selector: 'state' is given twice (list alternatives in one clause: state=a,b)",
      ],
      [["lag-over=1m,2m"], "Cannot parse selector clause 'lag-over=1m,2m': 'lag-over' takes one duration"],
    ];
    for (const [texts, message] of cases) expect(() => parseSelector(texts)).toThrow(new SelectorError(message));
    expect(() => parseSelector(["lag-over=soon"])).toThrow(/^Cannot parse selector clause 'lag-over=soon': /);
  });
});

describe("selectDevices()", () => {
  const ids = (...texts: string[]) => selectDevices(fleet, { selector: parseSelector(texts) });

  test("each clause selects by the state, version, lag and text that 'fleet status' shows", () => {
    expect(ids("state=error")).toEqual(["gw-02"]);
    expect(ids("state=error,offline")).toEqual(["gw-02", "gw-03"]);
    expect(ids("version=0.0.9")).toEqual(["gw-03"]);
    expect(ids("version=-")).toEqual(["lab-02"]);
    expect(ids("lag-over=30m")).toEqual(["lab-01"]);
    expect(ids("lag-over=1h")).toEqual([]);
    expect(ids("search=LAB")).toEqual(["lab-01", "lab-02"]);
    expect(ids("search=econnrefused")).toEqual(["gw-02"]);
    expect(ids("search=/srv/")).toEqual(["lab-01"]);
  });

  test("clauses must all hold", () => {
    expect(ids("search=gw", "state=ok,offline")).toEqual(["gw-01", "gw-03"]);
    expect(ids("search=gw state=ok version=0.0.9")).toEqual([]);
  });

  test("an explicit list alone selects exactly those devices, known or not; with a selector, the intersection", () => {
    expect(selectDevices(fleet, { devices: ["gw-09", "gw-01"] })).toEqual(["gw-09", "gw-01"]);
    expect(selectDevices(fleet, { devices: ["gw-01", "gw-02"], selector: parseSelector(["state=error"]) })).toEqual([
      "gw-02",
    ]);
    expect(matches(parseSelector(["state=ok"]), device("x"))).toBe(true);
  });
});

describe("parseDeviceList()", () => {
  test("takes commas, spaces and lines, drops comments and duplicates", () => {
    expect(parseDeviceList("gw-01,gw-02\n# lab\nlab-01 gw-01  # again\n\n")).toEqual(["gw-01", "gw-02", "lab-01"]);
  });

  test("refuses an id that cannot be a topic level", () => {
    expect(() => parseDeviceList("gw-01,gw/02")).toThrow(
      new SelectorError("Cannot use device id 'gw/02' in MQTT topics: use 1-128 of A-Z a-z 0-9 . _ : -"),
    );
  });
});
