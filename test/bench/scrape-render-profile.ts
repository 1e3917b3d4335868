/**
 * Profiles /metrics text building alone (fake driver, no QEMU, stats served from one round):
 * BENCH_GUESTS guests, 200 scrapes, the first 20 dropped. Run with `node --import tsx
 * --cpu-prof` to see where the time goes (prom-client's registry.metrics(), at 50 guests).
 */
import { StatsCollector } from "../../agent/control/stats-collector.js";
import { PrometheusExporter } from "../../agent/exporters/prometheus/exporter.js";
import { makeHarness } from "../helpers/harness.js";
import { summarise } from "./lib.js";

const guests = Number(process.env["BENCH_GUESTS"] ?? 50);
const h = await makeHarness({ demoDomains: guests });
const c = new StatsCollector({ services: h.services, config: { interval_ms: 3_600_000, deadline_ms: 500 }, log: h.services.log });
await c.start();
const ex = new PrometheusExporter({ services: h.services, config: { enabled: true, listen: "127.0.0.1:0", stats: c.config }, log: h.services.log, collector: c });
const ms: number[] = [];
let bytes = 0;
for (let i = 0; i < 200; i++) {
  const t0 = performance.now();
  bytes = (await ex.scrape()).length;
  ms.push(performance.now() - t0);
}
await c.stop();
process.stdout.write(`render ${guests} guests: ${JSON.stringify(summarise(ms.slice(20)))} bytes=${bytes}\n`);
