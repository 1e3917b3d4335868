/**
 * The in-memory domain definition: the documented subset of libvirt's domain XML
 * (docs/domain-xml.md lists it). Pure data; `domain-xml.ts` parses and formats it and
 * `validateDomainDef` holds the semantic checks shared by every driver.
 *
 * Sizes are normalised to KiB at parse time (libvirt does the same); optional fields are
 * absent rather than undefined-valued so that `parse(format(def))` deep-equals `def`.
 */
import type { LifecycleAction } from "./state.js";

export const DOMAIN_TYPES = ["kvm", "qemu"] as const;
export type DomainType = (typeof DOMAIN_TYPES)[number];

export interface PciAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

/** `<address type='drive' controller bus target unit>` for sata/ide/scsi disks. */
export interface DriveAddress {
  controller: number;
  bus: number;
  target: number;
  unit: number;
}

export const BOOT_DEVICES = ["hd", "cdrom", "network", "fd"] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];

export interface OsDef {
  type: "hvm";
  arch: string; // "x86_64"
  machine?: string; // canonicalised at define time, e.g. "pc-i440fx-7.2"
  boot: BootDevice[];
  bootMenu?: boolean;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

export interface FeaturesDef {
  acpi: boolean;
  apic: boolean;
}

export const CPU_MODES = ["custom", "host-model", "host-passthrough", "maximum"] as const;
export type CpuMode = (typeof CPU_MODES)[number];

export interface CpuDef {
  mode: CpuMode;
  model?: string;
}

export interface ClockDef {
  offset: "utc" | "localtime";
}

export const DISK_BUSES = ["virtio", "sata", "ide", "scsi"] as const;
export type DiskBus = (typeof DISK_BUSES)[number];

export interface DiskDef {
  type: "file" | "block";
  device: "disk" | "cdrom";
  driver: { name: "qemu"; type: "raw" | "qcow2"; cache?: "none" | "writeback" | "writethrough" | "directsync" | "unsafe" };
  /** Path of the file or block device; absent for an empty cdrom drive. */
  source?: string;
  target: { dev: string; bus: DiskBus };
  readonly: boolean;
  serial?: string;
  bootOrder?: number;
  address?: PciAddress | DriveAddress;
}

export const INTERFACE_TYPES = ["network", "bridge", "ethernet"] as const;
export type InterfaceType = (typeof INTERFACE_TYPES)[number];

export interface InterfaceDef {
  type: InterfaceType;
  /** Network name for type='network', host bridge for type='bridge'. */
  source?: string;
  mac?: string; // assigned at define time when absent
  model: string; // "virtio", "e1000", "rtl8139", "e1000e"
  target?: { dev: string; managed: boolean };
  bootOrder?: number;
  address?: PciAddress;
}

export interface GraphicsDef {
  type: "vnc" | "spice";
  /** -1 means autoport. */
  port: number;
  autoport: boolean;
  listen: string;
  /** Never placed on argv: handed to QEMU through a secret object fed by fd. */
  passwd?: string;
}

export interface VideoDef {
  model: "vga" | "cirrus" | "virtio" | "qxl" | "bochs" | "none";
  vram?: number; // KiB
  address?: PciAddress;
}

export interface InputDef {
  type: "keyboard" | "mouse" | "tablet";
  bus: "ps2" | "usb" | "virtio";
}

export interface CharDevDef {
  type: "pty" | "file";
  /** For type='file' the output path. */
  path?: string;
  targetPort: number;
}

export interface ChannelDef {
  type: "unix";
  /** Socket path; generated per domain when absent. */
  path?: string;
  targetName: string; // "org.qemu.guest_agent.0"
}

export interface MemballoonDef {
  model: "virtio" | "none";
  statsPeriod?: number; // seconds
  address?: PciAddress;
}

export const CONTROLLER_TYPES = ["pci", "usb", "sata", "ide", "scsi", "virtio-serial"] as const;
export type ControllerType = (typeof CONTROLLER_TYPES)[number];

/**
 * `<controller>` as libvirt writes it in dumpxml (pci-root, usb, sata, virtio-serial...),
 * accepted so that libvirt-generated XML imports; `model` is libvirt's model name.
 */
export interface ControllerDef {
  type: ControllerType;
  index: number;
  model?: string;
  address?: PciAddress;
}

export interface DevicesDef {
  emulator?: string;
  /** Absent when the XML has no <controller> (additive field; older defs omit it). */
  controllers?: ControllerDef[];
  disks: DiskDef[];
  interfaces: InterfaceDef[];
  graphics: GraphicsDef[];
  videos: VideoDef[];
  inputs: InputDef[];
  serials: CharDevDef[];
  consoles: CharDevDef[];
  channels: ChannelDef[];
  memballoon?: MemballoonDef;
}

export interface DomainDef {
  type: DomainType;
  name: string;
  uuid: string; // lower-case canonical 8-4-4-4-12
  title?: string;
  description?: string;
  /** The children of `<metadata>` as raw XML, kept verbatim. */
  metadata?: string;
  memoryKiB: number;
  currentMemoryKiB: number;
  vcpus: number;
  os: OsDef;
  features: FeaturesDef;
  cpu?: CpuDef;
  clock?: ClockDef;
  onPoweroff: LifecycleAction;
  onReboot: LifecycleAction;
  onCrash: LifecycleAction;
  devices: DevicesDef;
}

/** Defaults libvirt applies to an absent element, kept here so parser and drivers agree. */
export const DOMAIN_DEFAULTS = {
  onPoweroff: "destroy",
  onReboot: "restart",
  onCrash: "destroy",
} as const satisfies Partial<Record<keyof DomainDef, LifecycleAction>>;

export const MAX_VCPUS = 288;
