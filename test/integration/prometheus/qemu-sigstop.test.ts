import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/core/log.js";
import { StatsCollector } from "../../../agent/control/stats-collector.js";
import type { Services } from "../../../agent/control/types.js";
import { PrometheusExporter } from "../../../agent/exporters/prometheus/exporter.js";
import { guestXml, makeDriver, type DriverFixture } from "../qemu/driver-fixture.js";
import { makeTempDirs, PidTracker, requireQemu, type TempDirs } from "../qemu/helpers.js";
import { parseExposition, valueOf, type Samples } from "../../unit/exporters/prometheus/exposition.js";
import { requireTool } from "./tools.js";

const DEADLINE_MS = 500;

describe("Prometheus scrape with real QEMU guests, one frozen with SIGSTOP", () => {
  let dirs: TempDirs;
  let fx: DriverFixture;
  let collector: StatsCollector;
  let exporter: PrometheusExporter;
  const pids = new PidTracker();
  const frozen: number[] = [];

  beforeAll(async () => {
    requireQemu();
    await requireTool("promtool", "prometheus");
    dirs = makeTempDirs("vb-prom-");
    fx = makeDriver(dirs);
    await fx.driver.open();
    for (const name of ["prom-frozen", "prom-alive"]) {
      const { view } = await fx.driver.defineDomain(guestXml(name));
      pids.add((await fx.driver.startDomain(view.uuid)).pid);
    }
    const log = silentLogger();
    const services: Services = { hypervisor: fx.driver, store: fx.store, bus: fx.bus, log, hostId: "promtest", version: "0.0.0-test", startedAt: Date.now() };
    collector = new StatsCollector({ services, config: { interval_ms: 5000, deadline_ms: DEADLINE_MS, freshness_ms: 0 }, log });
    exporter = new PrometheusExporter({ services, config: { enabled: true, listen: "127.0.0.1:0", stats: collector.config }, log, collector });
    await collector.start();
    await exporter.start();
  }, 60_000);

  afterAll(async () => {
    for (const pid of frozen) process.kill(pid, "SIGCONT");
    await exporter?.stop();
    await collector?.stop();
    for (const d of fx?.store.listDomains() ?? []) await fx.driver.destroyDomain(d.uuid).catch(() => undefined);
    await fx?.driver.close();
    pids.killAll();
    dirs?.cleanup();
  });

  async function timedScrape(): Promise<{ ms: number; text: string; s: Samples }> {
    const t0 = performance.now();
    const res = await fetch(`${exporter.address.url}/metrics`);
    const text = await res.text();
    const ms = performance.now() - t0;
    expect(res.status).toBe(200);
    return { ms, text, s: parseExposition(text) };
  }

  it("promtool check metrics passes on a scrape of running QEMU guests", async () => {
    const { text, s } = await timedScrape();
    expect(valueOf(s, "virtbus_domain_stats_up", { domain: "prom-alive" })).toBe(1);
    expect(valueOf(s, "libvirt_domain_info_cpu_time_seconds_total", { domain: "prom-alive" })).toBeGreaterThan(0);
    const res = await execa("promtool", ["check", "metrics"], { input: text, reject: false });
    expect(`${res.stdout}${res.stderr}`).toBe("");
    expect(res.exitCode).toBe(0);
  });

  it("a SIGSTOPped guest is served within the deadline with stats_up 0 and a growing age while the other stays fresh", async () => {
    const first = await timedScrape();
    expect(valueOf(first.s, "virtbus_domain_stats_up", { domain: "prom-frozen" })).toBe(1);
    const pid = fx.store.findDomain("prom-frozen")?.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, "SIGSTOP");
    frozen.push(pid!);
    const ages: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { ms, s } = await timedScrape();
      times.push(ms);
      expect(valueOf(s, "virtbus_domain_stats_up", { domain: "prom-frozen" })).toBe(0);
      expect(valueOf(s, "virtbus_domain_stats_up", { domain: "prom-alive" })).toBe(1);
      expect(valueOf(s, "virtbus_domain_stats_age_seconds", { domain: "prom-alive" })).toBeLessThan(1);
      // The frozen guest's last good values are still served.
      expect(valueOf(s, "libvirt_domain_info_cpu_time_seconds_total", { domain: "prom-frozen" })).toBeGreaterThan(0);
      ages.push(valueOf(s, "virtbus_domain_stats_age_seconds", { domain: "prom-frozen" }) ?? -1);
    }
    console.log(`scrape ms with a frozen guest: ${times.map((t) => t.toFixed(1)).join(", ")}; frozen ages s: ${ages.join(", ")}`);
    for (const t of times) expect(t).toBeLessThan(DEADLINE_MS + 400);
    expect(ages[1]).toBeGreaterThan(ages[0] ?? 0);
    expect(ages[2]).toBeGreaterThan(ages[1] ?? 0);
    process.kill(pid!, "SIGCONT");
    frozen.splice(frozen.indexOf(pid!), 1);
  }, 30_000);
});
