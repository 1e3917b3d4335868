/**
 * Builds the agent's services around the fake driver for control and exporter tests
 * (constructor injection; no module mocks).
 */
import { EventBus } from "../../agent/core/bus.js";
import type { EventEnvelope } from "../../agent/core/events.js";
import { silentLogger } from "../../agent/core/log.js";
import { StateStore } from "../../agent/core/state-store.js";
import { COMMANDS } from "../../agent/control/commands.js";
import { Dispatcher } from "../../agent/control/dispatch.js";
import { Policy, type PolicyConfig } from "../../agent/control/policy.js";
import type { Services } from "../../agent/control/types.js";
import { FakeHypervisor } from "../../agent/drivers/fake/hypervisor.js";

export interface Harness {
  services: Services;
  fake: FakeHypervisor;
  dispatcher: Dispatcher;
  store: StateStore;
  bus: EventBus;
  /** Every event emitted on the bus since the harness was built. */
  events: EventEnvelope[];
}

export async function makeHarness(opts: { demoDomains?: number; policy?: PolicyConfig; hostId?: string } = {}): Promise<Harness> {
  const log = silentLogger();
  const store = new StateStore();
  const bus = new EventBus(log);
  const events: EventEnvelope[] = [];
  bus.onAny("harness", (ev) => events.push(ev));
  const fake = new FakeHypervisor({ store, bus, log, demoDomains: opts.demoDomains ?? 0 });
  await fake.open();
  const services: Services = { hypervisor: fake, store, bus, log, hostId: opts.hostId ?? "testhost", version: "0.0.0-test", startedAt: Date.now() };
  const dispatcher = new Dispatcher(COMMANDS, services, new Policy(opts.policy));
  return { services, fake, dispatcher, store, bus, events };
}
