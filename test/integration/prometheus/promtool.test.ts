import { readFileSync } from "node:fs";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatsCollector } from "../../../agent/control/stats-collector.js";
import { PrometheusExporter } from "../../../agent/exporters/prometheus/exporter.js";
import { startAgentProcess } from "../../helpers/agent-process.js";
import { makeHarness } from "../../helpers/harness.js";
import { BROKER, cleanupTopology, requireBroker, uniquePrefix } from "../amqp/env.js";
import { freePort, requireTool } from "./tools.js";

let collector: StatsCollector;
let exporter: PrometheusExporter;

beforeAll(async () => {
  await requireTool("promtool", "prometheus");
  const h = await makeHarness({ demoDomains: 3 });
  for (const d of h.store.listDomains()) if (d.state !== "running") await h.fake.startDomain(d.uuid);
  await h.dispatcher.dispatch("domain.suspend", { domain: "demo-3" }, { user: "local", via: "cli" });
  h.store.setHealth("amqp", "connected", 1, "1 while the AMQP connection is up.");
  h.store.setHealth("amqp", "outbox_depth", 0, "Events waiting in the outbox for the broker.");
  collector = new StatsCollector({ services: h.services, config: { interval_ms: 1000, deadline_ms: 500, freshness_ms: 500 }, log: h.services.log });
  exporter = new PrometheusExporter({ services: h.services, config: { enabled: true, listen: "127.0.0.1:0", stats: collector.config }, log: h.services.log, collector });
  await collector.start();
  await exporter.start();
});

afterAll(async () => {
  await exporter?.stop();
  await collector?.stop();
});

async function scrapeText(): Promise<string> {
  const res = await fetch(`${exporter.address.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

describe("promtool", () => {
  it("promtool check metrics passes on a real scrape with running guests", async () => {
    const text = await scrapeText();
    expect(text).toMatch(/^libvirt_domain_block_stats_read_bytes_total\{domain="demo-2"/m);
    const res = await execa("promtool", ["check", "metrics"], { input: text, reject: false });
    expect(`${res.stdout}${res.stderr}`).toBe("");
    expect(res.exitCode).toBe(0);
  });

  it("promtool check metrics passes on the agent process's own scrape with the bus connected (its counters are counters)", async () => {
    await requireBroker();
    const port = await freePort();
    const prefix = uniquePrefix();
    const agent = await startAgentProcess({ host_id: "promtool1", hypervisor: { driver: "fake", fake_domains: 1 }, amqp: { enabled: true, url: BROKER, username: "guest", prefix }, prometheus: { enabled: true, listen: `127.0.0.1:${port}` } });
    try {
      let text = "";
      const ready = (t: string): boolean => /^virtbus_amqp_connected 1$/m.test(t) && /^virtbus_amqp_events_confirmed_total [1-9]/m.test(t);
      for (let i = 0; i < 300 && !ready(text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      }
      expect(text).toMatch(/^# TYPE virtbus_amqp_events_published_total counter$/m);
      expect(text).toMatch(/^virtbus_amqp_connected 1$/m);
      const res = await execa("promtool", ["check", "metrics"], { input: text, reject: false });
      expect(`${res.stdout}${res.stderr}`).toBe("");
      expect(res.exitCode).toBe(0);
    } finally {
      await agent.stop();
      await cleanupTopology(prefix, ["promtool1"]);
    }
  });

  it("promtool check metrics would flag a counter without _total, so the check has teeth", async () => {
    const bad = "# HELP bad_counter a counter named wrongly\n# TYPE bad_counter counter\nbad_counter 1\n";
    const res = await execa("promtool", ["check", "metrics"], { input: bad, reject: false });
    expect(res.exitCode).not.toBe(0);
  });

  it("promtool check rules passes on the shipped alert rules", async () => {
    const res = await execa("promtool", ["check", "rules", "deploy/prometheus/alerts.yml"], { reject: false });
    expect(res.stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(res.exitCode).toBe(0);
  });

  it("every metric the dashboard and the alert rules use is exported by the agent", async () => {
    const exported = new Set([...(await scrapeText()).matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap((m) => (m[2] === "histogram" ? [`${m[1]}_bucket`, `${m[1]}_count`, `${m[1]}_sum`] : [m[1] ?? ""])));
    const sources = [readFileSync("deploy/grafana/virtbus-guests.json", "utf8"), readFileSync("deploy/prometheus/alerts.yml", "utf8")].join("\n");
    const used = new Set([...sources.matchAll(/\b((?:libvirt|virtbus)_[a-z0-9_]+)/g)].map((m) => m[1] ?? ""));
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });
});
