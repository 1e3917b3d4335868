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
  /** libvirt's multifunction='on' on function 0 of a slot whose other functions are used. */
  multifunction?: boolean;
}

/** `<address type='usb' bus port>`: port is a dotted hub path like "1" or "1.2". */
export interface UsbAddress {
  bus: number;
  port: string;
}

/** `<address type='virtio-serial' controller bus port>` of a channel. */
export interface VirtioSerialAddress {
  controller: number;
  bus: number;
  port: number;
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

/** `<loader>`: the UEFI code flash (read-only pflash), e.g. /usr/share/OVMF/OVMF_CODE_4M.fd. */
export interface LoaderDef {
  path: string;
  readonly: true;
  type: "pflash";
  /** Secure boot: needs `<smm state='on'/>` and q35 (→ cfi.pflash01 secure=on). */
  secure?: boolean;
}

/** `<nvram>`: the per-guest UEFI variable store (writable pflash) and its template. */
export interface NvramDef {
  path: string;
  template?: string;
}

export interface OsDef {
  type: "hvm";
  arch: string; // "x86_64"
  machine?: string; // canonicalised at define time, e.g. "pc-i440fx-7.2"
  boot: BootDevice[];
  bootMenu?: boolean;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** `<os firmware='efi'>`: the QEMU driver fills in loader and nvram at define when absent. */
  firmware?: "efi";
  loader?: LoaderDef;
  nvram?: NvramDef;
}

export interface FeaturesDef {
  acpi: boolean;
  apic: boolean;
  /** `<pae/>`: informative on x86_64 (every 64-bit CPU model has PAE); kept for round trip. */
  pae?: boolean;
  /** `<vmport state>` → `-machine vmport=on|off`. */
  vmport?: "on" | "off";
  /** `<smm state>` → `-machine smm=on|off` (secure boot needs on). */
  smm?: boolean;
}

export const CPU_MODES = ["custom", "host-model", "host-passthrough", "maximum"] as const;
export type CpuMode = (typeof CPU_MODES)[number];

export interface CpuTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

/** Policies we can honour on the -cpu line (force/require → on, disable → off). */
export const CPU_FEATURE_POLICIES = ["force", "require", "disable"] as const;
export type CpuFeaturePolicy = (typeof CPU_FEATURE_POLICIES)[number];

export interface CpuFeature {
  policy: CpuFeaturePolicy;
  name: string;
}

export interface CpuDef {
  mode: CpuMode;
  model?: string;
  /** `<cpu match>`: only 'exact', what `-cpu MODEL` gives. */
  match?: "exact";
  /** libvirt's check attribute: virtbus never compares with the host before start ('none'). */
  check?: "none" | "partial";
  /** `<model fallback>`: virtbus never substitutes a model (a model QEMU lacks fails the start). */
  fallback?: "allow" | "forbid";
  /** `<cpu migratable>` of host-passthrough / maximum → `-cpu host,migratable=on|off`. */
  migratable?: boolean;
  topology?: CpuTopology;
  features?: CpuFeature[];
}

export const TIMER_NAMES = ["rtc", "pit", "hpet"] as const;
export type TimerName = (typeof TIMER_NAMES)[number];

export interface TimerDef {
  name: TimerName;
  tickpolicy?: "catchup" | "delay";
  present?: boolean;
}

export interface ClockDef {
  offset: "utc" | "localtime";
  timers?: TimerDef[];
}

/** `<pm>`: S3/S4 advertised to the guest (ACPI), → `-global PIIX4_PM|ICH9-LPC.disable_s3/s4`. */
export interface PmDef {
  suspendToMem?: boolean;
  suspendToDisk?: boolean;
}

/** `<seclabel type='none' model?>`: no per-guest labelling, which is what virtbus does. */
export interface SeclabelDef {
  type: "none";
  model?: string;
}

export const DISK_BUSES = ["virtio", "sata", "ide", "scsi"] as const;
export type DiskBus = (typeof DISK_BUSES)[number];

export interface DiskDef {
  type: "file" | "block";
  device: "disk" | "cdrom";
  driver: {
    name: "qemu";
    type: "raw" | "qcow2";
    cache?: "none" | "writeback" | "writethrough" | "directsync" | "unsafe";
    /** Guest discard requests: passed down (unmap) or dropped (ignore, QEMU's default). */
    discard?: "unmap" | "ignore";
    /** Host AIO backend of the storage node (native needs cache none or directsync). */
    io?: "native" | "threads" | "io_uring";
    detectZeroes?: "off" | "on" | "unmap";
  };
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
  /** `<link state='up'>` only: 'down' needs a set_link after start, which the runtime does not do. */
  linkState?: "up";
  /** `<driver name='qemu'>`: userspace virtio-net, what virtbus does anyway (no vhost fd). */
  driverName?: "qemu";
}

export interface GraphicsDef {
  type: "vnc" | "spice";
  /** -1 means autoport. */
  port: number;
  autoport: boolean;
  listen: string;
  /** Never placed on argv: handed to QEMU through a secret object fed by fd. */
  passwd?: string;
  /** spice `<image compression>` → `-spice image-compression=`. */
  imageCompression?: "auto_glz" | "auto_lz" | "quic" | "glz" | "lz" | "off";
}

export interface VideoDef {
  model: "vga" | "cirrus" | "virtio" | "qxl" | "bochs" | "none";
  vram?: number; // KiB
  /** qxl only: BAR sizes in KiB, as libvirt's `ram` and `vgamem` attributes. */
  ram?: number;
  vgamem?: number;
  address?: PciAddress;
}

export interface InputDef {
  type: "keyboard" | "mouse" | "tablet";
  bus: "ps2" | "usb" | "virtio";
  address?: UsbAddress;
}

export interface CharDevDef {
  type: "pty" | "file";
  /** For type='file' the output path. */
  path?: string;
  targetPort: number;
  /** Only on `<console>`: 'virtio' is a virtconsole (hvc0) on virtio-serial; absent means the serial alias. */
  targetType?: "virtio";
}

export interface ChannelDef {
  /** spicevmc: the spice agent channel (com.redhat.spice.0) carried by the spice server. */
  type: "unix" | "spicevmc";
  /** Socket path; generated per domain when absent. */
  path?: string;
  targetName: string; // "org.qemu.guest_agent.0"
  address?: VirtioSerialAddress;
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
  /** `<model name>`: the QEMU device libvirt uses (pcie-root-port, pcie-pci-bridge, pci-bridge). */
  modelName?: string;
  /** `<target chassis port>` of a root port or PCI bridge. */
  target?: { chassis?: number; port?: number };
  /** `ports` / `vectors` attributes of virtio-serial and usb controllers. */
  ports?: number;
  vectors?: number;
}

export const SOUND_MODELS = ["ich6", "ich9", "ac97"] as const;
export type SoundModel = (typeof SOUND_MODELS)[number];

export interface SoundDef {
  model: SoundModel;
  /** id of the `<audio>` backend; libvirt uses the first audio when absent. */
  audioId?: number;
  address?: PciAddress;
}

/** `<audio type='none'>`: the guest sees a sound card whose output goes nowhere. */
export interface AudioDef {
  id: number;
  /** spice: sound goes to the spice client (needs spice graphics). */
  type: "none" | "spice";
}

/** `<redirdev bus='usb' type='spicevmc'>`: a USB port the spice client can redirect a device to. */
export interface RedirdevDef {
  bus: "usb";
  type: "spicevmc";
  address?: UsbAddress;
}

export interface RngDef {
  model: "virtio";
  /** `<backend model='random'>` device path: /dev/urandom, /dev/random or /dev/hwrng. */
  backend: string;
  rate?: { bytes: number; period?: number };
  address?: PciAddress;
}

export const WATCHDOG_ACTIONS = ["reset", "shutdown", "poweroff", "pause", "none", "inject-nmi"] as const;
export type WatchdogAction = (typeof WATCHDOG_ACTIONS)[number];

export interface WatchdogDef {
  model: "i6300esb" | "ib700";
  action: WatchdogAction;
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
  /** The lists below are absent when empty (additive fields; older defs omit them). */
  sounds?: SoundDef[];
  audios?: AudioDef[];
  rngs?: RngDef[];
  watchdogs?: WatchdogDef[];
  redirdevs?: RedirdevDef[];
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
  pm?: PmDef;
  /** `<resource><partition>`: only "/machine", libvirt's default, which means no placement. */
  resourcePartition?: string;
  seclabels?: SeclabelDef[];
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
