/**
 * The fleet client: what controllers (and `virtbus --bus`) use to command agents over the
 * bus and follow their events and snapshots. Replies come back on an exclusive,
 * server-named queue bound on the reply exchange with its own name as the routing key.
 */
import { randomUUID } from "node:crypto";
import type { Channel, ChannelModel, ConsumeMessage, Options } from "amqplib";
import { connect } from "amqplib";
import { AgentError, isErrorCode } from "../../model/errors.js";
import { WIRE_VERSION, type ReplyBody } from "./codec.js";
import { loadConnectionSettings, type AmqpConfig } from "./connection.js";
import { declareExchanges, topologyNames, type TopologyNames } from "./topology.js";

export interface FleetClientOptions {
  url: string;
  username?: string;
  password_file?: string;
  tls?: AmqpConfig["tls"];
  prefix?: string;
  /** Default time to wait for a final reply. */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Defaults to the connection's user: RabbitMQ refuses any other user_id. */
  user?: string | null;
  /** Absolute ms; also sent as the broker `expiration`. */
  deadline?: number;
  commandId?: string;
  idempotencyKey?: string;
  timeoutMs?: number;
  /** Called for an `accepted` reply of a long command. */
  onAccepted?: (r: ReplyBody) => void;
}

/** A wire event or snapshot as received. */
export interface WireEvent {
  routingKey: string;
  v: number;
  event_id: string;
  event_type: string;
  host: string;
  epoch: string;
  seq: number;
  time: string;
  payload: Record<string, unknown>;
}

interface Pending {
  resolve(r: ReplyBody): void;
  reject(e: Error): void;
  /** performance.now() after which the call fails with operation_timeout. */
  deadline: number;
  what: string;
  timeoutMs: number;
  onAccepted?: ((r: ReplyBody) => void) | undefined;
  /** Stays registered after a final reply: a broadcast gets one from every host (callAll()). */
  keep?: boolean;
}

/** What collectSnapshots() gathered: the latest snapshot per host, and the hosts that said no. */
export interface FleetSnapshots {
  snapshots: Map<string, WireEvent>;
  /** Final replies to host.resync other than `ok` (e.g. `rejected` forbidden), one per host. */
  refused: ReplyBody[];
}

/** How often unanswered calls are checked against their timeout (its precision). */
const SWEEP_MS = 50;

export class FleetClient {
  private readonly pending = new Map<string, Pending>();
  private replyQueue = "";
  /**
   * One timer for every call's timeout: a timer per call cost more than the rest of the
   * client's work on the round trip. Unref'd: the open connection keeps the process alive.
   */
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();

  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: Channel,
    readonly names: TopologyNames,
    readonly username: string,
    private readonly timeoutMs: number,
  ) {}

  /** @throws AgentError config errors; operation_failed when the broker is unreachable. */
  static async connect(o: FleetClientOptions): Promise<FleetClient> {
    const s = loadConnectionSettings({ url: o.url, username: o.username ?? "guest", password_file: o.password_file, tls: o.tls, heartbeat_s: 15, reconnect_max_ms: 1000 });
    let conn: ChannelModel;
    try {
      conn = await connect(s.target, s.socket);
    } catch (e) {
      throw new AgentError("operation_failed", `cannot connect to ${s.display}: ${(e as Error).message}`, { component: "amqp", cause: e });
    }
    conn.on("error", () => undefined); // a close follows; pending calls fail then
    const ch = await conn.createChannel();
    const names = topologyNames(o.prefix ?? "virtbus", "_");
    await declareExchanges(ch, names);
    const client = new FleetClient(conn, ch, names, s.target.username ?? "guest", o.timeoutMs ?? 30_000);
    await client.openReplyQueue();
    conn.on("close", () => client.failAll(new AgentError("operation_failed", "broker connection closed", { component: "amqp" })));
    ch.on("return", (m: ConsumeMessage) => client.onReturn(m));
    return client;
  }

  private async openReplyQueue(): Promise<void> {
    const q = await this.ch.assertQueue("", { exclusive: true, autoDelete: true, durable: false });
    this.replyQueue = q.queue;
    await this.ch.bindQueue(q.queue, this.names.reply, q.queue);
    await this.ch.consume(q.queue, (m) => m && this.onReply(m), { noAck: true });
  }

  /** Sends a command and resolves with its final reply, whatever its status. */
  call(host: string, op: string, args: Record<string, unknown> = {}, o: CallOptions = {}): Promise<ReplyBody> {
    const commandId = o.commandId ?? randomUUID();
    const body = envelope(commandId, host, op, args, o);
    return new Promise((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? this.timeoutMs;
      this.pending.set(commandId, { resolve, reject, deadline: performance.now() + timeoutMs, what: `${op} from ${host}`, timeoutMs, onAccepted: o.onAccepted });
      this.publishCommand(host, commandId, body, o);
    });
  }

  /**
   * Sends one command to `host` ("*": every agent on the bus) and gathers the final replies:
   * until `quietMs` after the first one, or `windowMs` when none comes. A broadcast has no
   * fixed number of answers, so a pause after the first stands for "everyone has answered".
   */
  callAll(host: string, op: string, args: Record<string, unknown>, windowMs: number, quietMs = 300): Promise<ReplyBody[]> {
    const commandId = randomUUID();
    const replies: ReplyBody[] = [];
    return new Promise((resolve) => {
      let quiet: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(quiet);
        this.pending.delete(commandId);
        resolve(replies);
      };
      const onReply = (r: ReplyBody): void => {
        replies.push(r);
        quiet ??= setTimeout(done, quietMs);
      };
      this.pending.set(commandId, { resolve: onReply, reject: done, deadline: performance.now() + windowMs, what: `${op} from ${host}`, timeoutMs: windowMs, keep: true });
      this.publishCommand(host, commandId, envelope(commandId, host, op, args, {}), {});
    });
  }

  /** Like call() but returns the result of an `ok` and throws AgentError for anything else. */
  async invoke(host: string, op: string, args: Record<string, unknown> = {}, o: CallOptions = {}): Promise<unknown> {
    const r = await this.call(host, op, args, o);
    if (r.status === "ok") return r.result;
    const code = r.error && isErrorCode(r.error.code) ? r.error.code : "internal";
    throw new AgentError(code, r.error?.message ?? `command ${r.status}`, { component: "amqp", details: { status: r.status } });
  }

  private publishCommand(host: string, commandId: string, body: unknown, o: CallOptions): void {
    const user = o.user === undefined ? this.username : o.user;
    const ttl = o.deadline === undefined ? undefined : Math.max(1, o.deadline - Date.now());
    const props: Options.Publish = {
      contentType: "application/json",
      messageId: commandId,
      correlationId: commandId,
      replyTo: this.replyQueue,
      timestamp: Math.floor(Date.now() / 1000),
      type: "command",
      appId: "virtbus-client",
      persistent: true,
      // Unroutable (no agent has that host id) comes back at once, instead of a silent drop
      // that the caller would only learn of from its timeout.
      mandatory: true,
    };
    if (user !== null) props.userId = user;
    if (ttl !== undefined) props.expiration = String(ttl);
    this.ch.publish(this.names.cmd, host === "*" ? this.names.allKey : `host.${host}`, Buffer.from(JSON.stringify(body)), props);
  }

  /** A command the broker could not route: no agent on the bus serves its host id. */
  private onReturn(m: ConsumeMessage): void {
    const id = typeof m.properties.messageId === "string" ? m.properties.messageId : "";
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const key = m.fields.routingKey;
    const who = key === this.names.allKey ? "no agent is on the bus" : `no agent with host id "${key.replace(/^host\./, "")}" is on the bus`;
    p.reject(new AgentError("operation_failed", `${p.what}: ${who} (the broker could not route the command to any queue)`, { component: "amqp" }));
  }

  private onReply(m: ConsumeMessage): void {
    let r: ReplyBody;
    try {
      r = JSON.parse(m.content.toString("utf8")) as ReplyBody;
    } catch {
      return;
    }
    const id = r.in_reply_to ?? (typeof m.properties.correlationId === "string" ? m.properties.correlationId : "");
    const p = this.pending.get(id);
    if (!p) return;
    if (r.status === "accepted") return void p.onAccepted?.(r);
    if (!p.keep) this.pending.delete(id);
    p.resolve(r);
  }

  /** Follows events (`ev.<host>.#` patterns) and/or snapshots (`st.*.snapshot`) until the returned stop(). */
  async subscribe(bindings: { exchange: "events" | "state"; pattern: string }[], onEvent: (e: WireEvent) => void): Promise<() => Promise<void>> {
    const ch = await this.conn.createChannel();
    const q = await ch.assertQueue("", { exclusive: true, autoDelete: true, durable: false });
    for (const b of bindings) await ch.bindQueue(q.queue, b.exchange === "events" ? this.names.events : this.names.state, b.pattern);
    const { consumerTag } = await ch.consume(q.queue, (m) => {
      if (!m) return;
      try {
        onEvent({ routingKey: m.fields.routingKey, ...(JSON.parse(m.content.toString("utf8")) as Omit<WireEvent, "routingKey">) });
      } catch {
        // not ours to judge: a foreign or broken message on a topic we listen to
      }
    }, { noAck: true });
    return async () => {
      await ch.cancel(consumerTag).catch(() => undefined);
      await ch.close().catch(() => undefined);
    };
  }

  /** Asks every agent (or `hosts`) for a snapshot and collects the newest one per host for `waitMs`. */
  async collectSnapshots(waitMs: number, hosts: string[] = ["*"]): Promise<FleetSnapshots> {
    const latest = new Map<string, WireEvent>();
    const stop = await this.subscribe([{ exchange: "state", pattern: "st.*.snapshot" }], (e) => {
      const prev = latest.get(e.host);
      if (!prev || prev.epoch !== e.epoch || prev.seq < e.seq) latest.set(e.host, e);
    });
    const refused: ReplyBody[] = [];
    try {
      const replies = (await Promise.all(hosts.map((h) => this.callAll(h, "host.resync", {}, waitMs)))).flat();
      refused.push(...replies.filter((r) => r.status !== "ok"));
      // A host's snapshot follows its reply through the outbox: give the stragglers a moment.
      const answered = replies.filter((r) => r.status === "ok").map((r) => r.host);
      for (let t = 0; t < Math.min(waitMs, 300) && answered.some((h) => !latest.has(h)); t += 20) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await stop();
    }
    return { snapshots: latest, refused };
  }

  private sweep(): void {
    if (this.pending.size === 0) return;
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (now < p.deadline) continue;
      this.pending.delete(id);
      p.reject(new AgentError("operation_timeout", `no reply to ${p.what} within ${p.timeoutMs} ms`, { component: "amqp" }));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.failAll(new AgentError("operation_failed", "client closed", { component: "amqp" }));
    await this.conn.close().catch(() => undefined);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** A command's wire body (DESIGN.md §4): `domain`/`network` args become the target. */
function envelope(commandId: string, host: string, op: string, args: Record<string, unknown>, o: CallOptions): Record<string, unknown> {
  const target: Record<string, string> = { host };
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if ((k === "domain" || k === "network") && typeof v === "string") target[k] = v;
    else rest[k] = v;
  }
  const body: Record<string, unknown> = { v: WIRE_VERSION, command_id: commandId, op, target, args: rest, issued_at: new Date().toISOString() };
  if (o.deadline) body["deadline"] = o.deadline;
  if (o.idempotencyKey) body["idempotency_key"] = o.idempotencyKey;
  return body;
}

/** Follows (epoch, seq) per host: reports gaps, and drops repeats (at-least-once delivery). */
export class SeqTracker {
  private readonly last = new Map<string, { epoch: string; seq: number }>();

  /** `gap` is the number of missing seqs before this one; `repeat` means already seen. */
  observe(e: Pick<WireEvent, "host" | "epoch" | "seq">): { gap: number; repeat: boolean; newEpoch: boolean } {
    const prev = this.last.get(e.host);
    if (!prev || prev.epoch !== e.epoch) {
      this.last.set(e.host, { epoch: e.epoch, seq: e.seq });
      return { gap: 0, repeat: false, newEpoch: prev !== undefined };
    }
    if (e.seq <= prev.seq) return { gap: 0, repeat: true, newEpoch: false };
    const gap = e.seq - prev.seq - 1;
    prev.seq = e.seq;
    return { gap, repeat: false, newEpoch: false };
  }
}
