/**
 * What a stats round costs a real QEMU: which QMP commands each guest gets (read from the
 * QMP client's debug log), and that a frozen QEMU costs one deadline, not one per scrape.
 */
import { closeSync, ftruncateSync, openSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBus } from "../../../agent/core/bus.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { StatsCollector } from "../../../agent/control/stats-collector.js";
import type { Services } from "../../../agent/control/types.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { PrometheusExporter } from "../../../agent/exporters/prometheus/exporter.js";
import { guestXml } from "../qemu/driver-fixture.js";
import { makeTempDirs, PidTracker, QEMU_BINARY, requireQemu, type TempDirs } from "../qemu/helpers.js";
import { parseExposition, valueOf } from "../../unit/exporters/prometheus/exposition.js";

// Long enough that "waited for the deadline" and "did not wait" stay far apart on a loaded CI machine.
const DEADLINE_MS = 2000;

/** Every QMP command the driver sent, as [domain uuid, command], from the "qmp send" debug lines. */
class QmpLog {
  readonly sent: Array<[string, string]> = [];
  write(line: string): void {
    const rec = JSON.parse(line) as { msg?: string; domain?: string; qmp?: { execute?: string } };
    if (rec.msg === "qmp send" && rec.domain && rec.qmp?.execute) this.sent.push([rec.domain, rec.qmp.execute]);
  }
  /** Commands sent to `uuid` since index `from`. */
  since(from: number, uuid: string): string[] {
    return this.sent.slice(from).filter(([d]) => d === uuid).map(([, c]) => c);
  }
}

describe("QMP cost of stats collection with real QEMU guests", () => {
  let dirs: TempDirs;
  let driver: QemuDriver;
  let store: StateStore;
  let collector: StatsCollector;
  let exporter: PrometheusExporter;
  const qmpLog = new QmpLog();
  const pids = new PidTracker();
  const frozen: number[] = [];
  const uuids: Record<string, string> = {};

  beforeAll(async () => {
    requireQemu();
    dirs = makeTempDirs("vb-prom-cost-");
    const img = join(dirs.root, "disk.img");
    const fd = openSync(img, "w", 0o600);
    ftruncateSync(fd, 1 << 20);
    closeSync(fd);
    store = new StateStore();
    const bus = new EventBus();
    const log = pino({ level: "debug" }, qmpLog);
    driver = new QemuDriver({ store, bus, log, stateDir: dirs.stateDir, runDir: dirs.runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000 });
    await driver.open();
    const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/><target dev='vda' bus='virtio'/></disk>`;
    const xmls = { "cost-balloon": guestXml("cost-balloon", { devices: "<memballoon model='virtio'/>" }), "cost-disk": guestXml("cost-disk", { devices: disk }) };
    for (const [name, xml] of Object.entries(xmls)) {
      const { view } = await driver.defineDomain(xml);
      uuids[name] = view.uuid;
      pids.add((await driver.startDomain(view.uuid)).pid);
    }
    const services: Services = { hypervisor: driver, store, bus, log, hostId: "costtest", version: "0.0.0-test", startedAt: Date.now() };
    collector = new StatsCollector({ services, config: { interval_ms: 3_600_000, deadline_ms: DEADLINE_MS, freshness_ms: 0 }, log });
    exporter = new PrometheusExporter({ services, config: { enabled: true, listen: "127.0.0.1:0", stats: collector.config }, log, collector });
    await exporter.start();
  }, 60_000);

  afterAll(async () => {
    for (const pid of frozen) process.kill(pid, "SIGCONT");
    await exporter?.stop();
    await collector?.stop();
    for (const d of store?.listDomains() ?? []) await driver.destroyDomain(d.uuid).catch(() => undefined);
    await driver?.close();
    pids.killAll();
    dirs?.cleanup();
  });

  async function timedScrape(): Promise<{ ms: number; s: ReturnType<typeof parseExposition> }> {
    const t0 = performance.now();
    const res = await fetch(`${exporter.address.url}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    return { ms: performance.now() - t0, s: parseExposition(text) };
  }

  it("a guest without disks gets no query-blockstats, its balloon size and a disk's image sizes are asked once, then kept", async () => {
    const from = qmpLog.sent.length;
    for (let i = 0; i < 3; i++) expect(await collector.collect()).toMatchObject({ guests: 2, ok: 2 });
    const balloon = qmpLog.since(from, uuids["cost-balloon"]!);
    expect(balloon).not.toContain("query-blockstats");
    expect(balloon.filter((c) => c === "query-balloon")).toHaveLength(1);
    // Something still reaches QEMU every round, or a frozen one would look healthy.
    expect(balloon).toHaveLength(3);
    expect(store.getStats(uuids["cost-balloon"]!)?.memory["actual_balloon"]).toBe(65536);
    // Block counters every round; the image's sizes (query-block) on its first round only.
    expect(qmpLog.since(from, uuids["cost-disk"]!)).toEqual(["query-blockstats", "query-block", "query-blockstats", "query-blockstats"]);
    // A sparse 1 MiB image: libvirt's capacity is its size, its allocation what it holds on the host.
    expect(store.getStats(uuids["cost-disk"]!)?.blocks.map((b) => `${b.device} ${b.capacityBytes} ${b.allocationBytes}`)).toEqual([`vda ${1 << 20} 0`]);
  }, 30_000);

  it("with a frozen QEMU only the first scrape waits for the deadline and no new command is sent to it until it answers", async () => {
    const uuid = uuids["cost-disk"]!;
    const pid = store.getDomain(uuid)!.pid!;
    process.kill(pid, "SIGSTOP");
    frozen.push(pid);
    const first = await timedScrape();
    const afterFirst = qmpLog.sent.length;
    const later = [await timedScrape(), await timedScrape(), await timedScrape()];
    console.log(`scrape ms with a frozen guest: ${[first, ...later].map((x) => x.ms.toFixed(1)).join(", ")}`);
    expect(first.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
    for (const x of later) {
      expect(x.ms).toBeLessThan(DEADLINE_MS / 2);
      expect(valueOf(x.s, "virtbus_domain_stats_up", { domain: "cost-disk" })).toBe(0);
      expect(valueOf(x.s, "virtbus_domain_stats_up", { domain: "cost-balloon" })).toBe(1);
    }
    expect(qmpLog.since(afterFirst, uuid)).toEqual([]);
    expect(collector.status(uuid)?.lastError).toContain("still unanswered");
    process.kill(pid, "SIGCONT");
    frozen.splice(frozen.indexOf(pid), 1);
    // The late reply is consumed; then the guest is collected again.
    await expect.poll(async () => valueOf((await timedScrape()).s, "virtbus_domain_stats_up", { domain: "cost-disk" }), { timeout: 5000, interval: 100 }).toBe(1);
  }, 30_000);
});
