/**
 * A fake hypervisor whose stats call can be made to hang or fail per guest: the test
 * double for a QEMU frozen with SIGSTOP (the fake has no process to stop).
 */
import type { DomainStats } from "../../../../agent/core/state-store.js";
import { FakeHypervisor } from "../../../../agent/drivers/fake/hypervisor.js";
import { AgentError } from "../../../../agent/model/errors.js";
import type { Harness } from "../../../helpers/harness.js";

export class HangingFake extends FakeHypervisor {
  readonly hung = new Set<string>();
  readonly failing = new Set<string>();
  readonly calls = new Map<string, number>();

  override async getDomainStats(uuid: string, deadlineMs: number): Promise<DomainStats> {
    this.calls.set(uuid, (this.calls.get(uuid) ?? 0) + 1);
    if (this.hung.has(uuid)) return new Promise<DomainStats>(() => undefined);
    if (this.failing.has(uuid)) throw new AgentError("operation_failed", "QMP refused query-blockstats", { component: "qemu" });
    return super.getDomainStats(uuid, deadlineMs);
  }
}

/** Swaps the harness' driver for a HangingFake over the same store and bus, and starts every guest. */
export async function useHangingFake(h: Harness): Promise<HangingFake> {
  const fake = new HangingFake({ store: h.store, bus: h.bus, log: h.services.log });
  h.services.hypervisor = fake;
  // Restart guests the harness' own fake started, so their counters run from the new driver's clock.
  for (const d of h.store.listDomains()) if (d.state === "running") await h.fake.destroyDomain(d.uuid);
  for (const d of h.store.listDomains()) await fake.startDomain(d.uuid);
  return fake;
}

export function uuidOf(h: Harness, name: string): string {
  const d = h.store.findDomain(name);
  if (!d) throw new Error(`no guest ${name}`);
  return d.uuid;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
