/** Builds a QemuDriver on temp dirs with a bus recorder, for the QEMU integration tests. */
import { EventBus } from "../../../agent/core/bus.js";
import type { DomainLifecycle } from "../../../agent/core/events.js";
import { silentLogger } from "../../../agent/core/log.js";
import { StateStore } from "../../../agent/core/state-store.js";
import { QemuDriver, type QemuDriverOptions } from "../../../agent/drivers/qemu/driver.js";
import { QEMU_BINARY, type TempDirs } from "./helpers.js";

export interface DriverFixture {
  driver: QemuDriver;
  store: StateStore;
  bus: EventBus;
  /** Every domain.lifecycle payload, in bus order. */
  events: DomainLifecycle[];
  /** "event/detail" strings of one guest, in order. */
  eventsOf(uuid: string): string[];
}

export function makeDriver(dirs: TempDirs, extra: Pick<QemuDriverOptions, "qemuUser"> = {}): DriverFixture {
  const store = new StateStore();
  const bus = new EventBus();
  const events: DomainLifecycle[] = [];
  bus.on("test", "domain.lifecycle", (ev) => events.push(ev.payload));
  const driver = new QemuDriver({ store, bus, log: silentLogger(), stateDir: dirs.stateDir, runDir: dirs.runDir, qemuBinary: QEMU_BINARY, qmpTimeoutMs: 5000, ...extra });
  const eventsOf = (uuid: string) => events.filter((e) => e.uuid === uuid).map((e) => `${e.event}/${e.detail}`);
  return { driver, store, bus, events, eventsOf };
}

/** A diskless SeaBIOS guest under TCG: boots nothing, ignores ACPI, costs ~20 MiB. */
export function guestXml(name: string, extra: { uuid?: string; memoryKiB?: number; vcpus?: number; devices?: string; emulator?: string } = {}): string {
  const uuid = extra.uuid ? `<uuid>${extra.uuid}</uuid>` : "";
  const emulator = extra.emulator ? `<emulator>${extra.emulator}</emulator>` : "";
  return `<domain type='qemu'>
  <name>${name}</name>${uuid}
  <memory unit='KiB'>${extra.memoryKiB ?? 65536}</memory>
  <vcpu>${extra.vcpus ?? 1}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>${emulator}${extra.devices ?? ""}</devices>
</domain>`;
}
