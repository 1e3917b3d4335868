/**
 * Pure: checks a command-line DomainDef against what the running QEMU says over QMP and
 * corrects it (QMP wins: the command line is what was asked for, QMP is what exists;
 * hot-plug and runtime changes make them differ). Every correction becomes a note.
 */
import type { DiskDef, DomainDef, PciAddress } from "../../model/domain-def.js";
import type { DomainState } from "../../model/state.js";
import { canonicalUuid } from "../../model/uuid.js";
import type { CmdlineDef } from "./attach-def.js";
import { mapRunStatus } from "./lifecycle.js";

/** The replies of the queries attach runs, as QEMU 7.2 shapes them (only the fields read). */
export interface QmpFacts {
  name: { name?: string };
  uuid: { UUID: string };
  cpus: Array<{ "cpu-index": number; "thread-id": number }>;
  memory: { "base-memory": number; "plugged-memory"?: number };
  block: Array<{ device: string; qdev?: string; removable: boolean; inserted?: { file: string; ro: boolean; drv: string; "node-name"?: string; image?: { format?: string } } }>;
  pci: Array<{ bus: number; devices: PciDevice[] }>;
  status: { status: string };
}

interface PciDevice {
  bus: number;
  slot: number;
  function: number;
  class_info: { class: number; desc?: string };
  id: { vendor: number; device: number };
  qdev_id: string;
}

export interface CheckedDef {
  def: DomainDef;
  notes: string[];
  vcpuThreads: number[];
  state: DomainState;
  reason: string;
}

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";
const NAME_RE = /^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,63}$/;
/** PCI classes that are plumbing (host bridge 0x0600, ISA bridge 0x0601, IDE 0x0101, other bridge 0x0680). */
const PLUMBING = new Set([0x0600, 0x0601, 0x0101, 0x0680, 0x0604]);

/** Applies the QMP facts; `newUuid` is called only when neither -uuid nor QEMU has one. */
export function checkAgainstQmp(cmd: CmdlineDef, facts: QmpFacts, opts: { nameGiven: boolean; newUuid: () => string }): CheckedDef {
  const notes = [...cmd.notes];
  const def: DomainDef = structuredClone(cmd.def);
  checkIdentity(def, facts, opts, notes);
  const vcpus = facts.cpus.length;
  if (vcpus > 0 && vcpus !== def.vcpus) {
    notes.push(`QMP: ${vcpus} vCPUs (command line said ${def.vcpus})`);
    def.vcpus = vcpus;
  }
  const memKiB = Math.floor((facts.memory["base-memory"] + (facts.memory["plugged-memory"] ?? 0)) / 1024);
  if (memKiB > 0 && memKiB !== def.memoryKiB) {
    notes.push(`QMP: memory ${memKiB} KiB (command line said ${def.memoryKiB} KiB)`);
    def.memoryKiB = memKiB;
    def.currentMemoryKiB = memKiB;
  }
  checkDisks(def, cmd, facts.block, notes);
  checkPci(def, cmd, facts.pci, notes);
  const threads = [...facts.cpus].sort((a, b) => a["cpu-index"] - b["cpu-index"]).map((c) => c["thread-id"]);
  const st = mapRunStatus(facts.status.status);
  return { def, notes, vcpuThreads: threads, state: st.state, reason: st.reason };
}

function checkIdentity(def: DomainDef, facts: QmpFacts, opts: { nameGiven: boolean; newUuid: () => string }, notes: string[]): void {
  const qname = facts.name.name;
  if (!opts.nameGiven && qname !== undefined && qname !== def.name && NAME_RE.test(qname)) {
    notes.push(`QMP: name "${qname}" (command line gave "${def.name}")`);
    def.name = qname;
  }
  const quuid = canonicalUuid(facts.uuid.UUID);
  if (quuid !== undefined && quuid !== ZERO_UUID) {
    if (quuid !== def.uuid && def.uuid !== "") notes.push(`QMP: uuid ${quuid} (command line gave ${def.uuid})`);
    def.uuid = quuid;
  } else if (def.uuid === ZERO_UUID || def.uuid === "") {
    def.uuid = opts.newUuid();
    notes.push(`QEMU has no uuid (all zeros): generated ${def.uuid} for the agent's use only; the guest does not see it`);
  }
}

type BlockInfo = QmpFacts["block"][number];

function matchDisk(cmd: CmdlineDef, b: BlockInfo, taken: Set<number>): number {
  const path = b.inserted?.file;
  const tests: Array<(i: number) => boolean> = [
    (i) => b.qdev !== undefined && cmd.disks[i]?.qdev !== undefined && (b.qdev === cmd.disks[i]?.qdev || b.qdev.startsWith(`/machine/peripheral/${cmd.disks[i]?.qdev ?? ""}/`)),
    (i) => b.device !== "" && cmd.disks[i]?.drive === b.device,
    (i) => b.inserted?.["node-name"] !== undefined && cmd.disks[i]?.drive === b.inserted["node-name"],
    (i) => path !== undefined && cmd.disks[i]?.disk.source === path,
  ];
  for (const t of tests) {
    const i = cmd.disks.findIndex((_d, idx) => !taken.has(idx) && t(idx));
    if (i >= 0) return i;
  }
  return -1;
}

function checkDisks(def: DomainDef, cmd: CmdlineDef, block: QmpFacts["block"], notes: string[]): void {
  const taken = new Set<number>();
  for (const b of block) {
    const i = matchDisk(cmd, b, taken);
    if (i < 0) {
      if (b.inserted) notes.push(`QMP: drive ${b.device || b.qdev || "?"} (${b.inserted.file}) is not on the command line; not represented`);
      continue;
    }
    taken.add(i);
    const disk = def.devices.disks[i] as DiskDef;
    applyBlock(disk, b, notes);
  }
}

function applyBlock(disk: DiskDef, b: BlockInfo, notes: string[]): void {
  const ins = b.inserted;
  if (!ins) {
    if (disk.source !== undefined && disk.device === "cdrom") notes.push(`QMP: ${disk.target.dev} tray is empty`);
    if (disk.device === "cdrom") delete disk.source;
    return;
  }
  if (ins.file.startsWith("/") && ins.file !== disk.source) {
    if (disk.source !== undefined) notes.push(`QMP: ${disk.target.dev} is ${ins.file} (command line said ${disk.source})`);
    disk.source = ins.file;
  }
  const fmt = ins.image?.format ?? ins.drv;
  if (fmt === "raw" || fmt === "qcow2") disk.driver.type = fmt;
  else notes.push(`QMP: ${disk.target.dev} format ${fmt} shown as raw`);
  disk.readonly = ins.ro;
}

function pciAddr(d: PciDevice): PciAddress {
  return { domain: 0, bus: d.bus, slot: d.slot, function: d.function };
}

function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, "0");
}

function checkPci(def: DomainDef, cmd: CmdlineDef, pci: QmpFacts["pci"], notes: string[]): void {
  const devices = pci.flatMap((b) => b.devices);
  const used = new Set<PciDevice>();
  cmd.disks.forEach((d, i) => {
    const hit = d.qdev === undefined ? undefined : devices.find((p) => p.qdev_id === d.qdev);
    const disk = def.devices.disks[i];
    if (hit && disk && disk.target.bus === "virtio") {
      disk.address = pciAddr(hit);
      used.add(hit);
    }
  });
  cmd.nicIds.forEach((id, i) => {
    const hit = id === undefined ? undefined : devices.find((p) => p.qdev_id === id);
    const nic = def.devices.interfaces[i];
    if (hit && nic) {
      nic.address = pciAddr(hit);
      used.add(hit);
    }
  });
  matchFixedDevices(def, devices, used);
  for (const p of devices) {
    if (used.has(p) || PLUMBING.has(p.class_info.class)) continue;
    const at = `${hex(p.bus, 2)}:${hex(p.slot, 2)}.${p.function}`;
    notes.push(`QMP: PCI ${at} ${hex(p.id.vendor, 4)}:${hex(p.id.device, 4)} (${p.class_info.desc ?? `class ${hex(p.class_info.class, 4)}`})${p.qdev_id ? ` id ${p.qdev_id}` : ""}`);
  }
}

/** Display class 0x03xx → the videos in order; virtio-balloon (1af4:1002/1045) → memballoon. */
function matchFixedDevices(def: DomainDef, devices: PciDevice[], used: Set<PciDevice>): void {
  const displays = devices.filter((p) => !used.has(p) && p.class_info.class >> 8 === 0x03);
  def.devices.videos.forEach((v, i) => {
    const hit = displays[i];
    if (hit && v.model !== "none") {
      v.address = pciAddr(hit);
      used.add(hit);
    }
  });
  const balloon = devices.find((p) => !used.has(p) && p.id.vendor === 0x1af4 && (p.id.device === 0x1002 || p.id.device === 0x1045));
  const mb = def.devices.memballoon;
  if (balloon && mb?.model === "virtio") {
    mb.address = pciAddr(balloon);
    used.add(balloon);
  }
}
