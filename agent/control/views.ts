/** Wire (snake_case) shapes of command results, built once from store views. */
import type { DomainView } from "../core/state-store.js";
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
