/**
 * The one in-memory truth the exporters read. Drivers write domain views here; a scrape,
 * an SNMP GET or an AMQP snapshot only ever reads this store, never a hypervisor.
 */
import type { DomainDef } from "../model/domain-def.js";
import type { DomainState } from "../model/state.js";

export interface DomainView {
  uuid: string;
  name: string;
  state: DomainState;
  reason: string;
  persistent: boolean;
  autostart: boolean;
  /** libvirt-style runtime id (positive while active), absent when shut off. */
  id?: number;
  pid?: number;
  /** Set for guests the agent did not start itself (attach). */
  tainted: boolean;
  vcpus: number;
  maxMemoryKiB: number;
  currentMemoryKiB: number;
  /** The persistent (inactive) definition, or the live one for a transient guest. */
  def: DomainDef;
  /** Wall-clock ms when the current process was started. */
  startedAt?: number;
  /** Wall-clock ms of the last state change. */
  stateChangedAt: number;
}

export interface BlockStats {
  device: string;
  path?: string;
  rdReqs: number;
  rdBytes: number;
  wrReqs: number;
  wrBytes: number;
  flushReqs: number;
  rdTotalTimeNs: number;
  wrTotalTimeNs: number;
  errors: number;
  capacityBytes?: number;
  allocationBytes?: number;
}

export interface InterfaceStats {
  device: string;
  mac?: string;
  source?: string;
  /** Guest's view: rx = received by the guest. */
  rxBytes: number;
  rxPackets: number;
  rxErrs: number;
  rxDrop: number;
  txBytes: number;
  txPackets: number;
  txErrs: number;
  txDrop: number;
}

export interface VcpuStats {
  id: number;
  threadId?: number;
  state: number;
  timeNs: number;
  waitNs?: number;
}

export interface DomainStats {
  uuid: string;
  /** When these values were collected (wall-clock ms). */
  collectedAt: number;
  cpuTimeNs: number;
  userTimeNs?: number;
  systemTimeNs?: number;
  vcpus: VcpuStats[];
  memory: Record<string, number>;
  blocks: BlockStats[];
  interfaces: InterfaceStats[];
  qmpLatencyMs?: number;
}

/** A number a component publishes about its own health, exported as `virtbus_<component>_<name>`. */
export interface HealthValue {
  /** snake_case, e.g. "amqp". */
  component: string;
  /** snake_case, e.g. "connected", "outbox_depth". */
  name: string;
  value: number;
  help?: string;
}

/** The view of a defined guest that is not running (shut off, no process). */
export function inactiveView(def: DomainDef, persistent: boolean): DomainView {
  return {
    uuid: def.uuid,
    name: def.name,
    state: "shutoff",
    reason: "unknown",
    persistent,
    autostart: false,
    tainted: false,
    vcpus: def.vcpus,
    maxMemoryKiB: def.memoryKiB,
    currentMemoryKiB: def.currentMemoryKiB,
    def,
    stateChangedAt: Date.now(),
  };
}

export class StateStore {
  private domains = new Map<string, DomainView>();
  /** Name → uuid: every command names its guest, and a scan cost O(guests) per command. */
  private byName = new Map<string, string>();
  private stats = new Map<string, DomainStats>();
  private health = new Map<string, HealthValue>();
  private version = 0;
  private lastChangeAt = Date.now();

  /** Increases on every change of the domain set or of a domain's state. */
  get changeVersion(): number {
    return this.version;
  }

  get lastChange(): number {
    return this.lastChangeAt;
  }

  setDomain(view: DomainView): void {
    const prev = this.domains.get(view.uuid);
    this.domains.set(view.uuid, view);
    if (prev && prev.name !== view.name) this.unindex(prev.name, view.uuid);
    this.byName.set(view.name, view.uuid);
    this.touch();
  }

  removeDomain(uuid: string): void {
    const prev = this.domains.get(uuid);
    if (!prev) return;
    this.domains.delete(uuid);
    this.unindex(prev.name, uuid);
    this.stats.delete(uuid);
    this.touch();
  }

  /** Drops `name` → `uuid`, pointing the name at another guest that still has it (rare: a scan). */
  private unindex(name: string, uuid: string): void {
    if (this.byName.get(name) !== uuid) return;
    this.byName.delete(name);
    for (const d of this.domains.values()) if (d.name === name) return void this.byName.set(name, d.uuid);
  }

  getDomain(uuid: string): DomainView | undefined {
    return this.domains.get(uuid);
  }

  findDomain(nameOrUuid: string): DomainView | undefined {
    const byUuid = this.domains.get(nameOrUuid.toLowerCase());
    if (byUuid) return byUuid;
    const uuid = this.byName.get(nameOrUuid);
    return uuid === undefined ? undefined : this.domains.get(uuid);
  }

  listDomains(): DomainView[] {
    return [...this.domains.values()];
  }

  setStats(stats: DomainStats): void {
    if (this.domains.has(stats.uuid)) this.stats.set(stats.uuid, stats);
  }

  getStats(uuid: string): DomainStats | undefined {
    return this.stats.get(uuid);
  }

  /** Health numbers do not bump changeVersion: they are not domain state. */
  setHealth(component: string, name: string, value: number, help?: string): void {
    this.health.set(`${component}\u0000${name}`, help === undefined ? { component, name, value } : { component, name, value, help });
  }

  listHealth(): HealthValue[] {
    return [...this.health.values()];
  }

  private touch(): void {
    this.version++;
    this.lastChangeAt = Date.now();
  }
}
