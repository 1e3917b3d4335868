/**
 * Pure guest-ABI address assignment, run once at define time (libvirt's
 * qemuDomainAssignAddresses analogue): PCI slots for devices that lack one, drive
 * addresses for sata/ide/scsi disks and MACs for interfaces. Results are stored with the
 * definition so the guest sees the same hardware on every start.
 */
import type { DiskDef, DomainDef, DriveAddress, PciAddress } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";

export type MachineFamily = "pc" | "q35";

const PCI_SLOTS = 32;
/** Highest AHCI port on one controller (ich9-ahci has 6). */
const AHCI_PORTS = 6;
const MAC_PREFIX = "52:54:00";
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * Family of a canonical machine type name.
 * @throws AgentError config_unsupported for machines other than pc-i440fx-* and pc-q35-*.
 */
export function machineFamily(machine: string): MachineFamily {
  if (machine.startsWith("pc-i440fx-")) return "pc";
  if (machine.startsWith("pc-q35-")) return "q35";
  throw new AgentError("config_unsupported", `machine type '${machine}' is not supported (only pc-i440fx-* and pc-q35-*)`, {
    component: "qemu",
  });
}

/** Name of PCI bus 0 as QEMU calls it. */
export function rootBusName(family: MachineFamily): string {
  return family === "pc" ? "pci.0" : "pcie.0";
}

/** Slots the machine itself occupies: host bridge, PIIX (pc) or the ICH9 multifunction slot 0x1f (q35). */
function reservedSlots(family: MachineFamily): Set<number> {
  // pc keeps slot 2 for the primary video card even when there is none, as libvirt does,
  // so adding a video later does not move the other devices.
  return family === "pc" ? new Set([0, 1, 2]) : new Set([0, 0x1f]);
}

export function isPciAddress(a: PciAddress | DriveAddress | undefined): a is PciAddress {
  return a !== undefined && "slot" in a;
}

export function formatPci(a: PciAddress): string {
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, "0");
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${a.function}`;
}

/** Slots a device may use on a bus created by a `<controller type='pci' index=N>`. */
function busSlots(def: DomainDef, bus: number, owner: string, a: PciAddress): [number, number] {
  const c = (def.devices.controllers ?? []).find((x) => x.type === "pci" && x.index === bus);
  if (c === undefined) {
    throw new AgentError("config_unsupported", `${owner}: PCI address ${formatPci(a)} is on bus ${bus} but no <controller type='pci' index='${bus}'> creates it`, {
      component: "qemu",
    });
  }
  // A PCIe root port has exactly one downstream slot; PCI bridges keep slot 0 for their SHPC.
  return c.model === "pcie-root-port" ? [0, 0] : [1, PCI_SLOTS - 1];
}

function checkPci(def: DomainDef, a: PciAddress, owner: string): void {
  if (a.domain !== 0) throw new AgentError("config_unsupported", `${owner}: PCI domain ${a.domain} is not supported (only 0000)`, { component: "qemu" });
  const [lo, hi] = a.bus === 0 ? [0, PCI_SLOTS - 1] : busSlots(def, a.bus, owner, a);
  if (!Number.isInteger(a.slot) || a.slot < lo || a.slot > hi || !Number.isInteger(a.function) || a.function < 0 || a.function > 7) {
    throw new AgentError("invalid_arg", `${owner}: PCI address ${formatPci(a)} must have slot 0x${lo.toString(16)}-0x${hi.toString(16)} and function 0-7`, {
      component: "qemu",
    });
  }
}

/** One PCI consumer of the definition, in the order addresses are handed out. */
interface PciUser {
  owner: string;
  address: PciAddress | undefined;
  set: (a: PciAddress) => void;
}

type Listed = { address?: PciAddress | undefined };

/** Users from an optional device list, replaced copy-on-write in `d[key]`. */
function listUsers<K extends "sounds" | "watchdogs" | "rngs">(d: DomainDef["devices"], key: K, name: string, skip?: (x: Listed) => boolean): PciUser[] {
  const list = (d[key] ?? []) as Listed[];
  return list.flatMap((x, i) => {
    if (skip?.(x) === true) return [];
    const set = (a: PciAddress): void => {
      const copy = [...((d[key] ?? []) as Listed[])];
      copy[i] = { ...x, address: a };
      Object.assign(d, { [key]: copy });
    };
    return [{ owner: `${name} ${i}`, address: x.address, set }];
  });
}

function pciUsers(def: DomainDef): PciUser[] {
  const d = def.devices;
  const users: PciUser[] = [];
  d.videos.forEach((v, i) => {
    if (v.model !== "none") users.push({ owner: `video ${i}`, address: v.address, set: (a) => (d.videos[i] = { ...v, address: a }) });
  });
  d.interfaces.forEach((n, i) => {
    users.push({ owner: `interface ${i}`, address: n.address, set: (a) => (d.interfaces[i] = { ...n, address: a }) });
  });
  d.disks.forEach((k, i) => {
    if (k.target.bus !== "virtio") return;
    const address = isPciAddress(k.address) ? k.address : undefined;
    users.push({ owner: `disk ${k.target.dev}`, address, set: (a) => (d.disks[i] = { ...k, address: a }) });
  });
  const b = d.memballoon;
  if (b && b.model !== "none") users.push({ owner: "memballoon", address: b.address, set: (a) => (d.memballoon = { ...b, address: a }) });
  users.push(...listUsers(d, "sounds", "sound"), ...listUsers(d, "rngs", "rng"));
  users.push(...listUsers(d, "watchdogs", "watchdog", (w) => (w as { model: string }).model !== "i6300esb"));
  return users;
}

/**
 * Controllers that carry a PCI address, as fixed users: they never get one assigned here
 * (the builder places address-less ones with implicitSlots). Those at the address where the
 * chipset already has them (PIIX IDE 01.1 and UHCI 01.2, ICH9 AHCI 1f.2) claim nothing.
 */
function controllerUsers(def: DomainDef, family: MachineFamily): PciUser[] {
  const d = def.devices;
  return (d.controllers ?? []).flatMap((c, i): PciUser[] => {
    const owner = `controller ${c.type} ${c.index}`;
    // A root port or bridge without an address gets one here (its bus must exist at define).
    const set = (a: PciAddress): void => {
      d.controllers = (d.controllers ?? []).map((x, j) => (j === i ? { ...c, address: a } : x));
    };
    if (c.address === undefined) return c.type === "pci" && c.index > 0 ? [{ owner, address: undefined, set }] : [];
    return isBuiltinAddress(family, c.type, c.address) ? [] : [{ owner, address: c.address, set }];
  });
}

/** Whether `a` is where the chipset itself provides a controller of `type`. */
export function isBuiltinAddress(family: MachineFamily, type: string, a: PciAddress): boolean {
  const at = (slot: number, fn: number): boolean => a.bus === 0 && a.slot === slot && a.function === fn;
  if (family === "pc") return (type === "ide" && at(1, 1)) || (type === "usb" && at(1, 2));
  return type === "sata" && at(0x1f, 2);
}

function pciAt(slot: number): PciAddress {
  return { domain: 0, bus: 0, slot, function: 0 };
}

const slotKey = (a: PciAddress): string => `${a.bus}:${a.slot}`;

/** Claims every fixed address: no two users on one function, machine slots stay free, multifunction rules. */
function claimUserSlots(def: DomainDef, users: PciUser[], reserved: Set<number>): Map<string, string> {
  const taken = new Map<string, string>();
  const fns = new Map<string, PciAddress[]>();
  for (const u of users) {
    if (!u.address) continue;
    checkPci(def, u.address, u.owner);
    const key = `${slotKey(u.address)}.${u.address.function}`;
    const other = taken.get(key) ?? (u.address.bus === 0 && reserved.has(u.address.slot) ? "the machine" : undefined);
    if (other !== undefined) {
      throw new AgentError("invalid_arg", `PCI address ${formatPci(u.address)} of ${u.owner} is already used by ${other}`, { component: "qemu" });
    }
    taken.set(key, u.owner);
    fns.set(slotKey(u.address), [...(fns.get(slotKey(u.address)) ?? []), u.address]);
  }
  for (const list of fns.values()) checkMultifunction(list);
  return taken;
}

/** QEMU refuses functions > 0 in a slot whose function 0 is not multifunction=on. */
function checkMultifunction(list: PciAddress[]): void {
  if (list.length < 2 && list.every((a) => a.function === 0)) return;
  const f0 = list.find((a) => a.function === 0);
  if (f0?.multifunction !== true) {
    const a = list.find((x) => x.function !== 0) ?? list[0];
    throw new AgentError("invalid_arg", `PCI slot of ${a ? formatPci(a) : "?"} uses several functions but function 0 is not multifunction='on'`, {
      component: "qemu",
    });
  }
}

function cloneDevices(def: DomainDef): DomainDef {
  const d = def.devices;
  return {
    ...def,
    devices: { ...d, disks: [...d.disks], interfaces: [...d.interfaces], videos: [...d.videos] },
  };
}

/** Lowest free slot of bus 0, skipping machine slots and those already taken. */
function nextFreeSlot(taken: Map<string, string>, reserved: Set<number>, owner: string): number {
  const used = new Set([...taken.keys()].map((k) => k.slice(0, k.indexOf("."))));
  for (let s = 1; s < PCI_SLOTS; s++) if (!used.has(`0:${s}`) && !reserved.has(s)) return s;
  throw new AgentError("config_unsupported", `no free PCI slot on bus 0 for ${owner}`, { component: "qemu" });
}

/**
 * Returns a copy of `def` where every PCI device lacking an address has one and every
 * sata/ide/scsi disk has a drive address. User-given addresses are kept (on bus 0 or on a
 * bus a `<controller type='pci'>` creates). Deterministic: the same def always gets the
 * same result. PCI controllers (root ports, bridges) lacking an address come first; pc: slot 2
 * is the primary video, q35: video takes the first free slot; then interfaces, virtio disks,
 * the balloon, sound, rng, watchdog, lowest free bus-0 slot first.
 * @throws AgentError invalid_arg on colliding or malformed user addresses,
 *   config_unsupported when bus 0 is full or an address names a bus no controller creates.
 */
export function assignAddresses(def: DomainDef, machine: string): DomainDef {
  const family = machineFamily(machine);
  const out = cloneDevices(def);
  const reserved = reservedSlots(family);
  const users = [...controllerUsers(out, family), ...pciUsers(out)];
  // Slot 2 on pc is only kept free for automatic placement: a user (libvirt's video) may take it.
  const machineOwned = new Set([...reserved].filter((slot) => family !== "pc" || slot !== 2));
  const taken = claimUserSlots(out, users, machineOwned);
  const primaryVideo = out.devices.videos.findIndex((v) => v.model !== "none");
  for (const u of users) {
    if (u.address) continue;
    const wantsSlot2 = family === "pc" && u.owner === `video ${primaryVideo}` && !taken.has("0:2.0");
    const slot = wantsSlot2 ? 2 : nextFreeSlot(taken, reserved, u.owner);
    taken.set(`0:${slot}.0`, u.owner);
    u.set(pciAt(slot));
  }
  out.devices.disks = assignDriveAddresses(out.devices.disks, family);
  return out;
}

/** Index of a disk from its target name: sda/hda/vda → 0, sdb → 1, ..., sdaa → 26. */
export function diskIndex(dev: string): number {
  const m = /^(?:sd|hd|vd)([a-z]+)$/.exec(dev);
  if (!m?.[1]) throw new AgentError("invalid_arg", `disk target '${dev}' is not of the form sdX, hdX or vdX`, { component: "qemu" });
  let n = 0;
  for (const ch of m[1]) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/** libvirt's default drive address for a disk from its target name and bus. */
export function defaultDriveAddress(disk: DiskDef, family: MachineFamily): DriveAddress {
  const idx = diskIndex(disk.target.dev);
  switch (disk.target.bus) {
    case "ide":
      if (family === "q35") throw new AgentError("config_unsupported", `disk ${disk.target.dev}: IDE is not available on q35 machines (use sata)`, { component: "qemu" });
      if (idx > 3) throw new AgentError("config_unsupported", `disk ${disk.target.dev}: IDE has only 4 positions (hda-hdd)`, { component: "qemu" });
      return { controller: 0, bus: Math.floor(idx / 2), target: 0, unit: idx % 2 };
    case "sata":
      if (idx >= AHCI_PORTS) throw new AgentError("config_unsupported", `disk ${disk.target.dev}: one AHCI controller has ${AHCI_PORTS} ports (sda-sdf)`, { component: "qemu" });
      return { controller: 0, bus: 0, target: 0, unit: idx };
    default:
      return { controller: 0, bus: 0, target: 0, unit: idx };
  }
}

function assignDriveAddresses(disks: DiskDef[], family: MachineFamily): DiskDef[] {
  const seen = new Map<string, string>();
  return disks.map((k) => {
    if (k.target.bus === "virtio") return k;
    if (isPciAddress(k.address)) throw new AgentError("invalid_arg", `disk ${k.target.dev}: a ${k.target.bus} disk needs a drive address, not a PCI one`, { component: "qemu" });
    const a = k.address ?? defaultDriveAddress(k, family);
    const key = `${k.target.bus}:${a.controller}:${a.bus}:${a.target}:${a.unit}`;
    const other = seen.get(key);
    if (other) throw new AgentError("invalid_arg", `disks ${other} and ${k.target.dev} have the same ${k.target.bus} drive address`, { component: "qemu" });
    seen.set(key, k.target.dev);
    return k.address ? k : { ...k, address: a };
  });
}

/**
 * Slots for controllers the builder adds on its own (AHCI on pc, virtio-scsi, virtio-serial,
 * xhci on q35), taken from the highest free slot downwards so they never move the devices
 * that assignAddresses packed from slot 1 upwards.
 * @throws AgentError config_unsupported when bus 0 is full.
 */
export function implicitSlots(def: DomainDef, family: MachineFamily, count: number): number[] {
  const taken = new Set<number>(reservedSlots(family));
  for (const u of [...controllerUsers(def, family), ...pciUsers(cloneDevices(def))]) if (u.address?.bus === 0) taken.add(u.address.slot);
  const slots: number[] = [];
  for (let s = PCI_SLOTS - 1; s > 0 && slots.length < count; s--) if (!taken.has(s)) slots.push(s);
  if (slots.length < count) throw new AgentError("config_unsupported", "no free PCI slot on bus 0 for the disk/channel/USB controllers", { component: "qemu" });
  return slots;
}

function randomMac(random: () => number): string {
  const byte = (): string => Math.floor(random() * 256).toString(16).padStart(2, "0");
  return `${MAC_PREFIX}:${byte()}:${byte()}:${byte()}`;
}

/**
 * Returns a copy of `def` where every interface without a MAC gets a 52:54:00:xx:xx:xx one
 * (QEMU's OUI, as libvirt), unique within the definition.
 * @param random a [0,1) source (Math.random in production, fixed in tests).
 * @throws AgentError invalid_arg on a malformed or duplicated user MAC.
 */
export function assignMacs(def: DomainDef, random: () => number): DomainDef {
  const used = new Set<string>();
  for (const n of def.devices.interfaces) {
    if (n.mac === undefined) continue;
    if (!MAC_RE.test(n.mac)) throw new AgentError("invalid_arg", `interface MAC '${n.mac}' is not of the form xx:xx:xx:xx:xx:xx`, { component: "qemu" });
    if (used.has(n.mac.toLowerCase())) throw new AgentError("invalid_arg", `MAC ${n.mac} is used by two interfaces`, { component: "qemu" });
    used.add(n.mac.toLowerCase());
  }
  const interfaces = def.devices.interfaces.map((n) => {
    if (n.mac !== undefined) return n;
    for (let tries = 0; tries < 1000; tries++) {
      const mac = randomMac(random);
      if (!used.has(mac)) {
        used.add(mac);
        return { ...n, mac };
      }
    }
    throw new AgentError("internal", "could not draw a unique MAC address (random source stuck?)", { component: "qemu" });
  });
  return { ...def, devices: { ...def.devices, interfaces } };
}
