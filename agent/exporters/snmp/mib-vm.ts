/**
 * RFC 7666 VM-MIB (mib-2.236): hypervisor scalars, vmNumber, vmTableLastChange, vmTable,
 * vmCpuTable, vmStorageTable and vmNetworkTable, built from the state store only.
 */
import type { DomainStats, DomainView } from "../../core/state-store.js";
import type { DomainState } from "../../model/state.js";
import type { Instance } from "./oid-view.js";
import { uuidToOctets, type Oid } from "./oid.js";
import { c64, int, str, ticks, type SnmpValue } from "./value.js";

export const VM_MIB: Oid = [1, 3, 6, 1, 2, 1, 236];
export const VM_OBJECTS: Oid = [...VM_MIB, 1];
export const VM_NOTIFICATIONS: Oid = [...VM_MIB, 0];
export const VM_ENTRY: Oid = [...VM_OBJECTS, 4, 1];
export const VM_PER_VM_ENABLED: Oid = [...VM_OBJECTS, 9, 0];
export const VM_BULK_ENABLED: Oid = [...VM_OBJECTS, 10, 0];
export const VM_AFFECTED: Oid = [...VM_OBJECTS, 11, 0];
/** The agent's vmHvObjectID: virtbus has no enterprise number of its own, so libvirt's. */
export const HV_OBJECT_ID = "1.3.6.1.4.1.36957";

/** VirtualMachineOperState. */
export const OPER = { unknown: 1, other: 2, running: 4, suspended: 6, paused: 8, shuttingdown: 10, shutdown: 11, crashed: 12 } as const;

export function operState(state: DomainState): number {
  const map: Record<DomainState, number> = {
    nostate: OPER.unknown,
    running: OPER.running,
    blocked: OPER.running,
    paused: OPER.paused,
    shutdown: OPER.shuttingdown,
    shutoff: OPER.shutdown,
    crashed: OPER.crashed,
    pmsuspended: OPER.suspended,
  };
  return map[state];
}

/** VirtualMachineAdminState: running(1) suspended(2) paused(3) shutdown(4). */
export function adminState(state: DomainState): number {
  if (state === "paused") return 3;
  if (state === "pmsuspended") return 2;
  if (state === "running" || state === "blocked" || state === "crashed") return 1;
  return 4;
}

export interface HypervisorInfo {
  software: string;
  version: string;
  upTimeTicks: number;
  lastChangeTicks: number;
  perVmNotifications: boolean;
  bulkNotifications: boolean;
}

export function scalarInstances(hv: HypervisorInfo, vmCount: number): Instance[] {
  const truth = (b: boolean): SnmpValue => int(b ? 1 : 2);
  return [
    { oid: [...VM_OBJECTS, 1, 1, 0], value: str(hv.software) },
    { oid: [...VM_OBJECTS, 1, 2, 0], value: str(hv.version) },
    { oid: [...VM_OBJECTS, 1, 3, 0], value: { t: "oid", v: HV_OBJECT_ID } },
    { oid: [...VM_OBJECTS, 1, 4, 0], value: ticks(hv.upTimeTicks) },
    { oid: [...VM_OBJECTS, 2, 0], value: int(vmCount) },
    { oid: [...VM_OBJECTS, 3, 0], value: ticks(hv.lastChangeTicks) },
    { oid: VM_PER_VM_ENABLED, value: truth(hv.perVmNotifications) },
    { oid: VM_BULK_ENABLED, value: truth(hv.bulkNotifications) },
  ];
}

const us = (ns: number): SnmpValue => c64(Math.floor(ns / 1000));

/** vmTable columns 2-17 for one guest. */
export function vmInstances(vmIndex: number, v: DomainView, stats: DomainStats | undefined, now: number): Instance[] {
  const at = (col: number): number[] => [...VM_ENTRY, col, vmIndex];
  const active = v.state !== "shutoff" && v.state !== "nostate";
  const up = active && v.startedAt !== undefined ? Math.floor((now - v.startedAt) / 10) : 0;
  const cols: SnmpValue[] = [
    str(v.name),
    str(uuidToOctets(v.uuid)),
    str(v.def.os.type),
    int(adminState(v.state)),
    int(operState(v.state)),
    int(v.autostart ? 2 : 3),
    int(v.persistent ? 2 : 3),
    int(active ? v.vcpus : 0),
    int(-1),
    int(v.vcpus),
    int(1024),
    int(active ? Math.min(v.currentMemoryKiB, 2147483647) : 0),
    int(-1),
    int(Math.min(v.maxMemoryKiB, 2147483647)),
    ticks(up),
    us(active && stats ? stats.cpuTimeNs : 0),
  ];
  return cols.map((value, i) => ({ oid: at(i + 2), value }));
}

export function vmCpuInstances(vmIndex: number, stats: DomainStats | undefined): Instance[] {
  return (stats?.vcpus ?? []).map((c) => ({ oid: [...VM_OBJECTS, 5, 1, 2, vmIndex, c.id + 1], value: us(c.timeNs) }));
}

const MIB = 1048576;
const sizeIn = (bytes: number | undefined): SnmpValue => int(bytes === undefined ? -1 : Math.min(Math.floor(bytes / MIB), 2147483647));

export function vmStorageInstances(vmIndex: number, v: DomainView, stats: DomainStats | undefined): Instance[] {
  const out: Instance[] = [];
  v.def.devices.disks.forEach((d, i) => {
    const b = stats?.blocks.find((s) => s.device === d.target.dev);
    const source = d.type === "block" ? 3 : d.driver.type === "qcow2" ? 5 : 4;
    const cols: SnmpValue[] = [
      int(0),
      int(source),
      str(d.type === "block" ? "block" : d.driver.type),
      str(d.source ?? ""),
      int(d.readonly ? 3 : 2),
      // IANAStorageMediaType: hdd(3), optical(5)
      int(d.device === "cdrom" ? 5 : 3),
      str(d.target.bus),
      int(MIB),
      sizeIn(b?.capacityBytes),
      sizeIn(b?.allocationBytes),
      c64(b?.rdReqs ?? 0),
      c64(b?.wrReqs ?? 0),
      c64(b?.rdBytes ?? 0),
      c64(b?.wrBytes ?? 0),
      us(b?.rdTotalTimeNs ?? 0),
      us(b?.wrTotalTimeNs ?? 0),
    ];
    cols.forEach((value, c) => out.push({ oid: [...VM_OBJECTS, 7, 1, c + 3, vmIndex, i + 1], value }));
  });
  return out;
}

export function vmNetworkInstances(vmIndex: number, v: DomainView): Instance[] {
  const out: Instance[] = [];
  v.def.devices.interfaces.forEach((n, i) => {
    const mac = n.mac ? Buffer.from(n.mac.split(":").map((h) => parseInt(h, 16))) : Buffer.alloc(0);
    const cols: SnmpValue[] = [int(0), int(0), str(n.model), str(mac)];
    cols.forEach((value, c) => out.push({ oid: [...VM_OBJECTS, 8, 1, c + 2, vmIndex, i + 1], value }));
  });
  return out;
}

/** Varbinds of a per-VM notification: vmName, vmUUID and the PREVIOUS vmOperState (RFC 7666). */
export function vmNotifVarbinds(vmIndex: number, name: string, uuid: string, previousOper: number): Instance[] {
  return [
    { oid: [...VM_ENTRY, 2, vmIndex], value: str(name) },
    { oid: [...VM_ENTRY, 3, vmIndex], value: str(uuidToOctets(uuid)) },
    { oid: [...VM_ENTRY, 6, vmIndex], value: int(previousOper) },
  ];
}

/** The per-VM notification OID for a new operational state, if RFC 7666 defines one. */
export function vmNotificationFor(oper: number, deleted: boolean): Oid | undefined {
  if (deleted) return [...VM_NOTIFICATIONS, 10];
  const n: Record<number, number> = { 4: 1, 10: 2, 11: 3, 8: 4, 6: 6, 12: 9 };
  const id = n[oper];
  return id === undefined ? undefined : [...VM_NOTIFICATIONS, id];
}
