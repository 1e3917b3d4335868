/**
 * One typed, synchronous event bus. Each subscriber runs in its own try/catch so a
 * faulty exporter can never stop a driver from reporting (zigbee2mqtt's rule).
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AgentEvents, EventEnvelope, EventName } from "./events.js";

type Handler<K extends EventName> = (ev: EventEnvelope<K>) => void;

interface Subscription {
  owner: string;
  name: EventName | "*";
  handler: (ev: EventEnvelope) => void;
}

export class EventBus {
  readonly epoch: string;
  private seq = 0;
  private subs: Subscription[] = [];

  constructor(
    private readonly log?: Logger,
    epoch: string = randomUUID(),
  ) {
    this.epoch = epoch;
  }

  get lastSeq(): number {
    return this.seq;
  }

  on<K extends EventName>(owner: string, name: K, handler: Handler<K>): void {
    this.subs.push({ owner, name, handler: handler as (ev: EventEnvelope) => void });
  }

  /** Subscribes to every event (used by transports that forward all of them). */
  onAny(owner: string, handler: (ev: EventEnvelope) => void): void {
    this.subs.push({ owner, name: "*", handler });
  }

  off(owner: string): void {
    this.subs = this.subs.filter((s) => s.owner !== owner);
  }

  emit<K extends EventName>(name: K, payload: AgentEvents[K]): EventEnvelope<K> {
    const ev: EventEnvelope<K> = { name, epoch: this.epoch, seq: ++this.seq, time: Date.now(), payload };
    for (const s of this.subs) {
      if (s.name !== name && s.name !== "*") continue;
      try {
        s.handler(ev as EventEnvelope);
      } catch (err) {
        this.log?.error({ err, owner: s.owner, event: name }, "event subscriber failed");
      }
    }
    return ev;
  }

  /** Resolves with the next event of `name` that matches `pred` (tests and CLI `event`). */
  waitFor<K extends EventName>(name: K, pred: (p: AgentEvents[K]) => boolean, timeoutMs: number): Promise<EventEnvelope<K>> {
    const owner = `waitFor:${randomUUID()}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(owner);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name}`));
      }, timeoutMs);
      this.on(owner, name, (ev) => {
        if (!pred(ev.payload)) return;
        clearTimeout(timer);
        this.off(owner);
        resolve(ev);
      });
    });
  }
}
