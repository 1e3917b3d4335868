/**
 * Collects per-guest stats from the hypervisor driver into the state store, so that a
 * scrape, an SNMP GET or an AMQP snapshot never waits on a guest.
 *
 * Every active guest is asked in parallel and raced against a per-guest deadline. A guest
 * that misses it keeps its last good values in the store and is reported down with the
 * age of those values. At most one driver call per guest is in flight: a hung QEMU costs
 * one pending promise, not one per round (the Debian exporter stalls 30-50 s on one frozen
 * guest because it asks them in series without a deadline; DESIGN.md §6).
 */
import type { Logger } from "pino";
import type { Component } from "../core/component.js";
import type { AgentConfig } from "../core/config-types.js";
import { isActive } from "../model/state.js";
import type { Services } from "./types.js";

export type StatsCollectorConfig = AgentConfig["prometheus"]["stats"];

/** What the collector knows about one guest's last collection. */
export interface GuestStatsStatus {
  uuid: string;
  /** The last attempt returned stats within the deadline. */
  up: boolean;
  lastAttemptAt: number;
  /** Wall-clock ms of the stats now in the store (absent: never collected in this run). */
  lastSuccessAt?: number;
  consecutiveMisses: number;
  lastError?: string;
}

/** Numbers about the last collection round (node_exporter's collector duration/success). */
export interface RoundSummary {
  startedAt: number;
  durationMs: number;
  guests: number;
  ok: number;
  missed: number;
}

export interface StatsCollectorOptions {
  services: Services;
  config: StatsCollectorConfig;
  log: Logger;
}

const TIMED_OUT = Symbol("timed out");

export class StatsCollector implements Component {
  readonly name = "stats-collector";
  private readonly statuses = new Map<string, GuestStatsStatus>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private round: Promise<RoundSummary> | undefined;
  private last: RoundSummary | undefined;
  private roundsTotal = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly opts: StatsCollectorOptions) {}

  get config(): StatsCollectorConfig {
    return this.opts.config;
  }

  get lastRound(): RoundSummary | undefined {
    return this.last;
  }

  get rounds(): number {
    return this.roundsTotal;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.collect();
    this.timer = setInterval(() => void this.collect(), this.opts.config.interval_ms);
    // The interval must not keep the process alive on its own (stop() is the normal path).
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** The status of one guest, or undefined when it is not active or never collected. */
  status(uuid: string): GuestStatsStatus | undefined {
    return this.statuses.get(uuid);
  }

  /** Seconds since the stats in the store were collected; undefined when there are none. */
  ageSeconds(uuid: string, now = Date.now()): number | undefined {
    const at = this.statuses.get(uuid)?.lastSuccessAt;
    return at === undefined ? undefined : Math.max(0, now - at) / 1000;
  }

  /**
   * The longest a scrape serves a round without collecting: `freshness_ms`, or when absent the
   * background period plus one deadline (the round due now may still be running), so that in
   * steady state a scrape serves the latest background round and never waits on QEMU.
   */
  get freshnessMs(): number {
    const c = this.opts.config;
    return c.freshness_ms ?? c.interval_ms + c.deadline_ms;
  }

  /**
   * Makes the stats at most `freshnessMs` old, collecting a round if needed (or joining the
   * one running). Settles within about `deadline_ms` however many guests hang (a scrape awaits this).
   */
  async refresh(now = Date.now()): Promise<void> {
    const fresh = this.freshnessMs;
    // 0 collects on every scrape, including a second one within the same millisecond.
    if (this.last && fresh > 0 && now - this.last.startedAt <= fresh) return;
    await this.collect();
  }

  /** Runs one round over every active guest; joins the round already running, if any. */
  collect(): Promise<RoundSummary> {
    if (!this.round) {
      this.round = this.runRound().finally(() => {
        this.round = undefined;
      });
    }
    return this.round;
  }

  private async runRound(): Promise<RoundSummary> {
    const startedAt = Date.now();
    const active = this.opts.services.store.listDomains().filter((d) => isActive(d.state));
    this.forgetInactive(new Set(active.map((d) => d.uuid)));
    const results = await Promise.all(active.map((d) => this.collectOne(d.uuid, d.startedAt)));
    const ok = results.filter(Boolean).length;
    const summary: RoundSummary = { startedAt, durationMs: Date.now() - startedAt, guests: active.length, ok, missed: active.length - ok };
    this.last = summary;
    this.roundsTotal++;
    return summary;
  }

  /** Drops the status of guests that stopped or were removed, so their series disappear. */
  private forgetInactive(active: ReadonlySet<string>): void {
    for (const uuid of this.statuses.keys()) if (!active.has(uuid)) this.statuses.delete(uuid);
  }

  private async collectOne(uuid: string, startedAt: number | undefined): Promise<boolean> {
    const now = Date.now();
    const prev = this.statuses.get(uuid);
    // Values from an earlier run of the guest must not be served as this run's.
    const keep = prev && (startedAt === undefined || (prev.lastSuccessAt ?? 0) >= startedAt) ? prev : undefined;
    const status: GuestStatsStatus = { uuid, up: false, lastAttemptAt: now, consecutiveMisses: (keep?.consecutiveMisses ?? 0) + 1 };
    if (keep?.lastSuccessAt !== undefined) status.lastSuccessAt = keep.lastSuccessAt;
    const outcome = await this.callDriver(uuid, now + this.opts.config.deadline_ms);
    if (typeof outcome === "string") {
      status.lastError = outcome;
      this.statuses.set(uuid, status);
      if (status.consecutiveMisses === 1) this.opts.log.warn({ domain: uuid, reason: outcome }, "stats collection missed");
      return false;
    }
    this.opts.services.store.setStats(outcome);
    this.statuses.set(uuid, { uuid, up: true, lastAttemptAt: now, lastSuccessAt: outcome.collectedAt, consecutiveMisses: 0 });
    return true;
  }

  /** Resolves with the stats, or with a reason string on error, timeout or a call still pending. */
  private async callDriver(uuid: string, deadlineMs: number): Promise<Awaited<ReturnType<Services["hypervisor"]["getDomainStats"]>> | string> {
    // The driver also fails at once while QEMU has not answered an earlier request (see
    // drivers/qemu/stats.ts); this guard covers drivers without that check.
    if (this.inFlight.has(uuid)) return "previous stats call still pending";
    const call = this.opts.services.hypervisor.getDomainStats(uuid, deadlineMs);
    const tracked = call.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.set(uuid, tracked);
    void tracked.then(() => this.inFlight.delete(uuid));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadlineMs - Date.now()));
    });
    try {
      const res = await Promise.race([call, timeout]);
      return res === TIMED_OUT ? `no answer within ${this.opts.config.deadline_ms} ms` : res;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True while start() has run and stop() has not. */
  get isRunning(): boolean {
    return this.running;
  }
}
