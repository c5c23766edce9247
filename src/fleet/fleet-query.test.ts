import { describe, expect, test } from "bun:test";
import { dbRow, deviceView } from "../../test/harness/fleet-summaries.ts";
import { FLEET_STATES, formatAge } from "./device-health.ts";
import {
  FilterError,
  NO_FILTER,
  compareDevices,
  filterDevices,
  filterFromQuery,
  fleetSummary,
  formatSummary,
  parseFilter,
} from "./fleet-query.ts";

describe("the problems-first order", () => {
  test("every pair of states: a device in the worse one comes first, whatever the ids", () => {
    const wrong: string[] = [];
    for (const [i, a] of FLEET_STATES.entries()) {
      for (const b of FLEET_STATES.slice(i + 1)) {
        // The better state gets the smaller id, so id order alone would put it first.
        const worse = deviceView({ device: "z", rows: [dbRow({ state: a })] });
        const better = deviceView({ device: "a", rows: [dbRow({ state: b })] });
        const sorted = filterDevices([better, worse], NO_FILTER).map((d) => d.rows[0]?.state);
        if (sorted.join() !== `${a},${b}`) wrong.push(`${a} vs ${b}: ${sorted.join()}`);
        if (!(compareDevices(worse, better) < 0 && compareDevices(better, worse) > 0)) wrong.push(`${a} vs ${b}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("within a state by device id (code-unit order); a device sorts by its worst row", () => {
    const devices = [
      deviceView({ device: "gw-b", rows: [dbRow({ state: "ok" }), dbRow({ db: "/x.db", state: "lagging" })] }),
      deviceView({ device: "gw-a", rows: [dbRow({ state: "lagging" })] }),
      deviceView({ device: "GW-c", rows: [dbRow({ state: "ok" })] }),
      deviceView({ device: "gw-0", rows: [dbRow({ state: "ok" })] }),
    ];
    expect(filterDevices(devices, NO_FILTER).map((d) => d.device)).toEqual(["gw-a", "gw-b", "GW-c", "gw-0"]);
  });
});

describe("parseFilter() and filterFromQuery()", () => {
  test("read the same filters from command-line options and URL parameters", () => {
    const fromCli = parseFilter({ state: "error,offline", lagOver: "1h", search: " gw- ", version: "0.9,v1.0" });
    const fromUrl = filterFromQuery(
      new URLSearchParams("state=error%2Coffline&lag-over=1h&search=gw-&version=0.9,v1.0&other=x"),
    );
    expect(fromCli).toEqual({
      states: ["error", "offline"],
      lagOverMs: 3_600_000,
      search: "gw-",
      versions: ["0.9", "1.0"],
    });
    expect(fromUrl).toEqual(fromCli);
    expect(filterFromQuery(new URLSearchParams(""))).toEqual(NO_FILTER);
    expect(parseFilter({ state: "", lagOver: " ", search: "", version: "," })).toEqual(NO_FILTER);
    expect(parseFilter({ lagOver: "90" }).lagOverMs).toBe(90_000);
    expect(parseFilter({ lagOver: "1h30m" }).lagOverMs).toBe(5_400_000);
  });

  test("refuse what they cannot use, naming it", () => {
    expect(() => parseFilter({ state: "error,broken" })).toThrow(
      new FilterError(
        "Cannot filter by state 'broken': use one or more of error, conflict, offline, stale, lagging, degraded, starting, pending, ok",
      ),
    );
    expect(() => filterFromQuery(new URLSearchParams("lag-over=soon"))).toThrow(FilterError);
    expect(() => parseFilter({ lagOver: "-5m" })).toThrow(
      "Cannot filter by lag-over '-5m': durations must not be negative",
    );
  });
});

describe("filterDevices()", () => {
  const fleet = [
    deviceView({
      device: "gw-01",
      agent: "0.9.2",
      rows: [dbRow({ db: "/var/lib/app.db", state: "error", lagMs: 7_200_000 }), dbRow({ db: "/var/lib/log.db" })],
    }),
    deviceView({ device: "gw-02", agent: "litefleet/0.10.0", rows: [dbRow({ state: "lagging", lagMs: 3_600_001 })] }),
    deviceView({
      device: "sensor-7",
      agent: null,
      online: false,
      rows: [dbRow({ db: null, state: "offline", lagMs: null, txid: null })],
    }),
    deviceView({
      device: "gw-03",
      agent: "0.9",
      rows: [dbRow({ db: "/data/GW-notes.db", state: "pending", lagMs: 5 })],
    }),
  ];
  const shown = (query: string) =>
    filterDevices(fleet, filterFromQuery(new URLSearchParams(query))).map(
      (d) => `${d.device}:${d.rows.map((r) => r.db ?? "-").join("+")}`,
    );

  test("no filter: every row, problems first", () => {
    expect(shown("")).toEqual([
      "gw-01:/var/lib/app.db+/var/lib/log.db",
      "sensor-7:-",
      "gw-02:/data/app.db",
      "gw-03:/data/GW-notes.db",
    ]);
  });

  test("state keeps rows in any of the states; a device shows only its kept rows", () => {
    expect(shown("state=ok")).toEqual(["gw-01:/var/lib/log.db"]);
    expect(shown("state=offline,lagging")).toEqual(["sensor-7:-", "gw-02:/data/app.db"]);
  });

  test("lag-over keeps rows lagging more than that; rows without a database never", () => {
    expect(shown("lag-over=1h")).toEqual(["gw-01:/var/lib/app.db", "gw-02:/data/app.db"]);
    expect(shown("lag-over=2h")).toEqual([]);
    expect(shown("lag-over=0")).toEqual(["gw-01:/var/lib/app.db", "gw-02:/data/app.db", "gw-03:/data/GW-notes.db"]);
  });

  test("search matches the device id or the database path, ignoring case", () => {
    expect(shown("search=gw-")).toEqual([
      "gw-01:/var/lib/app.db+/var/lib/log.db",
      "gw-02:/data/app.db",
      "gw-03:/data/GW-notes.db",
    ]);
    expect(shown("search=LOG.DB")).toEqual(["gw-01:/var/lib/log.db"]);
    expect(shown("search=sensor")).toEqual(["sensor-7:-"]);
  });

  test("version matches the agent version or a prefix of it at a dot, ignoring 'litefleet/' and 'v'", () => {
    expect(shown("version=0.9")).toEqual(["gw-01:/var/lib/app.db+/var/lib/log.db", "gw-03:/data/GW-notes.db"]);
    expect(shown("version=0.1")).toEqual([]);
    expect(shown("version=v0.10")).toEqual(["gw-02:/data/app.db"]);
    expect(shown("version=0.9.2,0.10.0")).toEqual(["gw-01:/var/lib/app.db+/var/lib/log.db", "gw-02:/data/app.db"]);
  });

  test("filters combine with and", () => {
    expect(shown("search=gw-&state=error,pending&version=0.9")).toEqual([
      "gw-01:/var/lib/app.db",
      "gw-03:/data/GW-notes.db",
    ]);
    expect(shown("state=error&lag-over=1h&search=gw-&version=0.9")).toEqual(["gw-01:/var/lib/app.db"]);
  });
});

describe("fleetSummary() and formatSummary()", () => {
  test("counts devices and databases per state, the oldest data, and the projected S3 use", () => {
    const now = 10 * 3_600_000;
    const devices = [
      deviceView({
        device: "gw-01",
        state: "error",
        dataAt: now - 60_000,
        projectedPerMonth: { requests: 43_200, bytes: 1_491 * 1_048_576 },
        rows: [dbRow({ state: "error" }), dbRow({ db: "/b.db", state: "ok" })],
      }),
      deviceView({
        device: "gw-02",
        state: "offline",
        dataAt: now - 6 * 3_600_000,
        projectedPerMonth: { requests: 8_640, bytes: 100 * 1_048_576 },
        rows: [dbRow({ state: "offline" })],
      }),
      deviceView({ device: "gw-03", state: "offline", dataAt: null, rows: [dbRow({ db: null, state: "offline" })] }),
      deviceView({ device: "gw-04", state: "ok", dataAt: now - 6 * 3_600_000, rows: [dbRow()] }),
    ];
    const s = fleetSummary(devices, now);
    expect(s).toEqual({
      at: now,
      devices: 4,
      databases: 4,
      rows: 5,
      states: { error: 1, conflict: 0, offline: 2, stale: 0, lagging: 0, degraded: 0, starting: 0, pending: 0, ok: 1 },
      dbStates: {
        error: 1,
        conflict: 0,
        offline: 1,
        stale: 0,
        lagging: 0,
        degraded: 0,
        starting: 0,
        pending: 0,
        ok: 2,
      },
      // A tie goes to the smaller id.
      oldestData: { device: "gw-02", ageMs: 6 * 3_600_000 },
      noData: 1,
      projectedPerMonth: { requests: 51_840, bytes: 1_591 * 1_048_576, devices: 2 },
    });
    expect(formatSummary(s, formatAge)).toBe(
      "4 devices, 4 databases: 1 error \u00b7 2 offline \u00b7 1 ok \u00b7 oldest data 6 h (gw-02) \u00b7 S3 per month: 51,840 requests, 1,591 MiB (2 of 4 devices report)",
    );
  });

  test("an empty fleet, and one where every device reports", () => {
    expect(formatSummary(fleetSummary([], 0), formatAge)).toBe(
      "0 devices, 0 databases: 0 ok \u00b7 no data yet \u00b7 S3 per month: unknown (no device reports it)",
    );
    const one = deviceView({ device: "gw-01", dataAt: 0, projectedPerMonth: { requests: 1, bytes: 524_288 } });
    expect(formatSummary(fleetSummary([one], 5_000), formatAge)).toBe(
      "1 device, 1 database: 1 ok \u00b7 oldest data 5 s (gw-01) \u00b7 S3 per month: 1 request, 1 MiB",
    );
  });
});
