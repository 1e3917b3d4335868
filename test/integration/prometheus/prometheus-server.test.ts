import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatsCollector } from "../../../agent/control/stats-collector.js";
import { PrometheusExporter } from "../../../agent/exporters/prometheus/exporter.js";
import { makeHarness } from "../../helpers/harness.js";
import { freePort, requireTool } from "./tools.js";

let collector: StatsCollector;
let exporter: PrometheusExporter;
let prom: ResultPromise | undefined;
let promUrl = "";
const dir = mkdtempSync(join(tmpdir(), "virtbus-prom-server-"));

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`prometheus not ready at ${url} after ${timeoutMs} ms`);
}

beforeAll(async () => {
  await requireTool("prometheus", "prometheus");
  const h = await makeHarness({ demoDomains: 2 });
  for (const d of h.store.listDomains()) if (d.state !== "running") await h.fake.startDomain(d.uuid);
  collector = new StatsCollector({ services: h.services, config: { interval_ms: 1000, deadline_ms: 500, freshness_ms: 500 }, log: h.services.log });
  exporter = new PrometheusExporter({ services: h.services, config: { enabled: true, listen: "127.0.0.1:0", stats: collector.config }, log: h.services.log, collector });
  await collector.start();
  await exporter.start();
  const port = await freePort();
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: virtbus\n    static_configs:\n      - targets: ["127.0.0.1:${exporter.address.port}"]\n`,
  );
  promUrl = `http://127.0.0.1:${port}`;
  prom = execa("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { reject: false, cleanup: true });
  await waitReady(promUrl, 20_000);
}, 40_000);

afterAll(async () => {
  if (prom) {
    prom.kill("SIGTERM");
    await prom;
  }
  await exporter?.stop();
  await collector?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  expect(body.status).toBe("success");
  return body.data.result;
}

async function pollSeries(expr: string, pred: (n: number) => boolean, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < until) {
    const r = await query(expr);
    last = r[0] ? Number(r[0].value[1]) : undefined;
    if (last !== undefined && pred(last)) return last;
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`${expr} did not satisfy the condition within ${timeoutMs} ms (last ${String(last)})`);
}

describe("a real Prometheus server", () => {
  it("scrapes the agent and serves a guest's CPU series back through its HTTP API", async () => {
    await pollSeries('up{job="virtbus"}', (v) => v === 1, 15_000);
    const first = await pollSeries('libvirt_domain_info_cpu_time_seconds_total{domain="demo-1"}', (v) => v >= 0, 15_000);
    const later = await pollSeries('libvirt_domain_info_cpu_time_seconds_total{domain="demo-1"}', (v) => v > first, 15_000);
    expect(later).toBeGreaterThan(first);
    const series = await query('libvirt_domain_info_cpu_time_seconds_total{domain="demo-2"}');
    expect(series[0]?.metric).toMatchObject({ job: "virtbus", domain: "demo-2" });
  });

  it("sees a positive CPU rate, so the counter is monotonic as Prometheus stores it", async () => {
    const rate = await pollSeries('rate(libvirt_domain_info_cpu_time_seconds_total{domain="demo-1"}[5s])', (v) => v > 0, 15_000);
    expect(rate).toBeGreaterThan(0);
    const resets = await query('resets(libvirt_domain_info_cpu_time_seconds_total{domain="demo-1"}[1m])');
    expect(Number(resets[0]?.value[1])).toBe(0);
  });
});
