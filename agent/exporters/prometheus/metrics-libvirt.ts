/**
 * The libvirt exporter's series (kumina/Tinkoff lineage), with the same names, units and
 * `domain` label, so dashboards built for prometheus-libvirt-exporter work unchanged.
 * libvirt reports memory in KiB and times in ns; the exporter convention is bytes and
 * seconds.
 */
import type { Registry } from "prom-client";
import type { BlockStats, InterfaceStats, VcpuStats } from "../../core/state-store.js";
import { stateNumber } from "../../model/state.js";
import { perGuest, perItem, perStats, scrapeCounter, scrapeGauge, type ViewSource } from "./series.js";

const KIB = 1024;
const NS = 1e9;

export function registerLibvirtMetrics(registry: Registry, view: ViewSource): void {
  registerUpAndInfo(registry, view);
  registerVcpu(registry, view);
  registerMemoryStats(registry, view);
  registerBlock(registry, view);
  registerInterface(registry, view);
}

function registerUpAndInfo(registry: Registry, view: ViewSource): void {
  const g = (name: string, help: string, pick: Parameters<typeof perGuest>[1]) =>
    scrapeGauge(registry, { name, help, labelNames: ["domain"], samples: perGuest(view, pick) });
  scrapeGauge(registry, {
    name: "libvirt_up",
    help: "Whether the last stats round reached the hypervisor (0 when every active guest missed its deadline).",
    labelNames: [],
    samples: () => {
      const r = view().round;
      return [[{}, r && r.guests > 0 && r.ok === 0 ? 0 : 1]];
    },
  });
  g("libvirt_domain_info_maximum_memory_bytes", "Maximum allowed memory of the domain, in bytes.", (r) => r.view.maxMemoryKiB * KIB);
  g("libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain, in bytes.", (r) => (r.stats?.memory["actual_balloon"] ?? r.view.currentMemoryKiB) * KIB);
  g("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs for the domain.", (r) => r.view.vcpus);
  g("libvirt_domain_info_vstate", "Domain state as virDomainState (0 nostate ... 5 shutoff, 6 crashed, 7 pmsuspended).", (r) => stateNumber(r.view.state));
  scrapeCounter(registry, {
    name: "libvirt_domain_info_cpu_time_seconds_total",
    help: "Amount of CPU time used by the domain, in seconds.",
    labelNames: ["domain"],
    samples: perStats(view, (s) => s.cpuTimeNs / NS),
  });
  scrapeGauge(registry, {
    name: "libvirt_domain_info_meta",
    help: "Domain metadata; the value is always 1.",
    labelNames: ["domain", "uuid", "persistent"],
    samples: () => view().rows.map((r) => [{ domain: r.view.name, uuid: r.view.uuid, persistent: String(r.view.persistent) }, 1] as const),
  });
}

function registerVcpu(registry: Registry, view: ViewSource): void {
  const labels = (v: VcpuStats) => ({ vcpu: String(v.id) });
  const vcpus = (s: { vcpus: VcpuStats[] }) => s.vcpus;
  scrapeGauge(registry, {
    name: "libvirt_domain_vcpu_state",
    help: "State of the vCPU (virVcpuState: 0 offline, 1 running, 2 blocked).",
    labelNames: ["domain", "vcpu"],
    samples: perItem(view, vcpus, labels, (v) => v.state),
  });
  scrapeCounter(registry, {
    name: "libvirt_domain_vcpu_time_seconds_total",
    help: "Time spent by the virtual CPU, in seconds.",
    labelNames: ["domain", "vcpu"],
    samples: perItem(view, vcpus, labels, (v) => v.timeNs / NS),
  });
  scrapeCounter(registry, {
    name: "libvirt_domain_vcpu_wait_seconds_total",
    help: "Time the vCPU wanted to run but the host scheduler ran something else, in seconds.",
    labelNames: ["domain", "vcpu"],
    samples: perItem(view, vcpus, labels, (v) => (v.waitNs === undefined ? undefined : v.waitNs / NS)),
  });
}

/** libvirt memory-stat tag (KiB or a count) -> exporter series suffix. */
const MEMORY_STATS: ReadonlyArray<readonly [string, string, "bytes" | "count", string]> = [
  ["actual_balloon", "actual_balloon_bytes", "bytes", "Current balloon size, in bytes."],
  ["available", "available_bytes", "bytes", "Memory available to the guest OS, in bytes."],
  ["unused", "unused_bytes", "bytes", "Memory left completely unused by the guest, in bytes."],
  ["usable", "usable_bytes", "bytes", "Memory the guest could reclaim without swapping, in bytes."],
  ["disk_caches", "disk_cache_bytes", "bytes", "Memory the guest uses for caches it can drop quickly, in bytes."],
  ["rss", "rss_bytes", "bytes", "Resident set size of the QEMU process, in bytes."],
  ["swap_in", "swap_in_bytes", "bytes", "Memory swapped in by the guest, in bytes."],
  ["swap_out", "swap_out_bytes", "bytes", "Memory swapped out by the guest, in bytes."],
];

function registerMemoryStats(registry: Registry, view: ViewSource): void {
  for (const [tag, suffix, , help] of MEMORY_STATS) {
    scrapeGauge(registry, {
      name: `libvirt_domain_memory_stats_${suffix}`,
      help,
      labelNames: ["domain"],
      samples: perStats(view, (s) => (s.memory[tag] === undefined ? undefined : (s.memory[tag] ?? 0) * KIB)),
    });
  }
  for (const [tag, help] of [
    ["major_fault", "Page faults the guest resolved with disk I/O."],
    ["minor_fault", "Page faults the guest resolved without disk I/O."],
  ] as const) {
    scrapeCounter(registry, { name: `libvirt_domain_memory_stats_${tag}_total`, help, labelNames: ["domain"], samples: perStats(view, (s) => s.memory[tag]) });
  }
  scrapeGauge(registry, {
    name: "libvirt_domain_memory_stats_used_percent",
    help: "Memory the guest uses, in percent of available: (available - usable) / available * 100.",
    labelNames: ["domain"],
    samples: perStats(view, (s) => {
      const avail = s.memory["available"];
      const usable = s.memory["usable"];
      return avail && usable !== undefined ? ((avail - usable) / avail) * 100 : undefined;
    }),
  });
}

const BLOCK_COUNTERS: ReadonlyArray<readonly [string, string, (b: BlockStats) => number]> = [
  ["read_bytes", "Number of bytes read from a block device, in bytes.", (b) => b.rdBytes],
  ["read_requests", "Number of read requests from a block device.", (b) => b.rdReqs],
  ["write_bytes", "Number of bytes written to a block device, in bytes.", (b) => b.wrBytes],
  ["write_requests", "Number of write requests to a block device.", (b) => b.wrReqs],
  ["flush_requests", "Number of flush requests to a block device.", (b) => b.flushReqs],
  ["read_time_seconds", "Total time spent on reads from a block device, in seconds.", (b) => b.rdTotalTimeNs / NS],
  ["write_time_seconds", "Total time spent on writes to a block device, in seconds.", (b) => b.wrTotalTimeNs / NS],
];

function registerBlock(registry: Registry, view: ViewSource): void {
  const labels = (b: BlockStats) => ({ target_device: b.device, source_file: b.path ?? "" });
  const blocks = (s: { blocks: BlockStats[] }) => s.blocks;
  const labelNames = ["domain", "target_device", "source_file"];
  for (const [name, help, pick] of BLOCK_COUNTERS) {
    scrapeCounter(registry, { name: `libvirt_domain_block_stats_${name}_total`, help, labelNames, samples: perItem(view, blocks, labels, pick) });
  }
  scrapeGauge(registry, {
    name: "libvirt_domain_block_stats_capacity_bytes",
    help: "Logical size of a block device, in bytes.",
    labelNames,
    samples: perItem(view, blocks, labels, (b) => b.capacityBytes),
  });
  scrapeGauge(registry, {
    name: "libvirt_domain_block_stats_allocation",
    help: "Host storage in use by a block device, in bytes.",
    labelNames,
    samples: perItem(view, blocks, labels, (b) => b.allocationBytes),
  });
}

const NET_COUNTERS: ReadonlyArray<readonly [string, string, (n: InterfaceStats) => number]> = [
  ["receive_bytes", "Bytes received by the guest on a network interface.", (n) => n.rxBytes],
  ["receive_packets", "Packets received by the guest on a network interface.", (n) => n.rxPackets],
  ["receive_errors", "Packet receive errors on a network interface.", (n) => n.rxErrs],
  ["receive_drops", "Packet receive drops on a network interface.", (n) => n.rxDrop],
  ["transmit_bytes", "Bytes transmitted by the guest on a network interface.", (n) => n.txBytes],
  ["transmit_packets", "Packets transmitted by the guest on a network interface.", (n) => n.txPackets],
  ["transmit_errors", "Packet transmit errors on a network interface.", (n) => n.txErrs],
  ["transmit_drops", "Packet transmit drops on a network interface.", (n) => n.txDrop],
];

function registerInterface(registry: Registry, view: ViewSource): void {
  const nics = (s: { interfaces: InterfaceStats[] }) => s.interfaces;
  const labels = (n: InterfaceStats) => ({ target_device: n.device });
  for (const [name, help, pick] of NET_COUNTERS) {
    scrapeCounter(registry, { name: `libvirt_domain_interface_stats_${name}_total`, help, labelNames: ["domain", "target_device"], samples: perItem(view, nics, labels, pick) });
  }
  scrapeGauge(registry, {
    name: "libvirt_domain_interface_meta",
    help: "Interface metadata; the value is always 1.",
    labelNames: ["domain", "target_device", "source_bridge", "mac_address"],
    samples: perItem(view, nics, (n) => ({ target_device: n.device, source_bridge: n.source ?? "", mac_address: n.mac ?? "" }), () => 1),
  });
}
