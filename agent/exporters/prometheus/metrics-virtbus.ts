/**
 * virtbus_* series the libvirt exporters do not have (DESIGN.md §6): build info, the stats
 * collector's own health, per-guest stats freshness, state with reason, boot time, QMP
 * latency, lifecycle event and command counts (from the bus), and component health
 * numbers published in the state store.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { EventBus } from "../../core/bus.js";
import type { StateStore } from "../../core/state-store.js";
import { DOMAIN_STATES, LIFECYCLE_EVENTS } from "../../model/state.js";
import { perGuest, perItem, scrapeCounter, scrapeGauge, type ViewSource } from "./series.js";

export interface BuildInfo {
  version: string;
  hypervisorDriver: string;
  hypervisorVersion: string;
  startedAt: number;
}

const COLLECTOR = "domain_stats";
const METRIC_NAME = /^[a-z_][a-z0-9_]*$/;

export function registerVirtbusMetrics(registry: Registry, view: ViewSource, build: BuildInfo): void {
  registerBuild(registry, build);
  registerCollector(registry, view);
  registerGuestState(registry, view);
}

function registerBuild(registry: Registry, build: BuildInfo): void {
  const info = new Gauge({
    name: "virtbus_build_info",
    help: "virtbus build and hypervisor driver; the value is always 1.",
    labelNames: ["version", "nodejs_version", "hypervisor_driver", "hypervisor_version"],
    registers: [registry],
  });
  info.set({ version: build.version, nodejs_version: process.versions.node, hypervisor_driver: build.hypervisorDriver, hypervisor_version: build.hypervisorVersion }, 1);
  new Gauge({ name: "virtbus_start_time_seconds", help: "When the agent started, in seconds since the epoch.", registers: [registry] }).set(build.startedAt / 1000);
}

function registerCollector(registry: Registry, view: ViewSource): void {
  const round = () => view().round;
  scrapeGauge(registry, {
    name: "virtbus_scrape_collector_duration_seconds",
    help: "Duration of the last stats round, in seconds (bounded by the per-guest deadline).",
    labelNames: ["collector"],
    samples: () => [[{ collector: COLLECTOR }, (round()?.durationMs ?? 0) / 1000]],
  });
  scrapeGauge(registry, {
    name: "virtbus_scrape_collector_success",
    help: "1 when every active guest answered within its deadline in the last stats round.",
    labelNames: ["collector"],
    samples: () => [[{ collector: COLLECTOR }, round()?.missed ? 0 : 1]],
  });
  scrapeGauge(registry, {
    name: "virtbus_domain_stats_up",
    help: "1 when the guest's last stats collection succeeded within the deadline.",
    labelNames: ["domain"],
    samples: perGuest(view, (r) => (r.status ? Number(r.status.up) : undefined)),
  });
  scrapeGauge(registry, {
    name: "virtbus_domain_stats_age_seconds",
    help: "Age of the guest's stats values served now, in seconds.",
    labelNames: ["domain"],
    samples: perGuest(view, (r) => r.ageSeconds),
  });
}

function registerGuestState(registry: Registry, view: ViewSource): void {
  scrapeGauge(registry, {
    name: "virtbus_domain_state",
    help: "1 for the guest's current libvirt state (the reason label is set on that series), 0 for the others.",
    labelNames: ["domain", "state", "reason"],
    samples: () =>
      view().rows.flatMap((r) =>
        DOMAIN_STATES.map((s) => [{ domain: r.view.name, state: s, reason: s === r.view.state ? r.view.reason : "" }, s === r.view.state ? 1 : 0] as const),
      ),
  });
  scrapeGauge(registry, {
    name: "virtbus_domains",
    help: "Number of defined guests by state.",
    labelNames: ["state"],
    samples: () => DOMAIN_STATES.map((s) => [{ state: s }, view().rows.filter((r) => r.view.state === s).length] as const),
  });
  scrapeGauge(registry, {
    name: "virtbus_domain_boot_time_seconds",
    help: "When the guest's current process started, in seconds since the epoch.",
    labelNames: ["domain"],
    samples: perGuest(view, (r) => (r.view.startedAt === undefined ? undefined : r.view.startedAt / 1000)),
  });
  scrapeGauge(registry, {
    name: "virtbus_domain_qmp_latency_seconds",
    help: "Round-trip time of the last QMP command of the stats collection, in seconds.",
    labelNames: ["domain"],
    samples: perGuest(view, (r) => (r.stats?.qmpLatencyMs === undefined ? undefined : r.stats.qmpLatencyMs / 1000)),
  });
  scrapeCounter(registry, {
    name: "virtbus_domain_block_errors_total",
    help: "Failed I/O operations on a block device.",
    labelNames: ["domain", "target_device"],
    samples: perItem(view, (s) => s.blocks, (b) => ({ target_device: b.device }), (b) => b.errors),
  });
}

/** Counters fed by bus events; they live as long as the exporter and only ever grow. */
export class EventMetrics {
  private readonly lifecycle: Counter<string>;
  private readonly commands: Counter<string>;
  private readonly durations: Histogram<string>;

  constructor(registry: Registry) {
    this.lifecycle = new Counter({ name: "virtbus_domain_lifecycle_events_total", help: "Domain lifecycle events by libvirt event type.", labelNames: ["event"], registers: [registry] });
    for (const e of LIFECYCLE_EVENTS) this.lifecycle.inc({ event: e }, 0);
    this.commands = new Counter({ name: "virtbus_commands_total", help: "Commands dispatched, by operation and result (ok or error code).", labelNames: ["op", "result"], registers: [registry] });
    this.durations = new Histogram({
      name: "virtbus_command_duration_seconds",
      help: "Command execution time, by operation and result.",
      labelNames: ["op", "result"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    });
  }

  attach(bus: EventBus, owner: string): void {
    bus.on(owner, "domain.lifecycle", (ev) => this.lifecycle.inc({ event: ev.payload.event }));
    bus.on(owner, "command.audit", (ev) => {
      const labels = { op: ev.payload.op, result: ev.payload.result };
      this.commands.inc(labels);
      this.durations.observe(labels, Math.max(0, ev.payload.durationMs) / 1000);
    });
  }
}

/**
 * Metrics for the store's health registry (virtbus_amqp_connected, virtbus_amqp_outbox_depth,
 * ...), created on first sight because components publish them at run time. A name ending in
 * `_total` is a running count and is exported as a counter, as Prometheus' naming rules (and
 * promtool) want; every other one is a gauge.
 */
export class HealthMetrics {
  private readonly known = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly store: StateStore,
  ) {}

  /** Registers a gauge for every health value not yet known; call before each scrape. */
  sync(): void {
    for (const h of this.store.listHealth()) {
      const name = `virtbus_${h.component}_${h.name}`;
      if (this.known.has(name) || !METRIC_NAME.test(name)) continue;
      this.known.add(name);
      const { component, name: key } = h;
      const store = this.store;
      const current = (): number | undefined => store.listHealth().find((x) => x.component === component && x.name === key)?.value;
      const help = h.help ?? `Health value ${key} published by the ${component} component.`;
      if (name.endsWith("_total")) {
        new Counter({
          name,
          help,
          registers: [this.registry],
          collect() {
            const v = current();
            if (v === undefined || v < 0) return;
            this.reset();
            this.inc(v);
          },
        });
      } else {
        new Gauge({
          name,
          help,
          registers: [this.registry],
          collect() {
            const v = current();
            if (v !== undefined) this.set(v);
          },
        });
      }
    }
  }
}
