/**
 * Pure: disks of a hand-written QEMU command line → DiskDef. Understands the legacy
 * forms (-hda…-hdd, -cdrom, -drive if=ide|virtio|scsi) and the modern ones (-blockdev
 * node chains referenced by -device virtio-blk-pci/ide-hd/ide-cd/scsi-hd/scsi-cd drive=…).
 */
import type { DiskBus, DiskDef } from "../../model/domain-def.js";
import { parseOptList, isOn, type CmdOption, type OptList } from "./attach-opts.js";

/** A disk and the ids QMP knows it by (qdev id, drive/node name), for the QMP check. */
export interface AttachedDisk {
  disk: DiskDef;
  /** `-drive id=` / blockdev node-name, as query-block's `device` or `inserted.node-name`. */
  drive?: string;
  /** `-device …,id=` as query-block's `qdev` and query-pci's `qdev_id`. */
  qdev?: string;
}

interface Backing {
  path?: string;
  format?: string;
  readonly: boolean;
  media?: string;
  iface?: string;
  index?: number;
}

const LEGACY_SLOTS: Record<string, number> = { hda: 0, hdb: 1, hdc: 2, hdd: 3 };

function diskName(prefix: "hd" | "vd" | "sd", index: number): string {
  return `${prefix}${String.fromCharCode(97 + index)}`;
}

function diskDef(dev: string, bus: DiskBus, b: Backing, cdrom: boolean): DiskDef {
  const format = b.format === "qcow2" ? "qcow2" : "raw";
  const d: DiskDef = {
    type: b.path?.startsWith("/dev/") ? "block" : "file",
    device: cdrom ? "cdrom" : "disk",
    driver: { name: "qemu", type: format },
    target: { dev, bus },
    readonly: cdrom || b.readonly,
  };
  if (b.path !== undefined && b.path !== "") d.source = b.path;
  return d;
}

/** -blockdev nodes by node-name, with `file=` references followed to the protocol node. */
function blockdevNodes(options: readonly CmdOption[]): Map<string, Backing> {
  const raw = new Map<string, OptList>();
  for (const o of options) {
    if (o.name !== "blockdev" || o.value === undefined) continue;
    const b = parseOptList(o.value);
    const id = b.props.get("node-name");
    if (id !== undefined) raw.set(id, b);
  }
  const resolve = (b: OptList, depth: number): Backing => {
    const driver = b.props.get("driver");
    const fileRef = b.props.get("file");
    const inner = fileRef !== undefined && depth < 8 ? raw.get(fileRef) : undefined;
    const below = inner ? resolve(inner, depth + 1) : undefined;
    const path = b.props.get("filename") ?? b.props.get("file.filename") ?? below?.path;
    const protocol = driver === "file" || driver === "host_device" || driver === "host_cdrom";
    const format = protocol ? below?.format : (driver ?? below?.format);
    return { path, format, readonly: isOn(b.props.get("read-only")) || (below?.readonly ?? false) };
  };
  const out = new Map<string, Backing>();
  for (const [id, b] of raw) out.set(id, resolve(b, 0));
  return out;
}

function driveBacking(p: OptList): Backing {
  const idx = p.props.get("index");
  return {
    path: p.props.get("file"),
    format: p.props.get("format"),
    readonly: isOn(p.props.get("readonly")),
    media: p.props.get("media"),
    iface: p.props.get("if"),
    index: idx === undefined ? undefined : Number(idx),
  };
}

/** Front-end device models → (bus, cdrom); undefined for devices that are not disks. */
const DISK_DEVICES: Record<string, { bus: DiskBus; cdrom: boolean }> = {
  "virtio-blk-pci": { bus: "virtio", cdrom: false },
  "virtio-blk": { bus: "virtio", cdrom: false },
  "ide-hd": { bus: "ide", cdrom: false },
  "ide-cd": { bus: "ide", cdrom: true },
  "ide-drive": { bus: "ide", cdrom: false },
  "scsi-hd": { bus: "scsi", cdrom: false },
  "scsi-cd": { bus: "scsi", cdrom: true },
};

export function isDiskDevice(model: string | undefined): boolean {
  return model !== undefined && model in DISK_DEVICES;
}

class Namer {
  private readonly used = new Set<string>();

  take(prefix: "hd" | "vd" | "sd", wanted?: number): string {
    if (wanted !== undefined && wanted >= 0 && wanted < 26 && !this.used.has(diskName(prefix, wanted))) return this.add(diskName(prefix, wanted));
    for (let i = 0; i < 26; i++) if (!this.used.has(diskName(prefix, i))) return this.add(diskName(prefix, i));
    return this.add(`${prefix}zz`);
  }

  private add(n: string): string {
    this.used.add(n);
    return n;
  }
}

/**
 * Every disk, in command-line order. `q35` puts ide-hd on AHCI (libvirt calls that bus
 * sata, sdX); on `pc` it is hdX.
 */
export function parseDisks(options: readonly CmdOption[], q35: boolean): AttachedDisk[] {
  const nodes = blockdevNodes(options);
  const drives = new Map<string, Backing>();
  const out: AttachedDisk[] = [];
  const names = new Namer();
  for (const o of options) {
    if (o.value === undefined) continue;
    if (o.name in LEGACY_SLOTS || o.name === "cdrom") {
      const cdrom = o.name === "cdrom";
      const dev = names.take(q35 ? "sd" : "hd", cdrom ? 2 : LEGACY_SLOTS[o.name]);
      out.push({ disk: diskDef(dev, q35 ? "sata" : "ide", { path: o.value, readonly: false }, cdrom) });
    } else if (o.name === "drive") {
      const p = parseOptList(o.value);
      const b = driveBacking(p);
      const id = p.props.get("id");
      if (b.iface === "none" && id !== undefined) drives.set(id, b);
      else out.push(legacyDrive(b, id, q35, names));
    } else if (o.name === "device") {
      const d = parseOptList(o.value);
      const model = d.head ?? d.props.get("driver");
      const kind = model === undefined ? undefined : DISK_DEVICES[model];
      if (!kind) continue;
      const ref = d.props.get("drive");
      const b = ref === undefined ? { readonly: false } : (nodes.get(ref) ?? drives.get(ref) ?? { readonly: false });
      const bus: DiskBus = kind.bus === "ide" && q35 ? "sata" : kind.bus;
      const dev = names.take(bus === "virtio" ? "vd" : bus === "ide" ? "hd" : "sd");
      out.push({ disk: diskDef(dev, bus, b, kind.cdrom), drive: ref, qdev: d.props.get("id") });
    }
  }
  return out;
}

function legacyDrive(b: Backing, id: string | undefined, q35: boolean, names: Namer): AttachedDisk {
  const iface = b.iface ?? "ide";
  const cdrom = b.media === "cdrom";
  let disk: DiskDef;
  if (iface === "virtio") disk = diskDef(names.take("vd", b.index), "virtio", b, false);
  else if (iface === "scsi") disk = diskDef(names.take("sd", b.index), "scsi", b, cdrom);
  else disk = diskDef(names.take(q35 ? "sd" : "hd", b.index), q35 ? "sata" : "ide", b, cdrom);
  return id === undefined ? { disk } : { disk, drive: id };
}
