import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import type { EventMessage } from "../protocol/messages.ts";
import { Outbox } from "./outbox.ts";

const event = (ms: number, seq: number, data: Record<string, unknown> = {}): EventMessage => ({
  v: 1,
  type: "event",
  device: "d",
  id: `${ms}-${seq}`,
  ts: ms,
  event: "x",
  data,
});

describe("Outbox", () => {
  test("keeps events across a reopen, in id order (numeric, not lexical)", async () => {
    await using dir = await makeTempDir("outbox-");
    const a = new Outbox(dir.path, { maxBytes: 1 << 20 });
    await a.add(event(1000, 10));
    await a.add(event(1000, 9));
    await a.add(event(999, 100));
    const b = new Outbox(dir.path, { maxBytes: 1 << 20 });
    expect(b.pending().map((e) => e.message.id)).toEqual(["999-100", "1000-9", "1000-10"]);
    b.remove(b.pending()[0]!.name);
    expect(new Outbox(dir.path, { maxBytes: 1 << 20 }).pending()).toHaveLength(2);
  });

  test("drops the oldest events beyond the byte bound and counts them", async () => {
    await using dir = await makeTempDir("outbox-");
    const box = new Outbox(dir.path, { maxBytes: 1000 });
    for (let i = 0; i < 20; i++) await box.add(event(1000 + i, 0, { pad: "x".repeat(150) }));
    const left = box.pending();
    expect(left.length).toBeLessThan(20);
    expect(left.at(-1)?.message.id).toBe("1019-0");
    expect(box.takeDropped()).toBe(20 - left.length);
    expect(box.takeDropped()).toBe(0);
  });

  test("removes temp files and unreadable entries (counted as dropped)", async () => {
    await using dir = await makeTempDir("outbox-");
    writeFileSync(join(dir.path, "000000000001000-0000000000.json.tmp"), "{");
    writeFileSync(join(dir.path, "000000000001000-0000000001.json"), "{torn");
    const box = new Outbox(dir.path, { maxBytes: 1 << 20 });
    expect(box.pending()).toEqual([]);
    expect(box.takeDropped()).toBe(1);
    expect(readdirSync(dir.path)).toEqual([]);
  });
});
