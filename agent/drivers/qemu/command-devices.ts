/**
 * Pure per-device argv fragments for buildCommand: disks (-blockdev storage + format node
 * and -device), implicit controllers, NICs on inherited tap fds, video, inputs, serials,
 * virtio-serial channels and the balloon. Every PCI device gets an explicit bus/addr.
 */
import type { DiskDef, DomainDef, DriveAddress, InterfaceDef, PciAddress, VideoDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { isPciAddress, type MachineFamily } from "./address.js";
import { pciPlacement } from "./command-pci.js";
import type { LaunchContext } from "./command.js";
import { idValue, onOff, optPath, optValue, opts } from "./qemu-opts.js";

export interface BuildState {
  family: MachineFamily;
  /** Name of PCI bus 0 (pci.0 or pcie.0). */
  bus: string;
  /** bootindex by device key ("disk:0", "net:1"). */
  bootIndex: Map<string, number>;
  ctx: LaunchContext;
}

/** Maximum length of a unix socket path (sun_path is 108 bytes including the NUL). */
const SUN_PATH_MAX = 107;

function unsupported(message: string): never {
  throw new AgentError("config_unsupported", message, { component: "qemu" });
}

/** Cache mode → QEMU's three knobs (cache.direct, cache.no-flush, device write-cache), as libvirt maps them. */
function cacheKnobs(disk: DiskDef): { direct?: string; noFlush?: string; writeCache?: string } {
  switch (disk.driver.cache) {
    case "none":
      return { direct: "on", noFlush: "off" };
    case "writethrough":
      return { direct: "off", noFlush: "off", writeCache: "off" };
    case "directsync":
      return { direct: "on", noFlush: "off", writeCache: "off" };
    case "unsafe":
      return { direct: "off", noFlush: "on" };
    case "writeback":
      return { direct: "off", noFlush: "off" };
    default:
      return {};
  }
}

function isReadOnly(disk: DiskDef): boolean {
  return disk.readonly || disk.device === "cdrom";
}

function blockdevArgs(disk: DiskDef, node: string, source: string): string[] {
  const c = cacheKnobs(disk);
  const ro = onOff(isReadOnly(disk));
  const cache = { "cache.direct": c.direct, "cache.no-flush": c.noFlush };
  const storage = opts(`driver=${disk.type === "block" ? "host_device" : "file"}`, {
    filename: optPath(source, `disk ${disk.target.dev} source`),
    "node-name": `${node}-storage`,
    "auto-read-only": "on",
    discard: "unmap",
    ...cache,
    aio: disk.driver.io,
  });
  // libvirt passes discard to the format node too; without it qcow2 drops the guest's discards.
  const discard = disk.driver.discard;
  const format = opts(`driver=${disk.driver.type}`, { file: `${node}-storage`, "node-name": `${node}-format`, "read-only": ro, ...cache, discard, "detect-zeroes": disk.driver.detectZeroes });
  return ["-blockdev", storage, "-blockdev", format];
}

function driveBus(st: BuildState, disk: DiskDef): Record<string, string | number> {
  const a = disk.address as DriveAddress | undefined;
  if (!a || isPciAddress(a)) throw new AgentError("internal", `disk ${disk.target.dev} has no drive address (assignAddresses not run)`, { component: "qemu" });
  if (a.controller !== 0) unsupported(`disk ${disk.target.dev}: only controller 0 is supported for ${disk.target.bus}`);
  if (disk.target.bus === "ide") return { bus: `ide.${a.bus}`, unit: a.unit };
  if (disk.target.bus === "sata") return { bus: st.family === "q35" ? `ide.${a.unit}` : `sata0.${a.unit}` };
  return { bus: "scsi0.0", channel: 0, "scsi-id": a.target, lun: a.unit };
}

function diskModel(disk: DiskDef): string {
  const cd = disk.device === "cdrom";
  switch (disk.target.bus) {
    case "virtio":
      if (cd) unsupported(`disk ${disk.target.dev}: a cdrom cannot be on the virtio bus`);
      return "virtio-blk-pci";
    case "scsi":
      return cd ? "scsi-cd" : "scsi-hd";
    default:
      // QEMU refuses a read-only ide-hd ("Can't use a read-only drive").
      if (!cd && disk.readonly) unsupported(`disk ${disk.target.dev}: read-only ${disk.target.bus} hard disks are not supported by QEMU`);
      return cd ? "ide-cd" : "ide-hd";
  }
}

function diskDeviceArg(st: BuildState, disk: DiskDef, i: number): string {
  const where = disk.target.bus === "virtio" ? pciPlacement(st, disk.address as PciAddress | undefined, `disk ${disk.target.dev}`) : driveBus(st, disk);
  return opts(diskModel(disk), {
    ...where,
    drive: disk.source === undefined ? undefined : `disk${i}-format`,
    id: `disk-${idValue(disk.target.dev, "disk target")}`,
    serial: disk.serial === undefined ? undefined : optValue(disk.serial, `disk ${disk.target.dev} serial`),
    "write-cache": cacheKnobs(disk).writeCache,
    bootindex: st.bootIndex.get(`disk:${i}`),
  });
}

export function diskArgs(def: DomainDef, st: BuildState): string[] {
  return def.devices.disks.flatMap((disk, i) => {
    if (disk.source === undefined && disk.device !== "cdrom") {
      throw new AgentError("invalid_arg", `disk ${disk.target.dev} has no source (only a cdrom may be empty)`, { component: "qemu" });
    }
    const block = disk.source === undefined ? [] : blockdevArgs(disk, `disk${i}`, disk.source);
    return [...block, "-device", diskDeviceArg(st, disk, i)];
  });
}

const NIC_MODELS: Readonly<Record<string, string>> = { virtio: "virtio-net-pci", e1000: "e1000", e1000e: "e1000e", rtl8139: "rtl8139" };

function nicArgs(st: BuildState, n: InterfaceDef, i: number): string[] {
  const fd = st.ctx.tapFds[i];
  if (fd === undefined) throw new AgentError("internal", `no tap fd was passed for interface ${i}`, { component: "qemu" });
  const model = NIC_MODELS[n.model] ?? unsupported(`interface model '${n.model}' is not supported (virtio, e1000, e1000e, rtl8139)`);
  if (n.mac === undefined) throw new AgentError("internal", `interface ${i} has no MAC (assignMacs not run)`, { component: "qemu" });
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(n.mac)) throw new AgentError("invalid_arg", `interface ${i} MAC '${n.mac}' is malformed`, { component: "qemu" });
  const dev = opts(model, {
    netdev: `hostnet${i}`,
    id: `net${i}`,
    mac: n.mac.toLowerCase(),
    ...pciPlacement(st, n.address, `interface ${i}`),
    bootindex: st.bootIndex.get(`net:${i}`),
  });
  return ["-netdev", `tap,id=hostnet${i},fd=${fd}`, "-device", dev];
}

export function interfaceArgs(def: DomainDef, st: BuildState): string[] {
  return def.devices.interfaces.flatMap((n, i) => nicArgs(st, n, i));
}

const VIDEO_MODELS = { vga: "VGA", cirrus: "cirrus-vga", virtio: "virtio-vga", qxl: "qxl-vga", bochs: "bochs-display" } as const;

const mib = (kib: number | undefined): number | undefined => (kib === undefined ? undefined : Math.max(1, Math.round(kib / 1024)));

/**
 * Video memory as libvirt maps it: vga vram → vgamem_mb, bochs vram → vgamem (bytes), qxl
 * ram/vram → BAR sizes in bytes and vgamem → vgamem_mb. cirrus has a fixed-size VGA RAM and
 * virtio none: libvirt passes nothing for them either (their vram is informative).
 */
function videoMemory(v: VideoDef): Record<string, number | undefined> {
  switch (v.model) {
    case "vga":
      return { vgamem_mb: mib(v.vram) };
    case "bochs":
      return { vgamem: v.vram === undefined ? undefined : v.vram * 1024 };
    case "qxl":
      return { ram_size: v.ram === undefined ? undefined : v.ram * 1024, vram_size: v.vram === undefined ? undefined : v.vram * 1024, vgamem_mb: mib(v.vgamem) };
    default:
      return {};
  }
}

export function videoArgs(def: DomainDef, st: BuildState): string[] {
  const videos = def.devices.videos.filter((v) => v.model !== "none");
  if (videos.length > 1) unsupported("only one video device is supported");
  const v = videos[0];
  if (!v || v.model === "none") return [];
  return ["-device", opts(VIDEO_MODELS[v.model], { id: "video0", ...videoMemory(v), ...pciPlacement(st, v.address, "video 0") })];
}

const USB_INPUTS = { tablet: "usb-tablet", keyboard: "usb-kbd", mouse: "usb-mouse" } as const;

/** A given port when set, else the preferred one unless taken, else the lowest free one from 1. */
export function pickPort<T>(given: T | undefined, preferred: T, used: Set<T>, next: (n: number) => T): T {
  if (given !== undefined) return given;
  let p = preferred;
  for (let n = 1; used.has(p); n++) p = next(n);
  used.add(p);
  return p;
}

/**
 * USB ports of the USB inputs (by input index) and of the redirdevs: given ones as they are,
 * the others their list position + 1 (inputs first) unless taken, else the lowest free one.
 */
export function usbPorts(def: DomainDef): { inputs: Map<number, string>; redirs: string[] } {
  const redirdevs = def.devices.redirdevs ?? [];
  const given = [...def.devices.inputs, ...redirdevs].flatMap((x) => (x.address !== undefined ? [x.address.port] : []));
  const used = new Set(given);
  const inputs = new Map<number, string>();
  def.devices.inputs.forEach((inp, i) => inp.bus === "usb" && inputs.set(i, pickPort(inp.address?.port, String(i + 1), used, String)));
  const base = def.devices.inputs.length;
  const redirs = redirdevs.map((r, i) => pickPort(r.address?.port, String(base + i + 1), used, String));
  for (const x of [...def.devices.inputs, ...redirdevs]) {
    if (x.address !== undefined && x.address.bus !== 0) unsupported(`USB bus ${x.address.bus} does not exist (one USB controller)`);
  }
  return { inputs, redirs };
}

/** PS/2 keyboard and mouse are part of the pc/q35 board (i8042) and need no argv. */
export function inputArgs(def: DomainDef): string[] {
  const ports = usbPorts(def).inputs;
  return def.devices.inputs.flatMap((inp, i) => {
    if (inp.bus === "ps2") {
      if (inp.type === "tablet") unsupported("a tablet cannot be on the ps2 bus");
      return [];
    }
    if (inp.bus === "virtio") unsupported(`virtio ${inp.type} input is not supported (use bus='usb')`);
    return ["-device", opts(USB_INPUTS[inp.type], { id: `input${i}`, bus: "usb.0", port: ports.get(i) })];
  });
}

/** Serial ports, with <console> joined to the serial of the same target port (libvirt's alias). */
export function serialArgs(def: DomainDef): string[] {
  const ports = new Map<number, (typeof def.devices.serials)[number]>();
  const consoles = def.devices.consoles.filter((c) => c.targetType !== "virtio");
  for (const c of [...def.devices.serials, ...consoles]) if (!ports.has(c.targetPort)) ports.set(c.targetPort, c);
  return [...ports.values()].flatMap((c) => {
    const p = c.targetPort;
    if (!Number.isInteger(p) || p < 0 || p > 3) throw new AgentError("invalid_arg", `serial target port ${p} is outside 0-3`, { component: "qemu" });
    const chardev =
      c.type === "pty"
        ? `pty,id=charserial${p}`
        : opts("file", { id: `charserial${p}`, path: optPath(c.path ?? "", `serial ${p} path`), append: "on" });
    return ["-chardev", chardev, "-device", opts("isa-serial", { chardev: `charserial${p}`, id: `serial${p}`, index: p })];
  });
}

/** A `<console><target type='virtio'>`: virtconsole on port 0 of virtio-serial0, which only a console may use. */
export function virtioConsoleArgs(def: DomainDef): string[] {
  const list = def.devices.consoles.filter((c) => c.targetType === "virtio");
  if (list.length > 1) unsupported("at most one virtio console is supported");
  const c = list[0];
  if (c === undefined) return [];
  const chardev = c.type === "pty" ? "pty,id=charconsole0" : opts("file", { id: "charconsole0", path: optPath(c.path ?? "", "console path"), append: "on" });
  return ["-chardev", chardev, "-device", opts("virtconsole", { bus: "virtio-serial0.0", nr: 0, chardev: "charconsole0", id: "console0" })];
}

/** Where a channel without a path of its own gets its socket (in the domain's private directory). @throws invalid_arg for a bad name */
export function channelSocketPath(privateDir: string, targetName: string): string {
  return `${privateDir}/channel.${idValue(targetName, "channel target name")}.sock`;
}

export function channelArgs(def: DomainDef, st: BuildState): string[] {
  const used = new Set(def.devices.channels.flatMap((ch) => (ch.address !== undefined ? [ch.address.port] : [])));
  return def.devices.channels.flatMap((ch, i) => {
    const a = ch.address;
    if (a !== undefined && (a.controller !== 0 || a.bus !== 0)) unsupported(`channel ${i}: virtio-serial controller ${a.controller} bus ${a.bus} does not exist`);
    const nr = pickPort(a?.port, i + 1, used, (n) => n);
    const name = idValue(ch.targetName, "channel target name");
    const port = opts("virtserialport", { bus: "virtio-serial0.0", nr, chardev: `charchannel${i}`, id: `channel${i}`, name });
    // The spice server carries the agent channel; "vdagent" is its name for it.
    if (ch.type === "spicevmc") return ["-chardev", `spicevmc,id=charchannel${i},name=vdagent`, "-device", port];
    const fd = st.ctx.channelFds?.[i];
    if (fd !== undefined) return ["-chardev", opts("socket", { id: `charchannel${i}`, fd, server: "on", wait: "off" }), "-device", port];
    const path = ch.path ?? channelSocketPath(st.ctx.runDir, name);
    if (Buffer.byteLength(path) > SUN_PATH_MAX) {
      throw new AgentError("invalid_arg", `channel socket path is longer than ${SUN_PATH_MAX} bytes: ${path}`, { component: "qemu" });
    }
    const chardev = opts("socket", { id: `charchannel${i}`, path: optPath(path, `channel ${name} path`), server: "on", wait: "off" });
    return ["-chardev", chardev, "-device", port];
  });
}

/** The stats period is not a device property: the driver sets guest-stats-polling-interval over QMP after start. */
export function balloonArgs(def: DomainDef, st: BuildState): string[] {
  const b = def.devices.memballoon;
  if (!b || b.model === "none") return [];
  return ["-device", opts("virtio-balloon-pci", { id: "balloon0", ...pciPlacement(st, b.address, "memballoon") })];
}
