/**
 * Remote commands on the device: every payload from `cmd` is checked before
 * anything runs, in this order, and rejected with a reply (when it has an
 * id) and a `command.rejected` event, with no effect:
 *
 * 1. well-formed (`parseCommand`);
 * 2. addressed to this device;
 * 3. signed by a pinned operator key (`signing.ts`);
 * 4. not expired, not issued in the future (beyond the allowed clock skew),
 *    and not valid for longer than {@linkcode MAX_COMMAND_TTL_MS};
 * 5. an id never seen before (QoS 1 redelivery, a replay): a repeated id
 *    gets its recorded outcome in a "rejected" reply, never a second run;
 * 6. a known command name.
 *
 * Then: "accepted", the handler runs (one command at a time), and "done"
 * with its result or "failed" with its error. The outcome is recorded
 * (`DeviceState`) before the final reply.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DeviceState } from "./device-state.ts";
import type { CommandMeta } from "./device-link.ts";
import { MessageError, parseCommand, type CommandBody, type ReplyMessage } from "./messages.ts";
import { signatureProblem, type OperatorPublicKey } from "./signing.ts";

/** Longest validity a command may claim. */
export const MAX_COMMAND_TTL_MS = 24 * 3_600_000;
/** How far a command's `issuedAt` may lie in the device's future. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** What a handler may report while it runs. */
export interface CommandContext {
  readonly body: CommandBody;
  /** Sends a "progress" reply and a `restore.step`-style event. */
  progress(step: string, data?: Record<string, unknown>): Promise<void>;
}

/** A command handler: resolves with the result, rejects with a clear error. */
export type CommandHandler = (args: Readonly<Record<string, unknown>>, ctx: CommandContext) => Promise<Record<string, unknown>>;

/** Options of {@linkcode CommandExecutor}. */
export interface CommandExecutorOptions {
  readonly device: string;
  readonly keys: readonly OperatorPublicKey[];
  readonly state: DeviceState;
  readonly handlers: Readonly<Record<string, CommandHandler>>;
  readonly reply: (reply: ReplyMessage, meta: CommandMeta) => Promise<void>;
  readonly event: (event: string, data: Record<string, unknown>) => Promise<void>;
  readonly log: Logger;
  readonly now?: () => number;
}

/** See the module documentation. */
export class CommandExecutor {
  readonly #o: CommandExecutorOptions;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: CommandExecutorOptions) {
    this.#o = options;
  }

  /** Handles one `cmd` payload; commands run one after another. */
  handle(payload: Uint8Array, meta: CommandMeta): Promise<void> {
    const run = this.#queue.then(() => this.#handle(payload, meta));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #handle(payload: Uint8Array, meta: CommandMeta): Promise<void> {
    const now = (this.#o.now ?? Date.now)();
    let body: CommandBody;
    try {
      const msg = parseCommand(payload);
      body = msg.body;
      const problem = this.#problem(msg.body, now) ?? signatureProblem(msg, this.#o.keys);
      if (problem !== undefined) return await this.#reject(body, meta, problem, now, msg.body.device === this.#o.device);
    } catch (err) {
      if (!(err instanceof MessageError)) throw err;
      await this.#o.event("command.rejected", { reason: err.message });
      this.#o.log.warn("command rejected", { reason: err.message });
      return;
    }
    const seen = this.#o.state.seen(body.id);
    if (seen) {
      const reason = `command ${body.id} was already received (${seen.status}); it is not run again`;
      await this.#o.event("command.rejected", { id: body.id, name: body.name, reason });
      await this.#o.reply({ ...this.#replyBase(body, now), status: "rejected", error: reason, ...(seen.result ? { result: seen.result } : {}) }, meta);
      return;
    }
    const handler = Object.hasOwn(this.#o.handlers, body.name) ? this.#o.handlers[body.name] : undefined;
    if (!handler) return await this.#reject(body, meta, `unknown command '${body.name}' (known: ${Object.keys(this.#o.handlers).join(", ")})`, now, true);

    await this.#o.state.record(body.id, { expiresAt: body.expiresAt, status: "running" }, now, MAX_CLOCK_SKEW_MS);
    await this.#o.event("command.accepted", { id: body.id, name: body.name });
    await this.#o.reply({ ...this.#replyBase(body, now), status: "accepted" }, meta);
    const ctx: CommandContext = {
      body,
      progress: async (step, data = {}) => {
        await this.#o.event(`${body.name}.step`, { id: body.id, step, ...data });
        await this.#o.reply({ ...this.#replyBase(body, Date.now()), status: "progress", step, ...(Object.keys(data).length ? { result: data } : {}) }, meta);
      },
    };
    try {
      const result = await handler(body.args, ctx);
      await this.#o.state.record(body.id, { expiresAt: body.expiresAt, status: "done", result }, Date.now(), MAX_CLOCK_SKEW_MS);
      await this.#o.event("command.done", { id: body.id, name: body.name });
      await this.#o.reply({ ...this.#replyBase(body, Date.now()), status: "done", result }, meta);
    } catch (err) {
      const error = errorMessage(err);
      await this.#o.state.record(body.id, { expiresAt: body.expiresAt, status: "failed", error }, Date.now(), MAX_CLOCK_SKEW_MS);
      await this.#o.event("command.failed", { id: body.id, name: body.name, error });
      this.#o.log.warn("command failed", { id: body.id, name: body.name, err: error });
      await this.#o.reply({ ...this.#replyBase(body, Date.now()), status: "failed", error }, meta);
    }
  }

  /** Device, validity window: why the body must not run, or undefined. */
  #problem(body: CommandBody, now: number): string | undefined {
    if (body.device !== this.#o.device) return `addressed to device '${body.device}', not '${this.#o.device}'`;
    if (body.expiresAt <= now) return `expired at ${new Date(body.expiresAt).toISOString()}`;
    if (body.issuedAt > now + MAX_CLOCK_SKEW_MS) return `issued at ${new Date(body.issuedAt).toISOString()}, in this device's future`;
    if (body.expiresAt - body.issuedAt > MAX_COMMAND_TTL_MS) return "valid for longer than 24 hours";
    return undefined;
  }

  /** Rejects with an event; replies only to commands addressed here (a foreign device's topic is not ours to answer on). */
  async #reject(body: CommandBody, meta: CommandMeta, reason: string, now: number, replyable: boolean): Promise<void> {
    await this.#o.event("command.rejected", { id: body.id, name: body.name, reason });
    this.#o.log.warn("command rejected", { id: body.id, name: body.name, reason });
    if (replyable) await this.#o.reply({ ...this.#replyBase(body, now), status: "rejected", error: reason }, meta);
  }

  #replyBase(body: CommandBody, ts: number): Pick<ReplyMessage, "v" | "type" | "device" | "id" | "ts"> {
    return { v: 1, type: "reply", device: this.#o.device, id: body.id, ts };
  }
}
