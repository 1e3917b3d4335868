/** Wire (snake_case) shapes of command results, built once from store views. */
import type { DomainStats, DomainView } from "../core/state-store.js";
import { reasonNumber, stateNumber } from "../model/state.js";

export interface DomainSummary {
  uuid: string;
  name: string;
  id: number | null;
  state: string;
  reason: string;
  persistent: boolean;
  autostart: boolean;
  tainted: boolean;
}

export interface DomainInfo extends DomainSummary {
  state_code: number;
  reason_code: number;
  os_type: string;
  vcpus: number;
  max_memory_kib: number;
  used_memory_kib: number;
  cpu_time_ns: number | null;
  pid: number | null;
}

export function toSummary(v: DomainView): DomainSummary {
  return {
    uuid: v.uuid,
    name: v.name,
    id: v.id ?? null,
    state: v.state,
    reason: v.reason,
    persistent: v.persistent,
    autostart: v.autostart,
    tainted: v.tainted,
  };
}

export function toInfo(v: DomainView, cpuTimeNs: number | undefined): DomainInfo {
  return {
    ...toSummary(v),
    state_code: stateNumber(v.state),
    reason_code: reasonNumber(v.state, v.reason),
    os_type: v.def.os.type,
    vcpus: v.vcpus,
    max_memory_kib: v.maxMemoryKiB,
    used_memory_kib: v.currentMemoryKiB,
    cpu_time_ns: cpuTimeNs ?? null,
    pid: v.pid ?? null,
  };
}

/** A running guest's counters (domain.stats), as the Prometheus and SNMP exporters see them. */
export interface DomainStatsWire {
  name: string;
  collected_at: string;
  /** True when the guest did not answer in time and these are the last values collected. */
  stale: boolean;
  cpu_time_ns: number;
  user_time_ns: number | null;
  system_time_ns: number | null;
  vcpus: { id: number; state: number; time_ns: number }[];
  /** KiB, named as libvirt's memory stats (actual = the balloon's size). */
  memory: Record<string, number>;
  blocks: {
    device: string;
    path: string | null;
    rd_reqs: number;
    rd_bytes: number;
    wr_reqs: number;
    wr_bytes: number;
    flush_reqs: number;
    rd_total_time_ns: number;
    wr_total_time_ns: number;
    errors: number;
    capacity_bytes: number | null;
    allocation_bytes: number | null;
  }[];
  /** The guest's view: rx = received by the guest. */
  interfaces: { device: string; mac: string | null; rx_bytes: number; rx_packets: number; rx_errs: number; rx_drop: number; tx_bytes: number; tx_packets: number; tx_errs: number; tx_drop: number }[];
}

export function toStatsWire(name: string, s: DomainStats, stale: boolean): DomainStatsWire {
  const memory: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.memory)) memory[k === "actual_balloon" ? "actual" : k] = v;
  return {
    name,
    collected_at: new Date(s.collectedAt).toISOString(),
    stale,
    cpu_time_ns: s.cpuTimeNs,
    user_time_ns: s.userTimeNs ?? null,
    system_time_ns: s.systemTimeNs ?? null,
    vcpus: s.vcpus.map((c) => ({ id: c.id, state: c.state, time_ns: c.timeNs })),
    memory,
    blocks: s.blocks.map((b) => ({
      device: b.device,
      path: b.path ?? null,
      rd_reqs: b.rdReqs,
      rd_bytes: b.rdBytes,
      wr_reqs: b.wrReqs,
      wr_bytes: b.wrBytes,
      flush_reqs: b.flushReqs,
      rd_total_time_ns: b.rdTotalTimeNs,
      wr_total_time_ns: b.wrTotalTimeNs,
      errors: b.errors,
      capacity_bytes: b.capacityBytes ?? null,
      allocation_bytes: b.allocationBytes ?? null,
    })),
    interfaces: s.interfaces.map((n) => ({
      device: n.device,
      mac: n.mac ?? null,
      rx_bytes: n.rxBytes,
      rx_packets: n.rxPackets,
      rx_errs: n.rxErrs,
      rx_drop: n.rxDrop,
      tx_bytes: n.txBytes,
      tx_packets: n.txPackets,
      tx_errs: n.txErrs,
      tx_drop: n.txDrop,
    })),
  };
}
