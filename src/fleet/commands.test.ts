import { describe, expect, test } from "bun:test";
import { makeTempDir } from "../../test/harness/temp-dir.ts";
import { UsageError } from "../errors.ts";
import { nullLogger } from "../log.ts";
import { encodeMessage, type CommandBody, type ReplyMessage } from "../protocol/messages.ts";
import { generateOperatorKey, parsePrivateKey, parsePublicKey, signCommand } from "../protocol/signing.ts";
import { CommandExecutor, untilAborted, type CommandSpec } from "./commands.ts";
import { DeviceState } from "./device-state.ts";

const DEVICE = "dev-1";
const operator = generateOperatorKey();
const signer = parsePrivateKey(operator.privatePem);

/** A promise and its resolver, for handlers that wait until the test lets them go. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves once `cond()` holds (checked every 10 ms, 5 s limit). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** An executor over `commands` that records every reply and event. */
async function setup(commands: Record<string, CommandSpec>) {
  const dir = await makeTempDir("lf-cmd-");
  const replies: ReplyMessage[] = [];
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const executor = new CommandExecutor({
    device: DEVICE,
    keys: [parsePublicKey(operator.publicKey)],
    state: new DeviceState(dir.path),
    commands,
    reply: async (reply) => void replies.push(reply),
    event: async (event, data) => void events.push({ event, data }),
    log: nullLogger(),
  });
  let seq = 0;
  const body = (name: string, args: Record<string, unknown> = {}, extra: Partial<CommandBody> = {}): CommandBody => ({
    id: `cmd-${String(++seq).padStart(4, "0")}`,
    device: DEVICE,
    name,
    args,
    issuedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    ...extra,
  });
  const send = (b: CommandBody, key = signer) => executor.handle(encodeMessage(signCommand(b, key)), {});
  const final = (id: string) => replies.find((r) => r.id === id && r.status !== "accepted" && r.status !== "progress");
  return { dir, replies, events, body, send, final, executor, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

describe("CommandExecutor", () => {
  test("a command past its deadline is answered 'failed' with code 'timeout' and what it waited for, though its handler never returns", async () => {
    const never = gate();
    await using t = await setup({
      sync: {
        run: async () => (await never.promise, {}),
        explainTimeout: () => "replica 's3' fails: connect ECONNREFUSED",
      },
    });
    const b = t.body("sync", { timeoutMs: 200 });
    const started = Date.now();
    await t.send(b);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(t.replies.map((r) => [r.status, r.code])).toEqual([
      ["accepted", undefined],
      ["failed", "timeout"],
    ]);
    expect(t.final(b.id)?.error).toBe("Cannot finish sync within 0.2 s: replica 's3' fails: connect ECONNREFUSED");
    expect(t.events.find((e) => e.event === "command.failed")?.data).toMatchObject({ id: b.id, code: "timeout" });
  });

  test("status is answered while a slow sync runs; the sync still answers by its deadline", async () => {
    const slow = gate();
    await using t = await setup({
      sync: {
        claims: () => ({ dbs: ["/a.db"], exclusive: false }),
        run: async () => (await slow.promise, { synced: true }),
      },
      status: { run: async () => ({ device: DEVICE }) },
    });
    const sync = t.body("sync", { timeoutMs: 10_000 });
    const syncDone = t.send(sync);
    const status = t.body("status");
    await t.send(status);
    expect(t.final(status.id)).toMatchObject({ status: "done", result: { device: DEVICE } });
    expect(t.final(sync.id)).toBeUndefined();
    slow.open();
    await syncDone;
    expect(t.final(sync.id)).toMatchObject({ status: "done", result: { synced: true } });
  });

  test("a restore needs its database to itself: a second one is rejected 'busy', one on another database runs", async () => {
    const first = gate();
    const restore: CommandSpec = {
      claims: (args) => ({ dbs: [String(args["db"])], exclusive: true }),
      run: async (args) => {
        if (args["db"] === "/a.db") await first.promise;
        return { db: args["db"] };
      },
    };
    await using t = await setup({
      restore,
      sync: { claims: () => ({ dbs: ["/a.db", "/b.db"], exclusive: false }), run: async () => ({}) },
    });
    const a = t.body("restore", { db: "/a.db" });
    const running = t.send(a);
    const again = t.body("restore", { db: "/a.db" });
    await t.send(again);
    expect(t.final(again.id)).toMatchObject({
      status: "rejected",
      code: "busy",
      error: `'/a.db' is in use by command ${a.id} (restore); retry when it has finished`,
    });
    const sync = t.body("sync");
    await t.send(sync);
    expect(t.final(sync.id)).toMatchObject({ status: "rejected", code: "busy" });
    const b = t.body("restore", { db: "/b.db" });
    await t.send(b);
    expect(t.final(b.id)).toMatchObject({ status: "done", result: { db: "/b.db" } });
    first.open();
    await running;
    // Released: the same restore under a new id now runs.
    const later = t.body("restore", { db: "/a.db" });
    await t.send(later);
    expect(t.final(later.id)?.status).toBe("done");
  });

  test("a handler that outlives its deadline keeps its claim until it returns; its late outcome is recorded and sent as an event", async () => {
    const slow = gate();
    let ctxAborted = false;
    await using t = await setup({
      restore: {
        claims: () => ({ dbs: ["/a.db"], exclusive: true }),
        run: async (_args, ctx) => {
          await slow.promise;
          ctxAborted = ctx.signal.aborted;
          return { restored: true };
        },
      },
    });
    const a = t.body("restore", { timeoutMs: 100 });
    await t.send(a);
    expect(t.final(a.id)).toMatchObject({ status: "failed", code: "timeout" });
    const blocked = t.body("restore");
    await t.send(blocked);
    expect(t.final(blocked.id)?.code).toBe("busy");
    slow.open();
    await until("the late outcome", () => t.events.some((e) => e.event === "command.done"));
    expect(ctxAborted).toBe(true);
    expect(t.events.filter((e) => e.event === "command.done").map((e) => e.data)).toEqual([
      { id: a.id, name: "restore", late: true },
    ]);
    // No second final reply; a resend of the id shows the recorded (late) outcome.
    expect(t.replies.filter((r) => r.id === a.id).map((r) => r.status)).toEqual(["accepted", "failed"]);
    await t.send(a);
    expect(t.replies.at(-1)).toMatchObject({ status: "rejected", code: "replay", result: { restored: true } });
  });

  test("refusals carry their code: bad signature, expired, replay, unknown command, bad timeoutMs, another device", async () => {
    await using t = await setup({ status: { run: async () => ({}) } });
    const other = parsePrivateKey(generateOperatorKey().privatePem);
    const cases: [CommandBody, ReturnType<typeof parsePrivateKey>, string][] = [
      [t.body("status"), other, "bad-signature"],
      [t.body("status", {}, { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 60_000 }), signer, "expired"],
      [t.body("frobnicate"), signer, "unknown-command"],
      [t.body("status", { timeoutMs: "soon" }), signer, "bad-payload"],
      [t.body("status", {}, { device: "dev-2" }), signer, "wrong-device"],
    ];
    for (const [b, key, code] of cases) {
      await t.send(b, key);
      expect(t.final(b.id)).toMatchObject({ status: "rejected", code, device: DEVICE });
    }
    const ok = t.body("status");
    await t.send(ok);
    await t.send(ok);
    expect(t.replies.at(-1)).toMatchObject({ status: "rejected", code: "replay" });
    await t.executor.handle(Buffer.from("{nope"), {});
    expect(t.events.filter((e) => e.event === "command.rejected").map((e) => e.data["code"])).toEqual([
      "bad-signature",
      "expired",
      "unknown-command",
      "bad-payload",
      "wrong-device",
      "replay",
      "bad-payload",
    ]);
    // Not JSON: nothing names an id, so only the event tells.
    expect(t.replies.filter((r) => r.status === "rejected")).toHaveLength(cases.length + 1);
  });

  test("a payload that is not a valid command but names an id is answered with its code: unsigned, v:2, over 256 KiB, malformed", async () => {
    await using t = await setup({ status: { run: async () => ({}) } });
    const signed = (b: CommandBody) =>
      JSON.parse(encodeMessage(signCommand(b, signer)).toString()) as Record<string, unknown>;
    const unsigned = t.body("status");
    const v2 = t.body("status");
    const big = t.body("status", { pad: "x".repeat(300 * 1024) });
    const malformed = t.body("status");
    const payloads: [string, Record<string, unknown>, string][] = [
      [unsigned.id, { v: 1, type: "command", body: unsigned }, "bad-signature"],
      [v2.id, { ...signed(v2), v: 2 }, "bad-version"],
      [big.id, signed(big), "too-large"],
      [malformed.id, { ...signed(malformed), body: { ...malformed, issuedAt: "now" } }, "bad-payload"],
    ];
    for (const [id, payload, code] of payloads) {
      await t.executor.handle(Buffer.from(JSON.stringify(payload)), {});
      expect(t.final(id)).toMatchObject({ status: "rejected", code, device: DEVICE });
      expect(t.events.at(-1)).toMatchObject({ event: "command.rejected", data: { id, code } });
    }
    expect(t.replies.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    // Over 1 MiB the payload is not parsed at all: the event only.
    const huge = t.body("status", { pad: "x".repeat(1100 * 1024) });
    await t.executor.handle(encodeMessage(signCommand(huge, signer)), {});
    expect(t.final(huge.id)).toBeUndefined();
    expect(t.events.at(-1)).toMatchObject({ event: "command.rejected", data: { code: "too-large" } });
  });

  test("a command whose arguments fail its check is rejected 'bad-arguments', never accepted, and its handler never runs", async () => {
    let runs = 0;
    await using t = await setup({
      restore: {
        check: (args) => {
          if (args["db"] !== "/a.db")
            throw new UsageError(`Cannot restore '${String(args["db"])}': it is not a configured database`);
        },
        run: async () => (runs++, {}),
      },
    });
    const bad = t.body("restore", { db: "/nope.db" });
    await t.send(bad);
    expect(t.replies.filter((r) => r.id === bad.id).map((r) => [r.status, r.code, r.error])).toEqual([
      ["rejected", "bad-arguments", "Cannot restore '/nope.db': it is not a configured database"],
    ]);
    expect(t.events.map((e) => e.event)).toEqual(["command.rejected"]);
    // Not recorded: a corrected resend under the same id runs.
    await t.send({ ...bad, args: { db: "/a.db" } });
    expect(t.replies.at(-1)).toMatchObject({ id: bad.id, status: "done" });
    expect(runs).toBe(1);
  });

  test("a failed handler's reply is coded by its error", async () => {
    await using t = await setup({
      restore: {
        run: async () => {
          throw new UsageError("Cannot restore '/x.db': it is not a configured database");
        },
      },
    });
    const b = t.body("restore");
    await t.send(b);
    expect(t.final(b.id)).toMatchObject({
      status: "failed",
      code: "usage",
      error: "Cannot restore '/x.db': it is not a configured database",
    });
  });
});

describe("untilAborted", () => {
  test("settles like the work, or rejects with the signal's reason", async () => {
    expect(await untilAborted(Promise.resolve(7), new AbortController().signal)).toBe(7);
    const ctl = new AbortController();
    const pending = untilAborted(new Promise<never>(() => {}), ctl.signal);
    ctl.abort(new Error("deadline"));
    await expect(pending).rejects.toThrow("deadline");
    await expect(untilAborted(Promise.resolve(1), ctl.signal)).rejects.toThrow("deadline");
  });
});
