/**
 * Child process of interface-direction.test.ts, started as `ip netns exec NS node --import tsx
 * <this file> '<json>'`. It runs the network driver, the QEMU driver, the stats collector and the
 * Prometheus exporter inside the test's namespace, the way the agent runs on a host: a tap's
 * counters (/sys/class/net/<tap>/statistics) are visible only from the sysfs of the namespace
 * that holds the tap, and `ip netns exec` mounts that one for this process.
 *
 * Prints one JSON line `{"port":…,"uuid":…}` once the guest runs; SIGTERM (or stdin closing)
 * destroys the guest, stops the network and exits.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EventBus } from "../../../agent/core/bus.js";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { StatsCollector } from "../../../agent/control/stats-collector.js";
import type { Services } from "../../../agent/control/types.js";
import { NetDriver } from "../../../agent/drivers/net/driver.js";
import { QemuDriver } from "../../../agent/drivers/qemu/driver.js";
import { PrometheusExporter } from "../../../agent/exporters/prometheus/exporter.js";

/** What the test hands over on the command line. */
export interface StackArgs {
  dir: string;
  networkName: string;
  networkXml: string;
  domainXml: string;
}

interface Stack {
  net: NetDriver;
  qemu: QemuDriver;
  collector: StatsCollector;
  exporter: PrometheusExporter;
  uuid: string;
}

async function startStack(a: StackArgs): Promise<Stack> {
  const log = silentLogger();
  const bus = new EventBus(log);
  const store = new StateStore();
  const sub = (n: string) => {
    const p = join(a.dir, n);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const net = new NetDriver({ stateDir: sub("net-state"), runDir: sub("net-run"), bus, log });
  await net.open();
  await net.defineNetwork(a.networkXml);
  await net.startNetwork(a.networkName);
  const qemu = new QemuDriver({ store, bus, log, stateDir: sub("qemu-state"), runDir: sub("qemu-run"), qemuBinary: "/usr/bin/qemu-system-x86_64", qmpTimeoutMs: 5000, openTaps: net.openTaps });
  await qemu.open();
  const { view } = await qemu.defineDomain(a.domainXml);
  await qemu.startDomain(view.uuid);
  const services: Services = { hypervisor: qemu, network: net, store, bus, log, hostId: "ifdir", version: "0.0.0-test", startedAt: Date.now() };
  // freshness 0: every scrape collects a new round, so a scrape shows the counters of that moment.
  const collector = new StatsCollector({ services, config: { interval_ms: 60_000, deadline_ms: 3000, freshness_ms: 0 }, log });
  const exporter = new PrometheusExporter({ services, config: { enabled: true, listen: "127.0.0.1:0", stats: collector.config }, log, collector });
  await collector.start();
  await exporter.start();
  return { net, qemu, collector, exporter, uuid: view.uuid };
}

async function stopStack(s: Stack, networkName: string): Promise<void> {
  await s.exporter.stop().catch(() => undefined);
  await s.collector.stop().catch(() => undefined);
  await s.qemu.destroyDomain(s.uuid).catch(() => undefined);
  await s.qemu.close().catch(() => undefined);
  await s.net.stopNetwork(networkName).catch(() => undefined);
  await s.net.close().catch(() => undefined);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "{}") as StackArgs;
  const stack = await startStack(args);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void stopStack(stack, args.networkName).finally(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ port: stack.exporter.address.port, uuid: stack.uuid })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`interface-direction stack failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
