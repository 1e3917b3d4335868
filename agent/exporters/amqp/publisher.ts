/**
 * Publishes the outbox through a confirm channel with a window of outstanding confirms
 * (waiting for each confirm caps out near 1.2k msg/s; a window reaches 9-23k, DESIGN.md §4),
 * and sends heartbeats on the same channel. (Replies go out on the command channel.)
 */
import type { ConfirmChannel, Options } from "amqplib";
import type { Logger } from "pino";
import { inOneWrite } from "./connection.js";
import type { Outbox, OutboxRecord } from "./outbox.js";
import type { TopologyNames } from "./topology.js";

export interface PublisherCounters {
  published: number;
  confirmed: number;
  returned: number;
  nacked: number;
}

export class Publisher {
  readonly counters: PublisherCounters = { published: 0, confirmed: 0, returned: 0, nacked: 0 };
  private ch: ConfirmChannel | undefined;
  private inflight = 0;
  private blocked = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly names: TopologyNames,
    private readonly window: number,
    private readonly baseProps: Options.Publish,
    private readonly log: Logger,
  ) {}

  /** A fresh channel after (re)connect: every unconfirmed record is sent again, in order. */
  attach(ch: ConfirmChannel): void {
    this.ch = ch;
    this.inflight = 0;
    this.blocked = false;
    this.outbox.rewind();
    ch.on("return", () => this.counters.returned++);
    ch.on("drain", () => {
      this.blocked = false;
      this.pump();
    });
    this.pump();
  }

  detach(): void {
    this.ch = undefined;
    this.outbox.rewind();
  }

  /** Publishes outbox records while the confirm window has room, as one write to the socket. */
  pump(): void {
    const ch = this.ch;
    if (!ch || !this.canPublish() || !this.outbox.hasUnsent()) return;
    void inOneWrite(ch, () => {
      while (this.canPublish()) {
        const rec = this.outbox.nextUnsent();
        if (!rec) return;
        this.publishRecord(ch, rec);
      }
    });
  }

  /** The confirm window has room and the socket is not full. */
  private canPublish(): boolean {
    return !this.blocked && this.inflight < this.window;
  }

  /** Resolves once nothing is published-but-unconfirmed or unsent, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.ch && (this.inflight > 0 || this.outbox.hasUnsent()) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Fire-and-forget message (heartbeats): not stored, not retried. */
  sendTransient(exchange: string, routingKey: string, body: unknown, props: Options.Publish): void {
    this.ch?.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), { ...this.baseProps, ...props });
  }

  private publishRecord(ch: ConfirmChannel, rec: OutboxRecord): void {
    this.inflight++;
    this.counters.published++;
    const exchange = rec.exchange === "events" ? this.names.events : this.names.state;
    const props: Options.Publish = {
      ...this.baseProps,
      persistent: true,
      mandatory: true,
      messageId: rec.messageId,
      type: rec.type,
      timestamp: Math.floor(rec.time / 1000),
    };
    const ok = ch.publish(exchange, rec.routingKey, Buffer.from(rec.body), props, (err) => this.onConfirm(ch, rec, err));
    if (!ok) this.blocked = true; // socket buffer full: wait for 'drain'
  }

  private onConfirm(ch: ConfirmChannel, rec: OutboxRecord, err: Error | null): void {
    if (ch !== this.ch) return; // a confirm (or failure) from a channel already replaced
    this.inflight--;
    // amqplib fails every pending confirm with "channel closed" when the channel or the
    // connection closes (also at our own shutdown): not a nack. The record stays unconfirmed
    // in the outbox and is sent again after the reconnect.
    if (err && err.message !== "message nacked") return;
    if (err) {
      // The broker refused to take responsibility. Closing the channel makes the
      // connection loop rebuild it and resend everything unconfirmed, in order.
      this.counters.nacked++;
      this.log.warn({ seq: rec.seq }, "amqp: event nacked by the broker; rebuilding the channel");
      this.detach();
      void ch.close().catch(() => undefined);
      return;
    }
    this.counters.confirmed++;
    this.outbox.confirm(rec.pos);
    this.pump();
  }
}
