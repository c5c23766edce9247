import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { dbRow, deviceView } from "../../../test/harness/fleet-summaries.ts";
import { makeTempDir } from "../../../test/harness/temp-dir.ts";
import { openSqlConnection } from "../../platform/sqlite.ts";
import type { EventMessage } from "../../protocol/messages.ts";
import type { DeviceView, FleetChange } from "../fleet-view.ts";
import { HistoryRecorder, type HistorySource } from "./history-recorder.ts";
import { HistoryStore } from "./history-store.ts";

/** A source the test drives: what a FleetView would say, and its change listeners. */
function source() {
  const views = new Map<string, DeviceView>();
  const events = new Map<string, EventMessage[]>();
  const listeners = new Set<(c: FleetChange) => void>();
  const src: HistorySource & {
    status(v: DeviceView): void;
    remove(id: string): void;
    event(device: string, name: string, data?: Record<string, unknown>): void;
  } = {
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    device: (id) => views.get(id),
    devices: () => [...views.values()],
    events: (id) => events.get(id) ?? [],
    status(v) {
      views.set(v.device, v);
      for (const l of listeners) l({ kind: "status", device: v.device });
    },
    remove(id) {
      views.delete(id);
      for (const l of listeners) l({ kind: "removed", device: id });
    },
    event(device, name, data = {}) {
      const list = events.get(device) ?? [];
      list.push({ v: 1, type: "event", device, id: `${list.length}-0`, ts: 0, event: name, data });
      events.set(device, list);
      for (const l of listeners) l({ kind: "event", device });
    },
  };
  return src;
}

/** A manual clock. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const manual = { flushMs: 0, pruneEveryMs: 0 } as const;

describe("HistoryRecorder", () => {
  test("records a state only when it changes (stale, offline and removed included), and not again after a restart", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const src = source();
    const c = clock();
    const rec = new HistoryRecorder(src, HistoryStore.open(path), { ...manual, now: c.now });
    const ok = deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: null })] });
    src.status(ok);
    c.advance(1000);
    src.status(ok);
    c.advance(1000);
    src.status(
      deviceView({ device: "gw-1", stale: true, rows: [dbRow({ db: "/a.db", state: "stale", lagMs: null })] }),
    );
    c.advance(1000);
    src.status(ok);
    c.advance(1000);
    src.remove("gw-1");
    src.remove("gw-1");
    const states = (r: HistoryRecorder) =>
      r.query({ device: "gw-1" })?.entries.map((e) => `${e.ts - 1_000_000} ${e.db ?? "-"} ${e.state}`);
    expect(states(rec)).toEqual([
      "0 - ok",
      "0 /a.db ok",
      "2000 - stale",
      "2000 /a.db stale",
      "3000 - ok",
      "3000 /a.db ok",
      "4000 - removed",
      "4000 /a.db removed",
    ]);
    await rec.stop();

    // A restarted dashboard sees the retained status again: "removed" → "ok" is a change, a repeat is not.
    const again = new HistoryRecorder(src, HistoryStore.open(path), { ...manual, now: c.now });
    c.advance(1000);
    src.status(ok);
    await again.stop();
    const third = new HistoryRecorder(src, HistoryStore.open(path), { ...manual, now: c.now });
    c.advance(1000);
    src.status(ok);
    expect(states(third)?.slice(8)).toEqual(["5000 - ok", "5000 /a.db ok"]);
    await third.stop();
  });

  test("a restarted dashboard does not sample an unchanged lag again (the last sample is read back)", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const src = source();
    const c = clock();
    const view = deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: 5_000 })] });
    const rec = new HistoryRecorder(src, HistoryStore.open(path), { ...manual, now: c.now });
    src.status(view);
    await rec.stop();
    c.advance(120_000);
    // The view already holds the retained status when the recorder starts, and sends it again.
    const again = new HistoryRecorder(src, HistoryStore.open(path), { ...manual, now: c.now });
    src.status(view);
    const lags = again.query({ device: "gw-1", db: "/a.db" })?.entries.filter((e) => e.kind === "lag");
    expect(lags?.map((e) => [e.ts - 1_000_000, e.lagMs])).toEqual([[0, 5_000]]);
    await again.stop();
  });

  test("samples lag at most once per lagSampleMs when it changed, sooner on a jump of half and 10 s", async () => {
    await using dir = await makeTempDir("hist-");
    const src = source();
    const c = clock(0);
    const rec = new HistoryRecorder(src, HistoryStore.open(join(dir.path, "h.db")), {
      ...manual,
      now: c.now,
      lagSampleMs: 60_000,
    });
    // Every 10 s, a lag as listed; the samples kept are marked.
    const lags = [0, 300, 0, 200, 0, 0, 500, 400, 30_000, 40_000, 41_000, 41_000, 41_000, 41_000, 0];
    for (const lagMs of lags) {
      src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs })] }));
      c.advance(10_000);
    }
    expect(
      rec.query({ device: "gw-1", db: "/a.db" })?.entries.flatMap((e) => (e.kind === "lag" ? [[e.ts, e.lagMs]] : [])),
    ).toEqual([
      [0, 0], // the first
      [60_000, 500], // a minute later, changed
      [80_000, 30_000], // a jump
      [140_000, 0], // caught up: a jump down
    ]);
    await rec.stop();
  });

  test("records events under their data.db, else the device", async () => {
    await using dir = await makeTempDir("hist-");
    const src = source();
    const rec = new HistoryRecorder(src, HistoryStore.open(join(dir.path, "h.db")), { ...manual, now: () => 5 });
    src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: null })] }));
    src.event("gw-1", "snapshot.written", { db: "/a.db", txid: "01" });
    src.event("gw-1", "command.done", { id: "c1" });
    expect(rec.query({ device: "gw-1", db: "/a.db" })?.entries.filter((e) => e.kind === "event")).toEqual([
      { ts: 5, kind: "event", db: "/a.db", event: "snapshot.written", detail: { db: "/a.db", txid: "01" } },
      { ts: 5, kind: "event", db: null, event: "command.done", detail: { id: "c1" } },
    ]);
    await rec.stop();
  });

  test("prune() deletes entries older than the retention (injected clock) and beyond the row cap, in batches", async () => {
    await using dir = await makeTempDir("hist-");
    const src = source();
    const c = clock(0);
    const rec = new HistoryRecorder(src, HistoryStore.open(join(dir.path, "h.db")), {
      ...manual,
      now: c.now,
      retentionMs: 3_600_000,
      maxRows: 1_000,
      lagSampleMs: 1,
      pruneBatch: 100,
    });
    // 600 lag samples a minute apart: 10 hours.
    for (let i = 0; i < 600; i++) {
      src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: i + 1 })] }));
      c.advance(60_000);
    }
    rec.flush();
    // Now is 10 h: everything before 9 h goes (the 2 first states and 540 samples).
    expect(await rec.prune()).toBe(542);
    const left = rec.query({ device: "gw-1", limit: 10_000 })?.entries ?? [];
    expect(left.length).toBe(60);
    expect(left[0]?.ts).toBe(540 * 60_000);
    await rec.stop();

    const capped = new HistoryRecorder(src, HistoryStore.open(join(dir.path, "cap.db")), {
      ...manual,
      now: c.now,
      maxRows: 250,
      lagSampleMs: 1,
      pruneBatch: 100,
    });
    for (let i = 0; i < 1_000; i++) {
      src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: i + 1 })] }));
      c.advance(1);
    }
    capped.flush();
    expect(await capped.prune()).toBe(1_002 - 250);
    expect(capped.store.stats().entries).toBe(250);
    await capped.stop();
  });

  test("a write that fails (the file locked too long) drops its batch, reports it once, and recovers", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const src = source();
    const errors: string[] = [];
    const recovered: number[] = [];
    const rec = new HistoryRecorder(src, HistoryStore.open(path, { busyTimeoutMs: 10 }), {
      ...manual,
      now: () => 0,
      onError: (err) => errors.push((err as Error).message),
      onRecovered: (n) => recovered.push(n),
    });
    const other = openSqlConnection(path);
    other.exec("BEGIN IMMEDIATE");
    src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: 1 })] }));
    rec.flush();
    src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: 60_000, state: "lagging" })] }));
    rec.flush();
    expect(errors).toEqual(["database is locked"]);
    other.exec("ROLLBACK");
    other.close();
    src.status(deviceView({ device: "gw-2" }));
    rec.flush();
    expect(recovered).toEqual([2]);
    expect(rec.stats()).toEqual({ written: 3, dropped: 6, pruned: 0 });
    // The dropped state changes of gw-1 are recorded with its next status, not lost until the state changes again.
    src.status(deviceView({ device: "gw-1", rows: [dbRow({ db: "/a.db", lagMs: 60_000, state: "lagging" })] }));
    rec.flush();
    const states = rec.query({ device: "gw-1", db: "/a.db" })?.entries.filter((e) => e.kind === "state");
    expect(states?.map((e) => e.state)).toEqual(["lagging"]);
    expect(rec.query({ device: "gw-1", db: "/a.db" })?.entries.filter((e) => e.kind === "lag")).toHaveLength(1);
    await rec.stop();
  });

  test("keeps up with 10,000 devices: ingest rate and bytes per entry, measured (no timing assertion)", async () => {
    await using dir = await makeTempDir("hist-");
    const path = join(dir.path, "h.db");
    const src = source();
    const c = clock(0);
    const rec = new HistoryRecorder(src, HistoryStore.open(path), { flushMs: 0, pruneEveryMs: 0, now: c.now });
    // A seeded stream: 20 rounds of one status per device (10,000 devices, 2 databases each), a
    // status every 5 ms of the dashboard's clock (200/s); lags drift, one device in 50 flips state.
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const devices = 10_000;
    const rounds = 20;
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      for (let d = 0; d < devices; d++) {
        const lagging = rand() < 0.02;
        const lagMs = Math.floor(rand() * (lagging ? 3_600_000 : 2_000));
        src.status(
          deviceView({
            device: `gw-${String(d).padStart(5, "0")}`,
            rows: [
              dbRow({ db: "/data/app.db", lagMs, state: lagging ? "lagging" : "ok" }),
              dbRow({ db: "/data/metrics.db", lagMs: Math.floor(rand() * 1_000) }),
            ],
          }),
        );
        c.advance(5);
      }
    }
    rec.flush();
    const seconds = (performance.now() - started) / 1000;
    const statuses = devices * rounds;
    const written = rec.stats().written;
    rec.store.checkpoint();
    const stats = rec.store.stats();
    console.log(
      `history ingest: ${statuses} statuses (${written} entries) in ${seconds.toFixed(2)} s = ${Math.round(statuses / seconds)} statuses/s, ${Math.round(written / seconds)} entries/s; file ${stats.bytes} B = ${(stats.bytes / written).toFixed(1)} B/entry`,
    );
    expect(stats.entries).toBe(written);
    expect(rec.stats().dropped).toBe(0);
    // At 200 statuses/s a round is 50 s of the dashboard's clock: lag samples once a minute
    // at most, so about one per database per other round, plus the jumps and state flips.
    expect(written).toBeGreaterThan(devices * 3 * 2);
    expect(written).toBeLessThan(statuses * 2);
    await rec.stop();
  });
});
