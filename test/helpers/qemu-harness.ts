/**
 * Services + dispatcher around the real QEMU driver on temporary state/run dirs: for
 * integration tests and benchmarks that go through dispatch() to real guests.
 * cleanup() destroys every guest still running and removes the directories.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus } from "../../agent/core/bus.js";
import type { EventEnvelope } from "../../agent/core/events.js";
import { silentLogger } from "../../agent/core/log.js";
import { StateStore } from "../../agent/core/state-store.js";
import { COMMANDS } from "../../agent/control/commands.js";
import { Dispatcher } from "../../agent/control/dispatch.js";
import { Policy, type PolicyConfig } from "../../agent/control/policy.js";
import type { Services } from "../../agent/control/types.js";
import { QemuDriver } from "../../agent/drivers/qemu/driver.js";
import { isActive } from "../../agent/model/state.js";

export const QEMU_BINARY = "/usr/bin/qemu-system-x86_64";

export interface QemuHarness {
  dir: string;
  stateDir: string;
  runDir: string;
  services: Services;
  driver: QemuDriver;
  dispatcher: Dispatcher;
  store: StateStore;
  bus: EventBus;
  events: EventEnvelope[];
  cleanup(): Promise<void>;
}

export async function makeQemuHarness(opts: { policy?: PolicyConfig; dir?: string } = {}): Promise<QemuHarness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "virtbus-qemu-"));
  const stateDir = join(dir, "state");
  const runDir = join(dir, "run");
  const log = silentLogger();
  const store = new StateStore();
  const bus = new EventBus(log);
  const events: EventEnvelope[] = [];
  bus.onAny("harness", (ev) => events.push(ev));
  const driver = new QemuDriver({ store, bus, log, stateDir, runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 10_000 });
  await driver.open();
  const services: Services = { hypervisor: driver, store, bus, log, hostId: "testhost", version: "0.0.0-test", startedAt: Date.now() };
  const dispatcher = new Dispatcher(COMMANDS, services, new Policy(opts.policy));
  const cleanup = async () => {
    for (const v of store.listDomains()) {
      if (isActive(v.state)) await driver.destroyDomain(v.uuid).catch(() => undefined);
    }
    await driver.close();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  };
  return { dir, stateDir, runDir, services, driver, dispatcher, store, bus, events, cleanup };
}
