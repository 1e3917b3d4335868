/**
 * AmqpExporter: the agent's side of the datacenter bus. Commands in (through dispatch()),
 * replies, events and state snapshots out through a durable outbox. start() never waits
 * for the broker: the connection retries in the background while the outbox fills.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { ChannelModel, Options } from "amqplib";
import type { Logger } from "pino";
import type { Dispatcher } from "../../control/dispatch.js";
import type { Services } from "../../control/types.js";
import type { Component } from "../../core/component.js";
import type { EventEnvelope } from "../../core/events.js";
import { eventRoutingKey, toWireKeys, WIRE_VERSION, type ReplyCore } from "./codec.js";
import { BusConnection, loadConnectionSettings, type AmqpConfig } from "./connection.js";
import { CommandConsumer } from "./consumer.js";
import { IdempotencyStore } from "./idempotency.js";
import { Outbox, type NewRecord } from "./outbox.js";
import { Publisher } from "./publisher.js";
import { buildHeartbeat, buildSnapshot } from "./snapshot.js";
import { declareAgentTopology, topologyNames, type TopologyNames } from "./topology.js";

export interface AmqpExporterOptions {
  services: Services;
  dispatcher: Dispatcher;
  config: AmqpConfig;
  stateDir: string;
  log: Logger;
  /** The host boot id (tests simulate a reboot with it); read from /proc when absent. */
  bootId?: string;
}

/** What metrics read (virtbus_amqp_connected, virtbus_amqp_outbox_depth, ...). */
export interface AmqpHealth {
  connected: boolean;
  outboxDepth: number;
  published: number;
  confirmed: number;
  returned: number;
  dropped: number;
  commands: number;
  lastSeq: number;
}

const SUBSCRIBER = "amqp-exporter";

/** A record whose seq is fixed and whose body is built when the batch is written. */
interface PendingRecord {
  head: Pick<NewRecord, "exchange" | "routingKey" | "type">;
  seq: number;
  time: number;
  body: Record<string, unknown> | (() => Record<string, unknown>);
}

export class AmqpExporter implements Component {
  readonly name = "amqp";
  readonly names: TopologyNames;
  private readonly services: Services;
  private readonly cfg: AmqpConfig;
  private readonly log: Logger;
  private outbox: Outbox | undefined;
  private idem: IdempotencyStore | undefined;
  private publisher: Publisher | undefined;
  private consumer: CommandConsumer | undefined;
  private conn: BusConnection | undefined;
  private timers: NodeJS.Timeout[] = [];
  private seq = 0;
  /** Records with their seq assigned, written to the outbox in one batch per event-loop turn. */
  private pending: PendingRecord[] = [];
  private flushScheduled = false;
  private baseProps: Options.Publish = {};

  constructor(private readonly opts: AmqpExporterOptions) {
    this.services = opts.services;
    this.cfg = opts.config;
    this.log = opts.log;
    this.names = topologyNames(opts.config.prefix, opts.services.hostId);
  }

  get epoch(): string {
    return this.services.bus.epoch;
  }

  /** @throws AgentError config errors only (bad URL, unreadable password file); never for a down broker. */
  async start(): Promise<void> {
    const settings = loadConnectionSettings(this.cfg);
    const dir = join(this.opts.stateDir, "amqp");
    this.outbox = Outbox.open(join(dir, "outbox"), this.cfg.outbox_max_events);
    this.idem = IdempotencyStore.open(dir, this.cfg.idempotency_max, { volatileSyncMs: this.cfg.outbox_fsync_ms, ...(this.opts.bootId === undefined ? {} : { bootId: this.opts.bootId }) });
    this.baseProps = { contentType: "application/json", appId: `virtbus/${this.services.version}`, userId: this.cfg.username };
    this.publisher = new Publisher(this.outbox, this.names, this.cfg.confirm_window, this.baseProps, this.log);
    this.consumer = new CommandConsumer({
      dispatcher: this.opts.dispatcher,
      idem: this.idem,
      volatileSync: this.cfg.volatile_sync,
      hostId: this.services.hostId,
      log: this.log,
      buildReply: (inReplyTo, core) => this.buildReply(inReplyTo, core),
    });
    this.services.bus.onAny(SUBSCRIBER, (ev) => this.onEvent(ev));
    this.enqueueSnapshot("start");
    this.conn = new BusConnection(settings, { onUp: (c) => this.onUp(c), onDown: () => this.onDown() }, this.log);
    this.conn.start();
    this.startTimers();
  }

  /**
   * Clean shutdown: stop taking commands and answer the running ones, then publish what the
   * outbox holds and wait for its confirms (each step bounded by 2 s), then close. Closing
   * with confirms outstanding would fail them all ("channel closed"); what is still
   * unconfirmed stays in the outbox for the next start.
   */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.consumer?.drain(2000);
    this.services.bus.off(SUBSCRIBER);
    this.flush();
    await this.publisher?.drain(2000);
    this.publisher?.detach();
    await this.conn?.stop();
    this.outbox?.close();
    this.idem?.close();
    this.updateStoreHealth();
    this.outbox = undefined; // stop() twice is harmless
    this.idem = undefined;
  }

  health(): AmqpHealth {
    const c = this.publisher?.counters;
    return {
      connected: this.conn?.connected ?? false,
      outboxDepth: (this.outbox?.depth ?? 0) + this.pending.length,
      published: c?.published ?? 0,
      confirmed: c?.confirmed ?? 0,
      returned: c?.returned ?? 0,
      dropped: this.outbox?.droppedCount ?? 0,
      commands: this.consumer?.handled ?? 0,
      lastSeq: this.seq,
    };
  }

  /** Appends a full state snapshot to the outbox (seq assigned now). */
  enqueueSnapshot(reason: string): void {
    const body = buildSnapshot(this.services, this.epoch, this.seq + 1, reason);
    this.append({ exchange: "state", routingKey: `st.${this.services.hostId}.snapshot`, type: "host.snapshot" }, body);
  }

  private onEvent(ev: EventEnvelope): void {
    if (ev.name === "host.resync") {
      this.enqueueSnapshot("resync");
      return;
    }
    // Only the seq is taken now; the body is built in flush(), after a command's reply has
    // left (the audit event of every command would otherwise be serialised on its reply's
    // critical path). Event payloads are fresh objects of plain values, never mutated later.
    this.append({ exchange: "events", routingKey: eventRoutingKey(this.services.hostId, ev), type: ev.name }, () => this.eventBody(ev));
  }

  private eventBody(ev: EventEnvelope): Record<string, unknown> {
    const p = ev.payload as unknown as Record<string, unknown>;
    const body: Record<string, unknown> = {
      v: WIRE_VERSION,
      event_id: randomUUID(),
      event_type: ev.name,
      host: this.services.hostId,
      epoch: this.epoch,
      time: new Date(ev.time).toISOString(),
      payload: toWireKeys(p),
    };
    if (typeof p["causedBy"] === "string") body["caused_by"] = p["causedBy"];
    if (typeof p["requestedBy"] === "string") body["requested_by"] = p["requestedBy"];
    return body;
  }

  /**
   * The one place seq is assigned: contiguous per epoch across events and snapshots. The
   * record reaches the outbox (disk) and the broker just after this event-loop turn, in one
   * write for everything emitted in the turn: a burst costs one write(2), not one per event.
   * (Bus commands hand over their audit events in batches, see CommandConsumer.queueAudit().)
   */
  private append(head: Pick<NewRecord, "exchange" | "routingKey" | "type">, body: Record<string, unknown> | (() => Record<string, unknown>)): void {
    if (!this.outbox) return;
    this.seq++;
    this.pending.push({ head, seq: this.seq, time: Date.now(), body });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A later turn, so that a reply published in the turn that emitted the event (written on
    // the next tick, see inOneWrite()) leaves before the event is written to disk and
    // published; two turns also let frames amqplib itself defers (its own setImmediate) go first.
    setImmediate(() => setImmediate(() => this.flush()));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.outbox || this.pending.length === 0) return;
    const batch = this.pending.map((p): NewRecord => {
      const body = typeof p.body === "function" ? p.body() : p.body;
      const messageId = typeof body["event_id"] === "string" ? body["event_id"] : randomUUID();
      return { ...p.head, messageId, epoch: this.epoch, seq: p.seq, time: p.time, body: JSON.stringify({ ...body, event_id: messageId, seq: p.seq }) };
    });
    this.pending = [];
    this.outbox.appendMany(batch);
    this.publisher?.pump();
  }

  private async onUp(conn: ChannelModel): Promise<void> {
    const pub = await conn.createConfirmChannel();
    await declareAgentTopology(pub, this.names);
    // Plain channel: commands, their replies and acks (see CommandConsumer.settle()).
    const cmd = await conn.createChannel();
    // Any channel error (e.g. a bad user_id on a reply) closes just that channel in AMQP;
    // closing the connection makes the loop rebuild everything in a known order.
    for (const ch of [pub, cmd]) {
      ch.on("error", (err: Error) => this.log.warn({ err: { message: err.message } }, "amqp channel error"));
      ch.on("close", () => void conn.close().catch(() => undefined));
    }
    this.publisher!.attach(pub);
    await this.consumer!.attach(cmd, this.names.cmdQueue, this.cfg.concurrency);
    this.enqueueSnapshot("reconnect");
    this.updateStoreHealth();
  }

  private onDown(): void {
    this.publisher?.detach();
    this.updateStoreHealth();
  }

  private buildReply(inReplyTo: string | null, core: ReplyCore): { exchange: string; content: Buffer; props: Options.Publish } {
    const body = { v: WIRE_VERSION, in_reply_to: inReplyTo, ...core, host: this.services.hostId, epoch: this.epoch, seq: this.seq };
    const b = this.baseProps;
    const props: Options.Publish = { contentType: b.contentType, appId: b.appId, userId: b.userId, messageId: randomUUID(), timestamp: Math.floor(Date.now() / 1000), type: "command.reply" };
    if (inReplyTo !== null) props.correlationId = inReplyTo;
    return { exchange: this.names.reply, content: Buffer.from(JSON.stringify(body)), props };
  }

  private startTimers(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.cfg.outbox_fsync_ms, () => {
      this.outbox?.sync();
      this.updateStoreHealth();
    });
    if (this.cfg.snapshot_interval_s > 0) every(this.cfg.snapshot_interval_s * 1000, () => this.conn?.connected && this.enqueueSnapshot("periodic"));
    if (this.cfg.heartbeat_interval_s > 0) every(this.cfg.heartbeat_interval_s * 1000, () => this.sendHeartbeat());
  }

  private sendHeartbeat(): void {
    if (!this.conn?.connected) return;
    const body = buildHeartbeat(this.services, this.epoch, this.health());
    this.publisher?.sendTransient(this.names.state, `st.${this.services.hostId}.heartbeat`, body, { type: "host.heartbeat", timestamp: Math.floor(Date.now() / 1000) });
  }

  private updateStoreHealth(): void {
    const h = this.health();
    const s = this.services.store;
    s.setHealth("amqp", "connected", h.connected ? 1 : 0, "1 when the agent holds a working broker connection");
    s.setHealth("amqp", "outbox_depth", h.outboxDepth, "events stored on disk and not yet confirmed by the broker");
    s.setHealth("amqp", "events_published_total", h.published, "events and snapshots published (including resends)");
    s.setHealth("amqp", "events_confirmed_total", h.confirmed, "events and snapshots confirmed by the broker");
  }
}
