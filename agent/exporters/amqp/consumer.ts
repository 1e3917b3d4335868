/**
 * The command consumer: envelope → checks → dispatch() → exactly one final reply.
 * Every delivery is settled (ack, or nack to the dlx) and nothing it does can throw
 * out of the delivery handler, so bad input never stops the consumer.
 */
import type { Channel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Dispatcher } from "../../control/dispatch.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import { brokerDeadline, commandArgs, errorReply, parseCommand, parseDeadline, type CommandEnvelope, type ReplyCore } from "./codec.js";
import type { IdempotencyStore } from "./idempotency.js";

export interface ConsumerDeps {
  dispatcher: Dispatcher;
  idem: IdempotencyStore;
  hostId: string;
  log: Logger;
  /** Sends a reply body core to `replyTo`; resolves when the broker confirmed it. */
  sendReply(replyTo: string, inReplyTo: string | null, core: ReplyCore): Promise<void>;
}

interface Delivery {
  msg: ConsumeMessage;
  replyTo: string | undefined;
  inReplyTo: string | null;
}

const fail = (code: "forbidden" | "invalid_arg" | "deadline_exceeded", message: string): ReplyCore =>
  errorReply(new AgentError(code, message, { component: "amqp" }));

export class CommandConsumer {
  /** Commands running now, by idempotency key: a redelivery waits for the first run. */
  private readonly inflight = new Map<string, Promise<ReplyCore>>();
  handled = 0;

  constructor(private readonly deps: ConsumerDeps) {}

  async attach(ch: Channel, queue: string, concurrency: number): Promise<void> {
    await ch.prefetch(concurrency);
    await ch.consume(queue, (msg) => {
      if (msg) void this.onMessage(ch, msg);
    });
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const p = msg.properties;
    const d: Delivery = { msg, replyTo: typeof p.replyTo === "string" && p.replyTo !== "" ? p.replyTo : undefined, inReplyTo: typeof p.messageId === "string" ? p.messageId : null };
    let core: ReplyCore;
    try {
      core = await this.process(d);
    } catch (e) {
      core = errorReply(toAgentError(e, "amqp"));
    }
    this.handled++;
    await this.settle(ch, d, core);
  }

  private async process(d: Delivery): Promise<ReplyCore> {
    let env: CommandEnvelope;
    try {
      env = parseCommand(d.msg.content);
    } catch (e) {
      return errorReply(toAgentError(e, "amqp"));
    }
    d.inReplyTo = env.command_id;
    const user = d.msg.properties.userId;
    // RabbitMQ checks user_id only when it is set, so an unset one proves nothing.
    if (typeof user !== "string" || user === "") return fail("forbidden", "command has no user_id: the broker did not authenticate its sender");
    if (env.target.host !== this.deps.hostId && env.target.host !== "*") {
      return fail("invalid_arg", `target.host "${env.target.host}" is not this host (${this.deps.hostId})`);
    }
    const deadline = this.deadlineOf(env, d.msg);
    if (deadline !== undefined && Date.now() > deadline) return fail("deadline_exceeded", "deadline passed before the command was read; not executed");
    return this.runOnce(d, env, user, deadline);
  }

  private deadlineOf(env: CommandEnvelope, msg: ConsumeMessage): number | undefined {
    const body = parseDeadline(env.deadline);
    const broker = brokerDeadline(msg.properties.expiration, msg.properties.timestamp);
    if (body === undefined) return broker;
    return broker === undefined ? body : Math.min(body, broker);
  }

  private async runOnce(d: Delivery, env: CommandEnvelope, user: string, deadline: number | undefined): Promise<ReplyCore> {
    const key = `${user}\u0000${env.idempotency_key ?? env.command_id}`;
    const seen = this.deps.idem.get(key);
    if (seen) return this.duplicateOf(key, seen.reply);
    const spec = Object.hasOwn(this.deps.dispatcher.commands, env.op) ? this.deps.dispatcher.commands[env.op] : undefined;
    this.deps.idem.begin(key, spec?.mutates ?? false);
    if (spec?.long && d.replyTo) void this.deps.sendReply(d.replyTo, env.command_id, { status: "accepted" }).catch(() => undefined);
    const run = this.execute(env, user, deadline);
    this.inflight.set(key, run);
    try {
      const core = await run;
      this.deps.idem.finish(key, core);
      return core;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async execute(env: CommandEnvelope, user: string, deadline: number | undefined): Promise<ReplyCore> {
    const opts = deadline === undefined ? { commandId: env.command_id } : { commandId: env.command_id, deadline };
    const out = await this.deps.dispatcher.run(env.op, commandArgs(env), { user, via: "amqp" }, opts);
    if (out.ok) return { status: "ok", result: out.result };
    return errorReply(out.error ?? new AgentError("internal", "command failed", { component: "amqp" }));
  }

  private async duplicateOf(key: string, first: ReplyCore | undefined): Promise<ReplyCore> {
    const running = this.inflight.get(key);
    const core = first ?? (running ? await running : undefined);
    if (!core) {
      // Started by an earlier agent run that stopped before finishing: never re-run blindly.
      const e = new AgentError("operation_failed", "an earlier delivery of this command started but the agent stopped before it finished; outcome unknown, check the state and re-issue with a new command_id", { component: "amqp" });
      return { status: "duplicate", original_status: "unknown", error: { code: e.code, message: e.message, retryable: false } };
    }
    const out: ReplyCore = { status: "duplicate", original_status: core.status };
    if (core.result !== undefined) out.result = core.result;
    if (core.error) out.error = core.error;
    return out;
  }

  private async settle(ch: Channel, d: Delivery, core: ReplyCore): Promise<void> {
    try {
      if (d.replyTo) {
        await this.deps.sendReply(d.replyTo, d.inReplyTo, core);
        ch.ack(d.msg);
      } else if (core.status === "ok" || core.status === "duplicate" || core.status === "error") {
        ch.ack(d.msg);
      } else {
        ch.nack(d.msg, false, false); // nobody to tell: dead-letter it so an operator can see it
      }
    } catch (err) {
      // Channel gone or reply unconfirmed: the command stays unacked and is redelivered;
      // the idempotency store answers that redelivery `duplicate` with this result.
      this.deps.log.debug({ err: { message: (err as Error).message } }, "amqp: could not settle a command");
    }
  }
}
