/**
 * Scrape-time series: gauges and counters whose every sample is recomputed from the state
 * store in prom-client's collect() hook, so series of a removed guest disappear on the next
 * scrape and a scrape never calls a driver.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DomainStats, DomainView } from "../../core/state-store.js";
import type { GuestStatsStatus, RoundSummary } from "../../control/stats-collector.js";

export type Labels = Record<string, string>;
export type Sample = readonly [Labels, number];

/** One guest as a scrape sees it. `stats` is only set when it belongs to the guest's current run. */
export interface GuestRow {
  view: DomainView;
  stats?: DomainStats;
  status?: GuestStatsStatus;
  ageSeconds?: number;
}

/** Everything the collect() hooks read, taken once per scrape. */
export interface ScrapeView {
  now: number;
  rows: GuestRow[];
  round?: RoundSummary;
}

export type ViewSource = () => ScrapeView;

interface SeriesSpec {
  name: string;
  help: string;
  labelNames: readonly string[];
  samples: () => Iterable<Sample>;
}

/** A gauge whose samples are replaced on every scrape. */
export function scrapeGauge(registry: Registry, spec: SeriesSpec): Gauge<string> {
  return new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of spec.samples()) if (Number.isFinite(value)) this.set(labels, value);
    },
  });
}

/**
 * A counter whose samples are the driver's cumulative values (CPU ns, bytes). The driver
 * owns monotonicity; a guest restart is a counter reset, which rate() handles.
 */
export function scrapeCounter(registry: Registry, spec: SeriesSpec): Counter<string> {
  return new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of spec.samples()) if (Number.isFinite(value) && value >= 0) this.inc(labels, value);
    },
  });
}

/** Samples of rows that have stats, one per row. */
export function perStats(view: ViewSource, pick: (s: DomainStats, row: GuestRow) => number | undefined): () => Sample[] {
  return () => {
    const out: Sample[] = [];
    for (const row of view().rows) {
      if (!row.stats) continue;
      const v = pick(row.stats, row);
      if (v !== undefined) out.push([{ domain: row.view.name }, v]);
    }
    return out;
  };
}

/** Samples of every guest, one per row. */
export function perGuest(view: ViewSource, pick: (row: GuestRow) => number | undefined): () => Sample[] {
  return () => {
    const out: Sample[] = [];
    for (const row of view().rows) {
      const v = pick(row);
      if (v !== undefined) out.push([{ domain: row.view.name }, v]);
    }
    return out;
  };
}

/** Samples of a per-device list (vCPUs, disks, NICs) of every row with stats. */
export function perItem<T>(view: ViewSource, items: (s: DomainStats) => readonly T[], labels: (item: T) => Labels, pick: (item: T) => number | undefined): () => Sample[] {
  return () => {
    const out: Sample[] = [];
    for (const row of view().rows) {
      if (!row.stats) continue;
      for (const item of items(row.stats)) {
        const v = pick(item);
        if (v !== undefined) out.push([{ domain: row.view.name, ...labels(item) }, v]);
      }
    }
    return out;
  };
}
