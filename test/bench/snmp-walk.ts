/**
 * Benchmark: full snmpbulkwalk of libvirtGuestTable and vmTable with 1,000 fake guests,
 * and the agent's heap; the same walks through Net-SNMP's snmpd with the agent as its AgentX
 * subagent; then with real QEMU guests (TCG, diskless, started paused so 50 of them fit a
 * 2-core host). Prints one JSON object.
 * Run: npx tsx test/bench/snmp-walk.ts [fake guests = 1000] [real guests = 50, 0 skips]
 */
import { execa } from "execa";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SnmpExporter } from "../../agent/exporters/snmp/exporter.js";
import { makeHarness } from "../helpers/harness.js";
import { makeQemuHarness } from "../helpers/qemu-harness.js";
import { makeSnmpd, waitForAnswer } from "../integration/snmp/snmpd.js";
import { requireTool, settings } from "../integration/snmp/tools.js";

async function walk(port: number, oid: string): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  const r = await execa(requireTool("snmpbulkwalk"), ["-m", "", "-M", "/nonexistent", "-On", "-Cr50", "-v2c", "-c", "public", `udp:127.0.0.1:${port}`, oid], { env: { MIBS: "" } });
  return { ms: Math.round(performance.now() - t0), lines: r.stdout.split("\n").length };
}

/** Walks of both tables over `real` paused QEMU guests driven by the real QEMU driver. */
async function walkReal(real: number): Promise<Record<string, number>> {
  if (real <= 0) return {};
  const h = await makeQemuHarness();
  const exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings({ cache_ms: 60_000 }), stateDir: h.dir, log: h.services.log });
  const caller = { user: "bench", via: "internal" } as const;
  try {
    for (let i = 0; i < real; i++) {
      const xml = `<domain type='qemu'><name>snmp-bench-${i}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`;
      const def = (await h.dispatcher.dispatch("domain.define", { xml }, caller)) as { uuid: string };
      await h.dispatcher.dispatch("domain.start", { domain: def.uuid, paused: true }, caller);
    }
    await exporter.start();
    const guestTable = await walk(exporter.port, "1.3.6.1.4.1.36957.1.1");
    const vmTable = await walk(exporter.port, "1.3.6.1.2.1.236.1.4");
    return { real_guests: real, real_libvirt_guest_table_walk_ms: guestTable.ms, real_libvirt_guest_table_varbinds: guestTable.lines, real_vm_table_walk_ms: vmTable.ms };
  } finally {
    await exporter.stop();
    await h.cleanup();
  }
}

/**
 * The same walks through snmpd (AgentX master) with the agent as its subagent, over the
 * same fake guests, with AgentX on TCP or on a unix socket (`agentx.socket`). snmpd asks a
 * subagent one AgentX GetNext per varbind, GETBULK or not.
 */
async function walkAgentx(h: Awaited<ReturnType<typeof makeHarness>>, unix: boolean): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "virtbus-agentx-bench-"));
  await mkdir(join(dir, "state"));
  const snmpd = await makeSnmpd(dir, { agentxUnix: unix });
  await snmpd.start();
  const agentx = { host: "127.0.0.1", port: snmpd.agentxPort, reconnect_ms: 200, caller: "bench", ...(snmpd.agentxPath ? { socket: snmpd.agentxPath } : {}) };
  const config = settings({ mode: "agentx", cache_ms: 60_000, agentx });
  const exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config, stateDir: join(dir, "state"), log: h.services.log });
  try {
    await exporter.start();
    await waitForAnswer(snmpd.udpPort, "1.3.6.1.2.1.236.1.2.0");
    await walk(snmpd.udpPort, "1.3.6.1.4.1.36957.1.1"); // warm-up: the subagent's first answers build the view
    const guestTable = await walk(snmpd.udpPort, "1.3.6.1.4.1.36957.1.1");
    const vmTable = await walk(snmpd.udpPort, "1.3.6.1.2.1.236.1.4");
    const via = unix ? "agentx_unix" : "agentx";
    return { [`${via}_libvirt_guest_table_walk_ms`]: guestTable.ms, [`${via}_vm_table_walk_ms`]: vmTable.ms };
  } finally {
    await exporter.stop();
    await snmpd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const guests = Number(process.argv[2] ?? 1000);
  const dir = await mkdtemp(join(tmpdir(), "virtbus-snmp-bench-"));
  const h = await makeHarness({ demoDomains: guests });
  const exporter = new SnmpExporter({ services: h.services, dispatcher: h.dispatcher, config: settings({ cache_ms: 60_000 }), stateDir: dir, log: h.services.log });
  await exporter.start();
  const heapBefore = process.memoryUsage().heapUsed;
  const tBuild = performance.now();
  const instances = exporter.source.view().size;
  const buildMs = Math.round(performance.now() - tBuild);
  const guestTable = await walk(exporter.port, "1.3.6.1.4.1.36957.1.1");
  const vmTable = await walk(exporter.port, "1.3.6.1.2.1.236.1.4");
  exporter.source.invalidate();
  const cold = await walk(exporter.port, "1.3.6.1.4.1.36957.1.1");
  global.gc?.();
  const mem = process.memoryUsage();
  await exporter.stop();
  await rm(dir, { recursive: true, force: true });
  const agentx = { ...(await walkAgentx(h, false)), ...(await walkAgentx(h, true)) };
  const real = await walkReal(Number(process.argv[3] ?? 50));
  console.log(JSON.stringify({
    guests, instances, view_build_ms: buildMs,
    libvirt_guest_table_walk_ms: guestTable.ms, libvirt_guest_table_varbinds: guestTable.lines,
    vm_table_walk_ms: vmTable.ms, vm_table_varbinds: vmTable.lines,
    libvirt_guest_table_walk_cold_ms: cold.ms,
    heap_used_mb: Math.round(mem.heapUsed / 1048576 * 10) / 10,
    heap_delta_view_mb: Math.round((mem.heapUsed - heapBefore) / 1048576 * 10) / 10,
    rss_mb: Math.round(mem.rss / 1048576),
    ...agentx,
    ...real,
  }));
}

await main();
