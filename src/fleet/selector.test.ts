import { describe, expect, test } from "bun:test";
import { dbRow, deviceView } from "../../test/harness/fleet-summaries.ts";
import { matches, parseDeviceList, parseSelector, selectDevices, SelectorError } from "./selector.ts";

const fleet = [
  deviceView({ device: "gw-01" }),
  deviceView({ device: "gw-02", rows: [dbRow({ state: "error", problems: ["replica 's3' fails: ECONNREFUSED"] })] }),
  deviceView({ device: "gw-03", agent: "0.0.9", rows: [dbRow({ state: "offline" })] }),
  deviceView({ device: "lab-01", rows: [dbRow({ db: "/srv/lab.db", state: "lagging", lagMs: 45 * 60_000 })] }),
  deviceView({ device: "lab-02", agent: "0.1.0-rc1", rows: [dbRow({ db: null, lagMs: null })] }),
];

describe("parseSelector()", () => {
  test("parses every clause into the filter of 'fleet status', with alternatives and several texts", () => {
    const s = parseSelector(["state=error,offline version=0.1.0", "lag-over=30m", "search=GW-"]);
    expect(s).toEqual({ states: ["error", "offline"], versions: ["0.1.0"], lagOverMs: 30 * 60_000, search: "GW-" });
  });

  test("names the bad clause", () => {
    const cases: [string[], string | RegExp][] = [
      [[""], "Cannot parse selector: it is empty (e.g. 'state=error')"],
      [
        ["colour=red"],
        "Cannot parse selector clause 'colour=red': the key must be one of state, version, lag-over, search",
      ],
      [["state="], "Cannot parse selector clause 'state=': it has no value"],
      [["state=broken"], /^Cannot parse selector: Cannot filter by state 'broken': use one or more of error, /],
      [
        ["state=ok", "state=error"],
        "Cannot parse selector: 'state' is given twice (list alternatives in one clause: state=a,b)",
      ],
      [["lag-over=soon"], /^Cannot parse selector: Cannot filter by lag-over 'soon': /],
    ];
    for (const [texts, message] of cases) {
      expect(() => parseSelector(texts)).toThrow(SelectorError);
      expect(() => parseSelector(texts)).toThrow(message);
    }
  });
});

describe("selectDevices()", () => {
  const ids = (...texts: string[]) => selectDevices(fleet, { selector: parseSelector(texts) });

  test("each clause selects the devices 'fleet status' lists with the same filter", () => {
    expect(ids("state=error")).toEqual(["gw-02"]);
    expect(ids("state=error,offline")).toEqual(["gw-02", "gw-03"]);
    expect(ids("version=0.0.9")).toEqual(["gw-03"]);
    // A version matches its patches and pre-releases.
    expect(ids("version=0.1")).toEqual(["gw-01", "gw-02", "lab-01", "lab-02"]);
    expect(ids("lag-over=30m")).toEqual(["lab-01"]);
    expect(ids("lag-over=1h")).toEqual([]);
    expect(ids("search=LAB")).toEqual(["lab-01", "lab-02"]);
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
    expect(matches(parseSelector(["state=ok"]), deviceView({ device: "x" }))).toBe(true);
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
