import { afterEach, describe, expect, it } from "vitest";
import { StatsCollector } from "../../../../agent/control/stats-collector.js";
import { PrometheusExporter, parseListen } from "../../../../agent/exporters/prometheus/exporter.js";
import { makeHarness, type Harness } from "../../../helpers/harness.js";
import { parseExposition, valueOf } from "./exposition.js";
import { sleep, useHangingFake, uuidOf, type HangingFake } from "./hanging-fake.js";

const stoppers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stoppers.splice(0).reverse()) await s();
});

async function setup(deadline_ms = 150): Promise<{ h: Harness; fake: HangingFake; c: StatsCollector; ex: PrometheusExporter }> {
  const h = await makeHarness({ demoDomains: 3 });
  const fake = await useHangingFake(h);
  const c = new StatsCollector({ services: h.services, config: { interval_ms: 60_000, deadline_ms, freshness_ms: 0 }, log: h.services.log });
  const ex = new PrometheusExporter({ services: h.services, config: { enabled: true, listen: "127.0.0.1:0", stats: c.config }, log: h.services.log, collector: c });
  stoppers.push(() => c.stop(), () => ex.stop());
  return { h, fake, c, ex };
}

describe("PrometheusExporter scrape", () => {
  it("exposes the libvirt exporter's names with a domain label on every guest series", async () => {
    const { ex } = await setup();
    const s = parseExposition(await ex.scrape());
    expect(valueOf(s, "libvirt_up")).toBe(1);
    expect(valueOf(s, "libvirt_domain_info_maximum_memory_bytes", { domain: "demo-2" })).toBe(131072 * 1024);
    expect(valueOf(s, "libvirt_domain_info_virtual_cpus", { domain: "demo-3" })).toBe(1);
    expect(valueOf(s, "libvirt_domain_info_vstate", { domain: "demo-1" })).toBe(1);
    expect(valueOf(s, "libvirt_domain_info_cpu_time_seconds_total", { domain: "demo-1" })).toBeGreaterThanOrEqual(0);
    expect(valueOf(s, "libvirt_domain_vcpu_time_seconds_total", { domain: "demo-1", vcpu: "0" })).toBeGreaterThanOrEqual(0);
    expect(valueOf(s, "libvirt_domain_memory_stats_actual_balloon_bytes", { domain: "demo-1" })).toBe(131072 * 1024);
    expect(valueOf(s, "libvirt_domain_block_stats_read_bytes_total", { domain: "demo-1", target_device: "vda", source_file: "/var/lib/virtbus/images/demo-1.qcow2" })).toBeGreaterThanOrEqual(0);
    expect(valueOf(s, "libvirt_domain_interface_stats_receive_bytes_total", { domain: "demo-2", target_device: "vnet0" })).toBeGreaterThanOrEqual(0);
    expect(valueOf(s, "libvirt_domain_info_meta", { domain: "demo-1", uuid: "" })).toBeUndefined();
    expect([...s.keys()].filter((k) => k.startsWith("libvirt_domain_") && !k.includes('domain="'))).toEqual([]);
  });

  it("marks the current state with its reason and the other states 0", async () => {
    const { h, ex } = await setup();
    await h.dispatcher.dispatch("domain.suspend", { domain: "demo-2" }, { user: "local", via: "cli" });
    const s = parseExposition(await ex.scrape());
    expect(valueOf(s, "virtbus_domain_state", { domain: "demo-2", state: "paused", reason: "user" })).toBe(1);
    expect(valueOf(s, "virtbus_domain_state", { domain: "demo-2", state: "running" })).toBe(0);
    expect(valueOf(s, "libvirt_domain_info_vstate", { domain: "demo-2" })).toBe(3);
    expect(valueOf(s, "virtbus_domains", { state: "paused" })).toBe(1);
  });

  it("series of a removed guest disappear on the next scrape", async () => {
    const { h, fake, ex } = await setup();
    const uuid = uuidOf(h, "demo-3");
    expect(await ex.scrape()).toContain('domain="demo-3"');
    await fake.destroyDomain(uuid);
    const stopped = await ex.scrape();
    expect(stopped).not.toMatch(/libvirt_domain_info_cpu_time_seconds_total\{domain="demo-3"/);
    expect(stopped).toMatch(/libvirt_domain_info_vstate\{domain="demo-3"\} 5/);
    await fake.undefineDomain(uuid);
    expect(await ex.scrape()).not.toContain('domain="demo-3"');
  });

  it("counters never decrease across scrapes", async () => {
    const { ex } = await setup();
    const a = parseExposition(await ex.scrape());
    await sleep(60);
    const b = parseExposition(await ex.scrape());
    const totals = [...a.keys()].filter((k) => k.split("{")[0]?.endsWith("_total"));
    expect(totals.length).toBeGreaterThan(20);
    for (const k of totals) expect(b.get(k), k).toBeGreaterThanOrEqual(a.get(k) ?? 0);
    expect(valueOf(b, "libvirt_domain_info_cpu_time_seconds_total", { domain: "demo-1" })).toBeGreaterThan(valueOf(a, "libvirt_domain_info_cpu_time_seconds_total", { domain: "demo-1" }) ?? 0);
  });

  it("a scrape with a hung guest returns within the deadline with stats_up 0 and a growing age while the others stay fresh", async () => {
    const { h, fake, ex } = await setup(200);
    await ex.scrape();
    fake.hung.add(uuidOf(h, "demo-2"));
    const ages: number[] = [];
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const s = parseExposition(await ex.scrape());
      expect(Date.now() - t0).toBeLessThan(450);
      expect(valueOf(s, "virtbus_domain_stats_up", { domain: "demo-2" })).toBe(0);
      expect(valueOf(s, "virtbus_domain_stats_up", { domain: "demo-1" })).toBe(1);
      // A fresh guest's values are as old as the round, which waits out the hung guest's deadline.
      expect(valueOf(s, "virtbus_domain_stats_age_seconds", { domain: "demo-1" })).toBeLessThan(0.35);
      expect(valueOf(s, "libvirt_domain_info_cpu_time_seconds_total", { domain: "demo-2" })).toBeGreaterThanOrEqual(0);
      expect(valueOf(s, "virtbus_scrape_collector_success", { collector: "domain_stats" })).toBe(0);
      ages.push(valueOf(s, "virtbus_domain_stats_age_seconds", { domain: "demo-2" }) ?? -1);
    }
    expect(ages[0]).toBeGreaterThanOrEqual(0.2);
    expect(ages[1]).toBeGreaterThan(ages[0] ?? 0);
  });

  it("counts lifecycle events by type and commands by op and result", async () => {
    const { h, ex } = await setup();
    const caller = { user: "local", via: "cli" } as const;
    await h.dispatcher.dispatch("domain.suspend", { domain: "demo-1" }, caller);
    await expect(h.dispatcher.dispatch("domain.suspend", { domain: "demo-1" }, caller)).rejects.toThrow();
    const s = parseExposition(await ex.scrape());
    expect(valueOf(s, "virtbus_domain_lifecycle_events_total", { event: "suspended" })).toBe(1);
    expect(valueOf(s, "virtbus_domain_lifecycle_events_total", { event: "crashed" })).toBe(0);
    expect(valueOf(s, "virtbus_commands_total", { op: "domain.suspend", result: "ok" })).toBe(1);
    expect(valueOf(s, "virtbus_commands_total", { op: "domain.suspend", result: "operation_invalid" })).toBe(1);
    expect(valueOf(s, "virtbus_command_duration_seconds_count", { op: "domain.suspend", result: "ok" })).toBe(1);
  });

  it("turns health values of the store into virtbus gauges", async () => {
    const { h, ex } = await setup();
    h.store.setHealth("amqp", "connected", 1, "1 while the AMQP connection is up.");
    h.store.setHealth("amqp", "outbox_depth", 7);
    h.store.setHealth("bad name!", "x", 1);
    let s = parseExposition(await ex.scrape());
    expect(valueOf(s, "virtbus_amqp_connected")).toBe(1);
    expect(valueOf(s, "virtbus_amqp_outbox_depth")).toBe(7);
    h.store.setHealth("amqp", "connected", 0);
    s = parseExposition(await ex.scrape());
    expect(valueOf(s, "virtbus_amqp_connected")).toBe(0);
  });

  it("reports build info and the hypervisor driver", async () => {
    const { ex } = await setup();
    const s = parseExposition(await ex.scrape());
    expect(valueOf(s, "virtbus_build_info", { version: "0.0.0-test", hypervisor_driver: "fake" })).toBe(1);
  });
});

describe("parseListen", () => {
  it("accepts host:port and [v6]:port and rejects the rest with invalid_arg", () => {
    expect(parseListen("127.0.0.1:9177")).toEqual({ host: "127.0.0.1", port: 9177 });
    expect(parseListen("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(() => parseListen("9177")).toThrow(/not host:port/);
    expect(() => parseListen("h:99999")).toThrow(/not host:port/);
  });
});
