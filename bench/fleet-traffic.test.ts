import { describe, expect, test } from "bun:test";
import { generateFleet } from "../test/harness/fleet-statuses.ts";
import { FleetTraffic } from "./fleet-traffic.ts";

const NOW = 1_800_000_000_000;
const fleet = generateFleet(1_000, NOW);
const watched = ["gw-00000", "gw-00100", "gw-00200"];

function run(seed: number, n: number) {
  const traffic = new FleetTraffic(fleet, { seed, watched });
  return Array.from({ length: n }, (_, i) => traffic.next(NOW + i * 5));
}

describe("FleetTraffic", () => {
  test("next() gives every update a new TXID, the marker, increasing; a Will has none", () => {
    const updates = run(1, 5_000);
    const txids = updates.flatMap((u) => (u.txid === null ? [] : [u.txid]));
    expect(new Set(txids).size).toBe(txids.length);
    expect([...txids].sort()).toEqual(txids);
    for (const u of updates) {
      if (u.txid === null) expect(u.status.online).toBe(false);
      else expect(u.status.dbs?.[0]?.txid).toBe(u.txid);
    }
  });

  test("next() sends a tenth of the updates to the watched devices, in turn, still failing", () => {
    const updates = run(1, 1_000);
    const toWatched = updates.filter((u) => u.watched);
    expect(toWatched).toHaveLength(100);
    expect(toWatched.slice(0, 6).map((u) => u.device)).toEqual([...watched, ...watched]);
    expect(updates.filter((u) => !u.watched && watched.includes(u.device))).toEqual([]);
    for (const u of toWatched) expect(u.status.dbs?.[0]?.state).toBe("error");
    // Pending files grow with each failing update.
    const first = toWatched.filter((u) => u.device === "gw-00000").map((u) => u.status.dbs?.[0]?.pendingFiles);
    expect(first.slice(0, 3)).toEqual([1, 2, 3]);
  });

  test("next() mixes state changes: offline (telemetry, then the Will), back online, lag, errors", () => {
    const updates = run(7, 10_000);
    const kinds = new Set(updates.map((u) => u.kind));
    for (const k of ["heartbeat", "lag-grows", "caught-up", "offline", "back-online", "recovered", "error"])
      expect({ kind: k, present: kinds.has(k as never) }).toEqual({ kind: k, present: true });
    const offline = updates.find((u) => u.kind === "offline")!;
    expect(offline.status).toMatchObject({ online: false, reason: "lost" });
    expect(offline.tele).toMatchObject({ type: "tele", device: offline.device });
    // A device that went offline comes back in the next session.
    const back = updates.find(
      (u, i) => u.kind === "back-online" && updates.slice(0, i).includes(offline) && u.device === offline.device,
    );
    if (back !== undefined) expect(back.status.session).toBe(offline.status.session + 1);
  });

  test("next() keeps a conflict a conflict and a full disk full while they last", () => {
    const updates = run(7, 20_000).filter((u) => u.kind === "still-failing");
    const conflict = updates.find((u) => u.device.endsWith("01"));
    const degraded = updates.find((u) => u.device.endsWith("05"));
    expect(conflict?.status.dbs?.[0]?.replicas[0]?.conflict).toStartWith("another writer");
    expect(degraded?.status.dbs?.[0]).toMatchObject({ diskFull: true, state: "ok" });
  });

  test("the same seed gives the same updates; another seed, others", () => {
    const devices = (seed: number) => run(seed, 200).map((u) => `${u.device}:${u.kind}`);
    expect(devices(3)).toEqual(devices(3));
    expect(devices(3)).not.toEqual(devices(4));
  });

  test("constructor refuses a watched device that is not in the fleet", () => {
    expect(() => new FleetTraffic(fleet, { seed: 1, watched: ["gw-99999"] })).toThrow(
      "Cannot watch device 'gw-99999': it is not in the fleet",
    );
  });
});
