/**
 * Builds the OidView both transports answer from, lazily: at most once per store
 * changeVersion, and again after `ttlMs` so counters from the stats collector move.
 * Reads the state store only; never a driver (a GET never waits on a hypervisor).
 */
import type { Logger } from "pino";
import type { Services } from "../../control/types.js";
import { guestInstances, LIBVIRT_MIB } from "./mib-libvirt.js";
import { scalarInstances, VM_MIB, vmCpuInstances, vmInstances, vmNetworkInstances, vmStorageInstances } from "./mib-vm.js";
import { OidView, type Instance } from "./oid-view.js";
import type { VmIndexMap } from "./vm-index.js";

export interface MibSourceOptions {
  services: Services;
  vmIndex: VmIndexMap;
  log: Logger;
  /** Longest age of a served counter (ms). */
  ttlMs: number;
}

export class MibSource {
  perVmNotifications = true;
  bulkNotifications = true;
  private cached?: OidView;
  private builtVersion = -1;
  private builtAt = 0;
  private known = new Set<string>();
  private lastChangeAt = performance.now();
  private readonly bootAt = performance.now();

  constructor(private readonly opts: MibSourceOptions) {}

  /** Centiseconds since the agent started (vmHvUpTime, sysUpTime of traps). */
  upTimeTicks(): number {
    return Math.floor((performance.now() - this.bootAt) / 10);
  }

  view(): OidView {
    const store = this.opts.services.store;
    const fresh = performance.now() - this.builtAt < this.opts.ttlMs;
    if (this.cached && this.builtVersion === store.changeVersion && fresh) return this.cached;
    this.cached = this.build();
    this.builtVersion = store.changeVersion;
    this.builtAt = performance.now();
    return this.cached;
  }

  /** Drops the cache so the next request sees a SET's effect immediately. */
  invalidate(): void {
    this.cached = undefined;
  }

  private build(): OidView {
    const { store, hypervisor } = this.opts.services;
    const views = store.listDomains();
    this.trackMembership(views.map((v) => v.uuid));
    const now = Date.now();
    const items: Instance[] = scalarInstances(
      {
        software: hypervisor.info.name === "fake" ? "virtbus fake hypervisor" : "QEMU",
        version: hypervisor.info.hypervisorVersion,
        upTimeTicks: this.upTimeTicks(),
        lastChangeTicks: Math.floor((this.lastChangeAt - this.bootAt) / 10),
        perVmNotifications: this.perVmNotifications,
        bulkNotifications: this.bulkNotifications,
      },
      views.length,
    );
    for (const v of views) {
      const stats = store.getStats(v.uuid);
      const idx = this.opts.vmIndex.indexOf(v.uuid);
      items.push(...guestInstances(v, stats), ...vmInstances(idx, v, stats, now), ...vmCpuInstances(idx, stats));
      items.push(...vmStorageInstances(idx, v, stats), ...vmNetworkInstances(idx, v));
    }
    this.opts.vmIndex.flush().catch((err: unknown) => this.opts.log.warn({ err }, "cannot persist the vmIndex map"));
    return new OidView(items, [LIBVIRT_MIB, VM_MIB]);
  }

  /** vmTableLastChange moves only when a row is created or deleted (RFC 7666). */
  private trackMembership(uuids: string[]): void {
    const next = new Set(uuids);
    const changed = next.size !== this.known.size || uuids.some((u) => !this.known.has(u));
    if (changed && this.known.size + next.size > 0 && this.builtVersion !== -1) this.lastChangeAt = performance.now();
    this.known = next;
  }
}
