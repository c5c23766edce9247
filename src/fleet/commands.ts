/**
 * Remote commands on the device: every payload from `cmd` is checked before
 * anything runs, in this order, and rejected with a `command.rejected`
 * event, a code (`protocol/reply-codes.ts`) and, whenever the payload names
 * a valid command id, a "rejected" reply on this device's own `res/` topic,
 * with no effect:
 *
 * 1. well-formed (`parseCommand`): at most 256 KiB — "too-large" —,
 *    `v` 1 — "bad-version" —, the command shape — "bad-payload" —, a
 *    `keyId` and a `signature` — "bad-signature";
 * 2. addressed to this device — "wrong-device";
 * 3. signed by a pinned operator key (`signing.ts`) — "bad-signature";
 * 4. not expired, not issued in the future (beyond the allowed clock skew),
 *    and not valid for longer than {@linkcode MAX_COMMAND_TTL_MS} —
 *    "expired";
 * 5. an id never seen before (QoS 1 redelivery, a replay): a repeated id
 *    gets its recorded outcome in a "rejected" reply, never a second run —
 *    "replay";
 * 6. a known command name — "unknown-command"; `args.timeoutMs` a positive
 *    number if given — "bad-payload";
 * 7. its arguments pass the command's own checks (`CommandSpec.check`: a
 *    configured `db`, a well-formed `txid`, an allowed `output` …) —
 *    "bad-arguments", so a command that would fail them is never accepted;
 * 8. its databases free: a restore needs its database to itself, other
 *    commands share (`db-claims.ts`) — "busy".
 *
 * Refusals before the signature check (1, 2) are answered too: the reply
 * goes only to this device's own topic and carries nothing but the reason.
 *
 * Then: "accepted", the handler runs, and "done" with its result or
 * "failed" with its error and code. Commands run side by side (a `status`
 * is answered while a `sync` waits for a failing replica); only the checks
 * above run one at a time.
 *
 * **Deadline**: every command has one, `args.timeoutMs` after it was
 * accepted (the sender's wait, `fleet send --timeout`), else the handler's
 * default, at most {@linkcode MAX_COMMAND_TTL_MS}. When it passes, the
 * reply is "failed" with code "timeout" and what the command was waiting
 * for, whether or not the handler has returned: nothing the agent waits for
 * (a replica that never answers) can keep a command unanswered. The
 * handler's signal aborts then, so it stops at its next safe point; its
 * databases stay claimed until it has, and its late outcome is recorded
 * (a resend of the id shows it) and sent as a `command.done` /
 * `command.failed` event with `late: true`.
 *
 * The outcome is recorded (`DeviceState`) before the final reply.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { CommandParseError, parseCommand, type CommandBody, type ReplyMessage } from "../protocol/messages.ts";
import type { FailureCode, RefusalCode } from "../protocol/reply-codes.ts";
import { signatureProblem, type OperatorPublicKey } from "../protocol/signing.ts";
import { CommandError, failureCode } from "./command-error.ts";
import { DbClaims, type ClaimRequest } from "./db-claims.ts";
import type { CommandMeta } from "./device-link.ts";
import type { DeviceState } from "./device-state.ts";

/** Longest validity a command may claim, and its longest deadline. */
export const MAX_COMMAND_TTL_MS = 24 * 3_600_000;
/** How far a command's `issuedAt` may lie in the device's future. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** Deadline of a command that carries no `timeoutMs` and whose handler sets no default. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5 * 60_000;

/** What a handler may use while it runs. */
export interface CommandContext {
  readonly body: CommandBody;
  /** Aborts at the deadline (its reason is a `CommandError` with code "timeout"): stop at the next safe point. */
  readonly signal: AbortSignal;
  /** The deadline (Unix ms). */
  readonly deadline: number;
  /** Sends a "progress" reply and a `<name>.step` event (nothing once the final reply went out). */
  progress(step: string, data?: Record<string, unknown>): Promise<void>;
}

/** A command the device knows. */
export interface CommandSpec {
  /** Runs the command: resolves with the result, rejects with a clear error (a `CommandError` picks the code). */
  run(args: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<Record<string, unknown>>;
  /**
   * Checks the arguments before the command is accepted (no side effects):
   * throws an error naming the bad argument and what is allowed, and the
   * command is rejected with code "bad-arguments".
   */
  check?(args: Readonly<Record<string, unknown>>): void;
  /** The databases it works on and whether it needs them to itself; none: it runs beside anything. */
  claims?(args: Readonly<Record<string, unknown>>): ClaimRequest;
  /** Its deadline when the command carries no `timeoutMs` (default {@linkcode DEFAULT_COMMAND_TIMEOUT_MS}). */
  readonly defaultTimeoutMs?: number;
  /** What it was waiting for when the deadline passed (for the "timeout" reply). */
  explainTimeout?(args: Readonly<Record<string, unknown>>): string | undefined;
}

/** Options of {@linkcode CommandExecutor}. */
export interface CommandExecutorOptions {
  readonly device: string;
  readonly keys: readonly OperatorPublicKey[];
  readonly state: DeviceState;
  readonly commands: Readonly<Record<string, CommandSpec>>;
  readonly reply: (reply: ReplyMessage, meta: CommandMeta) => Promise<void>;
  readonly event: (event: string, data: Record<string, unknown>) => Promise<void>;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * Settles like `work`, or rejects with `signal.reason` once `signal` aborts
 * (`work` goes on; its outcome is then ignored).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // Its outcome is ignored, a later rejection too.
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** A deadline for messages: "0.2 s", "27 s", "5 min", "1.5 h". */
function formatWait(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  return ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 360_000) / 10} h`;
}

/** A command that passed the checks, ready to run. */
interface Admitted {
  readonly body: CommandBody;
  readonly meta: CommandMeta;
  readonly spec: CommandSpec;
  readonly timeoutMs: number;
  readonly release: () => void;
}

type Outcome =
  | { readonly ok: true; readonly result: Record<string, unknown> }
  | { readonly ok: false; readonly error: unknown };

/** See the module documentation. */
export class CommandExecutor {
  readonly #o: CommandExecutorOptions;
  readonly #claims = new DbClaims();
  #admission: Promise<unknown> = Promise.resolve();

  constructor(options: CommandExecutorOptions) {
    this.#o = options;
  }

  /**
   * Handles one `cmd` payload: checks it (one payload at a time), then runs
   * it beside the commands already running. Resolves once its final reply
   * is sent.
   */
  async handle(payload: Uint8Array, meta: CommandMeta): Promise<void> {
    // Resolves at the final reply (a handler past its deadline finishes in the background).
    const admission = this.#admission.then(() => this.#admit(payload, meta));
    this.#admission = admission.catch(() => undefined);
    const admitted = await admission;
    if (admitted) await this.#run(admitted);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  async #admit(payload: Uint8Array, meta: CommandMeta): Promise<Admitted | undefined> {
    const now = this.#now();
    let body: CommandBody;
    try {
      const msg = parseCommand(payload);
      body = msg.body;
      const problem = this.#problem(msg.body, now);
      if (problem !== undefined) return await this.#reject(body, meta, problem.code, problem.reason, now);
      const signature = signatureProblem(msg, this.#o.keys);
      if (signature !== undefined) return await this.#reject(body, meta, "bad-signature", signature, now);
    } catch (err) {
      if (!(err instanceof CommandParseError)) throw err;
      return await this.#refuseUnparsed(err, meta, now);
    }
    const seen = this.#o.state.seen(body.id);
    if (seen) {
      const reason = `command ${body.id} was already received (${seen.status}); it is not run again`;
      await this.#o.event("command.rejected", { id: body.id, name: body.name, reason, code: "replay" });
      await this.#o.reply(
        {
          ...this.#replyBase(body.id, now),
          status: "rejected",
          error: reason,
          code: "replay",
          ...(seen.result ? { result: seen.result } : {}),
        },
        meta,
      );
      return undefined;
    }
    const spec = Object.hasOwn(this.#o.commands, body.name) ? this.#o.commands[body.name] : undefined;
    if (!spec)
      return await this.#reject(
        body,
        meta,
        "unknown-command",
        `unknown command '${body.name}' (known: ${Object.keys(this.#o.commands).join(", ")})`,
        now,
      );
    const timeout = body.args["timeoutMs"];
    if (timeout !== undefined && (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0)) {
      return await this.#reject(
        body,
        meta,
        "bad-payload",
        `'timeoutMs' must be a positive number of milliseconds: ${JSON.stringify(timeout)}`,
        now,
      );
    }
    try {
      spec.check?.(body.args);
    } catch (err) {
      return await this.#reject(body, meta, "bad-arguments", errorMessage(err), now);
    }
    const claim = this.#claims.claim(body.id, body.name, spec.claims?.(body.args) ?? { dbs: [], exclusive: false });
    if ("conflict" in claim) {
      const { db, id, name } = claim.conflict;
      return await this.#reject(
        body,
        meta,
        "busy",
        `'${db}' is in use by command ${id} (${name}); retry when it has finished`,
        now,
      );
    }
    const timeoutMs = Math.min(timeout ?? spec.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TTL_MS);
    try {
      await this.#o.state.record(body.id, { expiresAt: body.expiresAt, status: "running" }, now, MAX_CLOCK_SKEW_MS);
      await this.#o.event("command.accepted", { id: body.id, name: body.name, timeoutMs });
      this.#o.log.info("command accepted", { id: body.id, name: body.name, timeoutMs });
      await this.#o.reply({ ...this.#replyBase(body.id, now), status: "accepted" }, meta);
    } catch (err) {
      claim.release();
      throw err;
    }
    return { body, meta, spec, timeoutMs, release: claim.release };
  }

  async #run({ body, meta, spec, timeoutMs, release }: Admitted): Promise<void> {
    const started = this.#now();
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new CommandError(`Cannot finish ${body.name}: its deadline passed`, { code: "timeout" })),
      timeoutMs,
    );
    let final = false;
    const ctx: CommandContext = {
      body,
      signal: abort.signal,
      deadline: started + timeoutMs,
      progress: async (step, data = {}) => {
        if (final) return;
        await this.#o.event(`${body.name}.step`, { id: body.id, step, ...data });
        await this.#o.reply(
          {
            ...this.#replyBase(body.id, Date.now()),
            status: "progress",
            step,
            ...(Object.keys(data).length ? { result: data } : {}),
          },
          meta,
        );
      },
    };
    const work: Promise<Outcome> = (async () => spec.run(body.args, ctx))().then(
      (result) => ({ ok: true, result }),
      (error: unknown) => ({ ok: false, error }),
    );
    const deadline = new Promise<"deadline">((resolve) =>
      abort.signal.addEventListener("abort", () => resolve("deadline"), { once: true }),
    );
    const first = await Promise.race([work, deadline]);
    if (first !== "deadline") {
      clearTimeout(timer);
      release();
      final = true;
      await this.#finish(body, meta, first, started);
      return;
    }
    final = true;
    let detail: string | undefined;
    try {
      detail = spec.explainTimeout?.(body.args);
    } catch (err) {
      detail = `(cannot tell what it waited for: ${errorMessage(err)})`;
    }
    const error = new CommandError(
      `Cannot finish ${body.name} within ${formatWait(timeoutMs)}${detail ? `: ${detail}` : ""}`,
      { code: "timeout" },
    );
    await this.#finish(body, meta, { ok: false, error }, started);
    // The handler stops at its next safe point; until then its databases stay claimed.
    void work
      .then(async (late) => {
        release();
        if (!late.ok && failureCode(late.error) === "timeout") return;
        await this.#finish(body, meta, late, started, true);
      })
      .catch((err: unknown) =>
        this.#o.log.error("cannot record a late command outcome", { id: body.id, err: errorMessage(err) }),
      );
  }

  /** Records the outcome, sends the event and (unless `late`) the final reply. */
  async #finish(body: CommandBody, meta: CommandMeta, outcome: Outcome, started: number, late = false): Promise<void> {
    const now = Date.now();
    const extra = late ? { late: true } : {};
    const ms = now - started;
    if (outcome.ok) {
      const { result } = outcome;
      await this.#o.state.record(
        body.id,
        { expiresAt: body.expiresAt, status: "done", result },
        now,
        MAX_CLOCK_SKEW_MS,
      );
      await this.#o.event("command.done", { id: body.id, name: body.name, ...extra });
      this.#o.log.info(late ? "command finished after its deadline" : "command done", {
        id: body.id,
        name: body.name,
        ms,
      });
      if (!late) await this.#o.reply({ ...this.#replyBase(body.id, now), status: "done", result }, meta);
      return;
    }
    const error = errorMessage(outcome.error);
    const code: FailureCode = failureCode(outcome.error);
    await this.#o.state.record(body.id, { expiresAt: body.expiresAt, status: "failed", error }, now, MAX_CLOCK_SKEW_MS);
    await this.#o.event("command.failed", { id: body.id, name: body.name, error, code, ...extra });
    this.#o.log.warn(late ? "command failed after its deadline" : "command failed", {
      id: body.id,
      name: body.name,
      code,
      err: error,
      ms,
    });
    if (!late) await this.#o.reply({ ...this.#replyBase(body.id, now), status: "failed", error, code }, meta);
  }

  /** Device, validity window: why the body must not run, or undefined. */
  #problem(body: CommandBody, now: number): { code: RefusalCode; reason: string } | undefined {
    if (body.device !== this.#o.device)
      return { code: "wrong-device", reason: `addressed to device '${body.device}', not '${this.#o.device}'` };
    if (body.expiresAt <= now)
      return { code: "expired", reason: `expired at ${new Date(body.expiresAt).toISOString()}` };
    if (body.issuedAt > now + MAX_CLOCK_SKEW_MS)
      return { code: "expired", reason: `issued at ${new Date(body.issuedAt).toISOString()}, in this device's future` };
    if (body.expiresAt - body.issuedAt > MAX_COMMAND_TTL_MS)
      return { code: "expired", reason: "valid for longer than 24 hours" };
    return undefined;
  }

  /** Rejects with an event and a reply (on this device's own topic, whoever the command was addressed to). */
  async #reject(
    body: CommandBody,
    meta: CommandMeta,
    code: RefusalCode,
    reason: string,
    now: number,
  ): Promise<undefined> {
    await this.#o.event("command.rejected", { id: body.id, name: body.name, reason, code });
    this.#o.log.warn("command rejected", { id: body.id, name: body.name, code, reason });
    await this.#o.reply({ ...this.#replyBase(body.id, now), status: "rejected", error: reason, code }, meta);
    return undefined;
  }

  /** Rejects a payload that is not a valid command: a reply only when it names a valid id. */
  async #refuseUnparsed(err: CommandParseError, meta: CommandMeta, now: number): Promise<undefined> {
    const { code, id, message: reason } = err;
    await this.#o.event("command.rejected", { ...(id !== undefined ? { id } : {}), reason, code });
    this.#o.log.warn("command rejected", { ...(id !== undefined ? { id } : {}), reason, code });
    if (id !== undefined)
      await this.#o.reply({ ...this.#replyBase(id, now), status: "rejected", error: reason, code }, meta);
    return undefined;
  }

  #replyBase(id: string, ts: number): Pick<ReplyMessage, "v" | "type" | "device" | "id" | "ts"> {
    return { v: 1, type: "reply", device: this.#o.device, id, ts };
  }
}
