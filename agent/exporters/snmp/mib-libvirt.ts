/**
 * LIBVIRT-MIB (enterprises.36957), wire-compatible with libvirt-snmp: libvirtGuestTable
 * indexed by the 16-octet UUID as an IMPLIED index (no length prefix), columns 2-7 and 9.
 * Fixes libvirt-snmp's faults: every guest is listed (running and defined), states that
 * the MIB's enum lacks are mapped, and RowStatus means the same in table and trap.
 */
import type { DomainStats, DomainView } from "../../core/state-store.js";
import { isActive, type DomainState } from "../../model/state.js";
import type { Instance } from "./oid-view.js";
import { uuidToIndex, uuidToOctets, type Oid } from "./oid.js";
import { c64, gauge, int, str } from "./value.js";

export const LIBVIRT_MIB: Oid = [1, 3, 6, 1, 4, 1, 36957];
export const GUEST_ENTRY: Oid = [...LIBVIRT_MIB, 1, 1, 1];
export const GUEST_NOTIF: Oid = [...LIBVIRT_MIB, 0, 1];

export const COL = { uuid: 1, name: 2, state: 3, cpuCount: 4, memCurrent: 5, memLimit: 6, cpuTime: 7, rowStatus: 9 } as const;

/** RFC 2579 RowStatus values. */
export const ROW_STATUS = { active: 1, notInService: 2, notReady: 3, createAndGo: 4, createAndWait: 5, destroy: 6 } as const;

/**
 * The MIB's libvirtGuestState enum is running(1)..crashed(6). libvirt-snmp leaked 0 and 7
 * as out-of-enum values; here nostate reads as shutoff (no process) and pmsuspended as
 * paused (resident, not executing), the closest states a MIB-driven NMS understands.
 */
export function guestStateNumber(state: DomainState): number {
  switch (state) {
    case "nostate":
      return 5;
    case "pmsuspended":
      return 3;
    default:
      return ["running", "blocked", "paused", "shutdown", "shutoff", "crashed"].indexOf(state) + 1;
  }
}

/** active while the guest has a process, notInService while it is only defined. */
export function guestRowStatus(state: DomainState): number {
  return isActive(state) ? ROW_STATUS.active : ROW_STATUS.notInService;
}

export function columnOid(column: number, uuid: string): number[] {
  return [...GUEST_ENTRY, column, ...uuidToIndex(uuid)];
}

const MIB = 1024;

/** Every libvirtGuestTable instance for one guest. */
export function guestInstances(view: DomainView, stats: DomainStats | undefined): Instance[] {
  const idx = uuidToIndex(view.uuid);
  const at = (col: number): number[] => [...GUEST_ENTRY, col, ...idx];
  const active = isActive(view.state);
  return [
    { oid: at(COL.name), value: str(view.name) },
    { oid: at(COL.state), value: int(guestStateNumber(view.state)) },
    { oid: at(COL.cpuCount), value: gauge(Math.min(view.vcpus, 65535)) },
    // As virDomainGetInfo (and so dominfo and libvirt-snmp): the configured current memory, running or not.
    { oid: at(COL.memCurrent), value: gauge(Math.floor(view.currentMemoryKiB / MIB)) },
    { oid: at(COL.memLimit), value: gauge(Math.floor(view.maxMemoryKiB / MIB)) },
    { oid: at(COL.cpuTime), value: c64(active && stats ? stats.cpuTimeNs : 0) },
    { oid: at(COL.rowStatus), value: int(guestRowStatus(view.state)) },
  ];
}

/** Varbinds of libvirtGuestNotif (name, UUID, state, RowStatus), indexed by the row. */
export function guestNotifVarbinds(uuid: string, name: string, state: DomainState, removed: boolean): Instance[] {
  return [
    { oid: columnOid(COL.name, uuid), value: str(name) },
    { oid: columnOid(COL.uuid, uuid), value: str(uuidToOctets(uuid)) },
    { oid: columnOid(COL.state, uuid), value: int(guestStateNumber(state)) },
    { oid: columnOid(COL.rowStatus, uuid), value: int(removed ? ROW_STATUS.destroy : guestRowStatus(state)) },
  ];
}
