/**
 * The command consumer: envelope → checks → dispatch() → exactly one final reply.
 * Every delivery is settled (ack, or nack to the dlx) and nothing it does can throw
 * out of the delivery handler, so bad input never stops the consumer.
 */
import type { Channel, ConsumeMessage, Options } from "amqplib";
import type { Logger } from "pino";
import type { DispatchOptions, Dispatcher } from "../../control/dispatch.js";
import { AgentError, toAgentError } from "../../model/errors.js";
import { inOneWrite } from "./connection.js";
import { brokerDeadline, commandArgs, errorReply, parseCommand, parseDeadline, type CommandEnvelope, type ReplyCore } from "./codec.js";
import type { BeginMode, IdempotencyStore } from "./idempotency.js";

export interface ConsumerDeps {
  dispatcher: Dispatcher;
  idem: IdempotencyStore;
  /** When a volatile command's start record is fsync'ed (config amqp.volatile_sync). */
  volatileSync: "background" | "before_send";
  hostId: string;
  log: Logger;
  /** The wire form of a reply (body plus properties) to publish on the reply exchange. */
  buildReply(inReplyTo: string | null, core: ReplyCore): { exchange: string; content: Buffer; props: Options.Publish };
}

interface Delivery {
  msg: ConsumeMessage;
  replyTo: string | undefined;
  inReplyTo: string | null;
  /** The command's audit, run once its reply has left (DispatchOptions.deferAudit). */
  audit?: () => void;
}

/** How long a finished command's audit may wait to be written with others'. */
export const AUDIT_DELAY_MS = 50;
/** Audits waiting that make a batch go at once. */
const AUDIT_BATCH = 64;

const fail = (code: "forbidden" | "invalid_arg" | "deadline_exceeded", message: string): ReplyCore =>
  errorReply(new AgentError(code, message, { component: "amqp" }));

/** `duplicate` of a command whose first run may or may not have happened. */
function unknownOutcome(message: string): ReplyCore {
  return { status: "duplicate", original_status: "unknown", error: { code: "operation_failed", message, retryable: false } };
}

export class CommandConsumer {
  /** Commands running now, by idempotency key: a redelivery waits for the first run. */
  private readonly inflight = new Map<string, Promise<ReplyCore>>();
  handled = 0;
  /** Deliveries received and not yet settled. */
  private active = 0;
  private current: { ch: Channel; tag: string } | undefined;
  /** Audits of answered commands, written in batches (see settle()). */
  private audits: (() => void)[] = [];
  private auditTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ConsumerDeps) {}

  /** Starts consuming (replies and acks go out on the same channel, see settle()). */
  async attach(ch: Channel, queue: string, concurrency: number): Promise<void> {
    await ch.prefetch(concurrency);
    const { consumerTag } = await ch.consume(queue, (msg) => {
      if (msg) void this.onMessage(ch, msg);
    });
    this.current = { ch, tag: consumerTag };
  }

  /** Stops taking commands and waits (at most `timeoutMs`) for the running ones to be answered. */
  async drain(timeoutMs: number): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    if (cur) await cur.ch.cancel(cur.tag).catch(() => undefined);
    const until = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    this.writeAudits();
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    this.active++;
    try {
      await this.handle(ch, msg);
    } finally {
      this.active--;
    }
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const p = msg.properties;
    const d: Delivery = { msg, replyTo: typeof p.replyTo === "string" && p.replyTo !== "" ? p.replyTo : undefined, inReplyTo: typeof p.messageId === "string" ? p.messageId : null };
    let core: ReplyCore;
    try {
      core = await this.process(ch, d);
    } catch (e) {
      core = errorReply(toAgentError(e, "amqp"));
    }
    this.handled++;
    await this.settle(ch, d, core);
  }

  private async process(ch: Channel, d: Delivery): Promise<ReplyCore> {
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
    return this.runOnce(ch, d, env, user, deadline);
  }

  private deadlineOf(env: CommandEnvelope, msg: ConsumeMessage): number | undefined {
    const body = parseDeadline(env.deadline);
    const broker = brokerDeadline(msg.properties.expiration, msg.properties.timestamp);
    if (body === undefined) return broker;
    return broker === undefined ? body : Math.min(body, broker);
  }

  private async runOnce(ch: Channel, d: Delivery, env: CommandEnvelope, user: string, deadline: number | undefined): Promise<ReplyCore> {
    const key = `${user}\u0000${env.idempotency_key ?? env.command_id}`;
    const seen = this.deps.idem.get(key);
    if (seen) return this.duplicateOf(key, seen.reply);
    const spec = Object.hasOwn(this.deps.dispatcher.commands, env.op) ? this.deps.dispatcher.commands[env.op] : undefined;
    const mode: BeginMode = !spec?.mutates ? "memory" : spec.volatile && this.deps.volatileSync === "background" ? "volatile" : "durable";
    if (mode === "volatile" && d.msg.fields.redelivered && this.deps.idem.hostRestarted) {
      // Its start record was not fsync'ed before it ran and the host has restarted since the
      // journal was written: it may have run in the guest's previous instance. Never again.
      const core = unknownOutcome("this command was delivered before the host restarted and may have reached the guest's previous instance; not sent again: check the guest and re-issue with a new command_id");
      this.deps.idem.finish(key, core);
      return core;
    }
    const run = this.beginThenExecute(d, key, mode, env, user, deadline);
    this.inflight.set(key, run);
    if (spec?.long && d.replyTo) this.acceptedReply(ch, d.replyTo, env.command_id);
    try {
      const core = await run;
      this.deps.idem.finish(key, core);
      return core;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async beginThenExecute(d: Delivery, key: string, mode: BeginMode, env: CommandEnvelope, user: string, deadline: number | undefined): Promise<ReplyCore> {
    const onDisk = this.deps.idem.begin(key, mode);
    if (onDisk) await onDisk;
    return this.execute(d, env, user, deadline);
  }

  private async execute(d: Delivery, env: CommandEnvelope, user: string, deadline: number | undefined): Promise<ReplyCore> {
    const opts: DispatchOptions = { commandId: env.command_id, deferAudit: (audit) => (d.audit = audit) };
    if (deadline !== undefined) opts.deadline = deadline;
    const out = await this.deps.dispatcher.run(env.op, commandArgs(env), { user, via: "amqp" }, opts);
    if (out.ok) return { status: "ok", result: out.result };
    return errorReply(out.error ?? new AgentError("internal", "command failed", { component: "amqp" }));
  }

  private async duplicateOf(key: string, first: ReplyCore | undefined): Promise<ReplyCore> {
    const running = this.inflight.get(key);
    const core = first ?? (running ? await running : undefined);
    // Started by an earlier agent run that stopped before finishing: never re-run blindly.
    if (!core) return unknownOutcome("an earlier delivery of this command started but the agent stopped before it finished; outcome unknown, check the state and re-issue with a new command_id");
    const out: ReplyCore = { status: "duplicate", original_status: core.status };
    if (core.result !== undefined) out.result = core.result;
    if (core.error) out.error = core.error;
    return out;
  }

  /**
   * The reply goes out on the delivery's own channel and the command is acked right behind
   * it, both in one write to the socket (corked: amqplib would make it two). AMQP keeps a
   * channel's frames in order, so the broker has routed the reply before it sees the ack: if
   * the connection drops in between, the command is redelivered and the idempotency store
   * answers it `duplicate` with this result (the client may then see two replies and keeps
   * the first).
   *
   * The command's audit, log line and event, waits for a batch (queueAudit()). The journal's
   * `done` record is written with the next start record or within IdempotencyStore's flush
   * delay, after the ack. Should the agent die in between, a redelivery or a re-publish of the
   * command finds its start record without an outcome and is answered `duplicate`,
   * "outcome unknown"; it never runs twice, since a mutating command's start record is on
   * disk before it runs (a read-only one has none, and running it again is harmless).
   * Measured on send_key over the bus, all this had cost each command one more write(2) to
   * the socket and one to the journal, and its reply the audit's 60 µs.
   *
   * No publisher confirms on this channel: replies are transient messages to the caller's
   * exclusive queue, which a confirm cannot make safer than the broker itself, and waiting
   * for one before acking cost every command 0.2-0.25 ms at p50 in back-to-back RPCs (the
   * settle then lands on the quorum log just as the next command is enqueued).
   */
  private settle(ch: Channel, d: Delivery, core: ReplyCore): Promise<void> {
    const written = inOneWrite(ch, () => {
      try {
        if (d.replyTo) this.publishReply(ch, d.replyTo, d.inReplyTo, core);
        if (d.replyTo || core.status === "ok" || core.status === "duplicate" || core.status === "error") {
          ch.ack(d.msg);
        } else {
          ch.nack(d.msg, false, false); // nobody to tell: dead-letter it so an operator can see it
        }
      } catch (err) {
        this.channelGone(err);
      }
    });
    if (d.audit) this.queueAudit(d.audit);
    return written;
  }

  /**
   * Audits are written in batches, up to AUDIT_DELAY_MS late or AUDIT_BATCH at a time: a
   * controller issuing commands back to back then has its audit lines and events produced
   * in a run instead of one at a time between commands, where every one ran with cold
   * caches (profiled in the agent process: 93 µs of CPU per command one at a time).
   */
  private queueAudit(audit: () => void): void {
    this.audits.push(audit);
    if (this.audits.length >= AUDIT_BATCH) this.writeAudits();
    else this.auditTimer ??= setTimeout(() => this.writeAudits(), AUDIT_DELAY_MS);
  }

  private writeAudits(): void {
    if (this.auditTimer) clearTimeout(this.auditTimer);
    this.auditTimer = undefined;
    for (const audit of this.audits.splice(0)) {
      try {
        audit();
      } catch (err) {
        this.deps.log.error({ err: { message: (err as Error).message } }, "amqp: a command's audit failed");
      }
    }
  }

  /**
   * The channel closed under a command: it stays unacked and is redelivered, and the
   * idempotency store answers that redelivery `duplicate` with this result.
   */
  private channelGone(err: unknown): void {
    this.deps.log.debug({ err: { message: (err as Error).message } }, "amqp: could not settle a command");
  }

  private acceptedReply(ch: Channel, replyTo: string, commandId: string): void {
    try {
      this.publishReply(ch, replyTo, commandId, { status: "accepted" });
    } catch {
      // channel closed: the final reply (or a redelivery's duplicate) still answers the caller
    }
  }

  /** Publishes a reply. @throws when the channel is closed. */
  private publishReply(ch: Channel, replyTo: string, inReplyTo: string | null, core: ReplyCore): void {
    const r = this.deps.buildReply(inReplyTo, core);
    ch.publish(r.exchange, replyTo, r.content, r.props);
  }
}
