/**
 * Parsing of `<devices>` for domain-xml.ts (pure). Same error conventions: xml_error for
 * missing/ill-formed values, config_unsupported for anything outside the subset.
 */
import { CONTROLLER_TYPES, DISK_BUSES, INTERFACE_TYPES } from "./domain-def.js";
import type {
  ChannelDef,
  CharDevDef,
  ControllerDef,
  ControllerType,
  DevicesDef,
  DiskBus,
  DiskDef,
  GraphicsDef,
  InputDef,
  InterfaceDef,
  MemballoonDef,
  PciAddress,
  VideoDef,
} from "./domain-def.js";
import { parseAddress } from "./domain-xml-address.js";
import { parseExtraDevices } from "./domain-xml-extra.js";
import { AgentError } from "./errors.js";
import type { XEl } from "./xml-reader.js";


const U32 = 0xffffffff;
const DISK_CACHES = ["none", "writeback", "writethrough", "directsync", "unsafe"] as const;
const NIC_MODELS = ["virtio", "e1000", "rtl8139", "e1000e"] as const;
const VIDEO_MODELS = ["vga", "cirrus", "virtio", "qxl", "bochs", "none"] as const;

/** libvirt model names accepted per controller type; an empty list means no model attribute. */
const CONTROLLER_MODELS: Record<ControllerType, readonly string[]> = {
  pci: ["pci-root", "pcie-root", "pci-bridge", "pcie-root-port", "dmi-to-pci-bridge", "pcie-to-pci-bridge"],
  usb: ["piix3-uhci", "piix4-uhci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3", "qemu-xhci", "nec-xhci", "none"],
  scsi: ["virtio-scsi", "lsilogic", "lsisas1068"],
  sata: [],
  ide: [],
  "virtio-serial": [],
};

function xmlError(message: string): AgentError {
  return new AgentError("xml_error", message, { component: "conf" });
}

function parsePciAddress(parent: XEl): PciAddress | undefined {
  return parseAddress(parent, ["pci"]);
}

function parseBootOrder(parent: XEl): number | undefined {
  const b = parent.child("boot");
  if (b === undefined) return undefined;
  const order = b.reqIntAttr("order", 1, U32);
  b.finish();
  return order;
}

/** libvirt infers a missing disk bus from the target name prefix. */
function inferBus(dev: string): DiskBus | undefined {
  const map: Record<string, DiskBus> = { vd: "virtio", sd: "scsi", hd: "ide" };
  return map[dev.slice(0, 2)];
}

function parseDiskDriver(x: XEl): DiskDef["driver"] {
  const d = x.child("driver");
  const driver: DiskDef["driver"] = { name: "qemu", type: "raw" };
  if (d === undefined) return driver;
  d.enumAttr("name", ["qemu"], "qemu");
  driver.type = d.enumAttr("type", ["raw", "qcow2"], "raw");
  const cache = d.optEnumAttr("cache", DISK_CACHES);
  if (cache !== undefined) driver.cache = cache;
  const discard = d.optEnumAttr("discard", ["unmap", "ignore"] as const);
  if (discard !== undefined) driver.discard = discard;
  const io = d.optEnumAttr("io", ["native", "threads", "io_uring"] as const);
  if (io !== undefined) driver.io = io;
  const dz = d.optEnumAttr("detect_zeroes", ["off", "on", "unmap"] as const);
  if (dz !== undefined) driver.detectZeroes = dz;
  d.finish();
  return driver;
}

function parseDiskTarget(x: XEl): DiskDef["target"] {
  const t = x.child("target");
  if (t === undefined) throw xmlError(`missing element <${x.path}/target>`);
  const dev = t.reqAttr("dev");
  const inferred = inferBus(dev);
  if (t.node.attrs.bus === undefined && inferred === undefined) throw xmlError(`missing attribute 'bus' on <${t.path}>`);
  const bus = t.enumAttr("bus", DISK_BUSES, inferred);
  t.finish();
  return { dev, bus };
}

function parseDisk(x: XEl): DiskDef {
  const type = x.enumAttr("type", ["file", "block"], "file");
  const disk: DiskDef = {
    type,
    device: x.enumAttr("device", ["disk", "cdrom"], "disk"),
    driver: parseDiskDriver(x),
    target: parseDiskTarget(x),
    readonly: x.flag("readonly"),
  };
  const src = x.child("source");
  if (src !== undefined) {
    disk.source = src.reqAttr(type === "file" ? "file" : "dev");
    src.finish();
  }
  const serial = x.childText("serial");
  if (serial !== undefined) disk.serial = serial;
  const boot = parseBootOrder(x);
  if (boot !== undefined) disk.bootOrder = boot;
  const address = parseAddress(x, ["pci", "drive"]);
  if (address !== undefined) disk.address = address;
  x.finish();
  return disk;
}

function parseNicSource(x: XEl, nic: InterfaceDef): void {
  if (nic.type === "ethernet") return; // no <source>: finish() rejects one
  const s = x.child("source");
  if (s === undefined) throw xmlError(`missing element <${x.path}/source> for interface type '${nic.type}'`);
  nic.source = s.reqAttr(nic.type);
  s.finish();
}

function parseInterface(x: XEl): InterfaceDef {
  // libvirt's QEMU driver picks rtl8139 on x86 when no model is given.
  const nic: InterfaceDef = { type: x.enumAttr("type", INTERFACE_TYPES), model: "rtl8139" };
  parseNicSource(x, nic);
  const mac = x.child("mac");
  if (mac !== undefined) {
    nic.mac = mac.reqAttr("address").toLowerCase();
    mac.finish();
  }
  const model = x.child("model");
  if (model !== undefined) {
    nic.model = model.enumAttr("type", NIC_MODELS);
    model.finish();
  }
  const t = x.child("target");
  if (t !== undefined) {
    nic.target = { dev: t.reqAttr("dev"), managed: t.boolAttr("managed", true) };
    t.finish();
  }
  const boot = parseBootOrder(x);
  if (boot !== undefined) nic.bootOrder = boot;
  const drv = x.child("driver");
  if (drv !== undefined) {
    // vhost needs a /dev/vhost-net fd the agent does not open; queues > 1 needs multiqueue taps.
    nic.driverName = drv.enumAttr("name", ["qemu"] as const, "qemu");
    drv.finish();
  }
  const link = x.child("link");
  if (link !== undefined) {
    // 'down' would need QMP set_link after every start; only the default state is accepted.
    nic.linkState = link.enumAttr("state", ["up"] as const);
    link.finish();
  }
  const address = parsePciAddress(x);
  if (address !== undefined) nic.address = address;
  x.finish();
  return nic;
}

function parseListen(x: XEl): string {
  const attr = x.attr("listen");
  const l = x.child("listen");
  let child: string | undefined;
  if (l !== undefined) {
    l.enumAttr("type", ["address"]);
    child = l.attr("address"); // libvirt writes <listen type='address'/> for the default
    l.finish();
  }
  if (attr !== undefined && child !== undefined && attr !== child) {
    throw xmlError(`<${x.path}> listen attribute '${attr}' and <listen> address '${child}' differ`);
  }
  return attr ?? child ?? "127.0.0.1";
}

function parseGraphics(x: XEl): GraphicsDef {
  const type = x.enumAttr("type", ["vnc", "spice"]);
  const port = x.intAttr("port", -1, 0x7fffffff);
  const autoport = x.boolAttr("autoport", port === undefined || port === -1);
  const g: GraphicsDef = { type, port: autoport ? -1 : (port ?? -1), autoport, listen: parseListen(x) };
  const passwd = x.attr("passwd");
  if (passwd !== undefined) g.passwd = passwd;
  const image = type === "spice" ? x.child("image") : undefined;
  if (image !== undefined) {
    g.imageCompression = image.enumAttr("compression", ["auto_glz", "auto_lz", "quic", "glz", "lz", "off"] as const);
    image.finish();
  }
  x.finish();
  return g;
}

function parseVideo(x: XEl): VideoDef {
  const m = x.child("model");
  if (m === undefined) throw xmlError(`missing element <${x.path}/model>`);
  const v: VideoDef = { model: m.enumAttr("type", VIDEO_MODELS) };
  const vram = m.intAttr("vram", 0, U32);
  if (vram !== undefined) v.vram = vram;
  if (v.model === "qxl") {
    for (const k of ["ram", "vgamem"] as const) {
      const n = m.intAttr(k, 1, U32);
      if (n !== undefined) v[k] = n;
    }
  }
  // libvirt's dumpxml always writes heads='1' primary='yes'; both are what we do anyway.
  m.optEnumAttr("heads", ["1"]);
  m.optEnumAttr("primary", ["yes"]);
  m.finish();
  const address = parsePciAddress(x);
  if (address !== undefined) v.address = address;
  x.finish();
  return v;
}

function parseInput(x: XEl): InputDef {
  const type = x.enumAttr("type", ["keyboard", "mouse", "tablet"]);
  const input: InputDef = { type, bus: x.enumAttr("bus", ["ps2", "usb", "virtio"], type === "tablet" ? "usb" : "ps2") };
  const address = parseAddress(x, ["usb"]);
  if (address !== undefined) input.address = address;
  x.finish();
  return input;
}

function parseCharDev(x: XEl, targetType: "isa-serial" | "serial"): CharDevDef {
  const c: CharDevDef = { type: x.enumAttr("type", ["pty", "file"]), targetPort: 0 };
  if (c.type === "pty") x.ignore("tty"); // the pty a running guest got: runtime state, not config
  const src = x.child("source");
  if (c.type === "file") {
    if (src === undefined) throw xmlError(`missing element <${x.path}/source> for type 'file'`);
    c.path = src.reqAttr("path");
  } else src?.ignore("path"); // a pty's path is runtime state shown by dumpxml, not config
  src?.finish();
  const t = x.child("target");
  if (t !== undefined) {
    c.targetPort = t.intAttr("port", 0, 255) ?? 0;
    const type = t.optEnumAttr("type", targetType === "serial" ? ["serial", "virtio"] : [targetType]);
    if (type === "virtio") c.targetType = "virtio";
    const model = t.child("model");
    model?.enumAttr("name", ["isa-serial"]);
    model?.finish();
    t.finish();
  }
  x.finish();
  return c;
}

function parseChannel(x: XEl): ChannelDef {
  const type = x.enumAttr("type", ["unix", "spicevmc"] as const);
  const t = x.child("target");
  if (t === undefined) throw xmlError(`missing element <${x.path}/target>`);
  t.enumAttr("type", ["virtio"]);
  const ch: ChannelDef = { type, targetName: t.reqAttr("name") };
  t.finish();
  const src = type === "unix" ? x.child("source") : undefined;
  if (src !== undefined) {
    src.enumAttr("mode", ["bind"], "bind");
    const path = src.attr("path");
    if (path !== undefined) ch.path = path;
    src.finish();
  }
  const address = parseAddress(x, ["virtio-serial"]);
  if (address !== undefined) ch.address = address;
  x.finish();
  return ch;
}

function parseMemballoon(x: XEl): MemballoonDef {
  const mb: MemballoonDef = { model: x.enumAttr("model", ["virtio", "none"]) };
  const stats = x.child("stats");
  if (stats !== undefined) {
    mb.statsPeriod = stats.reqIntAttr("period", 0, 0x7fffffff);
    stats.finish();
  }
  const address = parsePciAddress(x);
  if (address !== undefined) mb.address = address;
  x.finish();
  return mb;
}

/** QEMU device names libvirt writes in `<controller><model name>` for each pci model. */
const PCI_MODEL_NAMES: Record<string, string> = {
  "pcie-root-port": "pcie-root-port",
  "pci-bridge": "pci-bridge",
  "pcie-to-pci-bridge": "pcie-pci-bridge",
  "dmi-to-pci-bridge": "i82801b11-bridge",
};

function parseControllerChildren(x: XEl, c: ControllerDef): void {
  for (const a of ["ports", "vectors"] as const) {
    const n = x.intAttr(a, 0, 0xffff);
    if (n !== undefined) c[a] = n;
  }
  const m = x.child("model");
  if (m !== undefined) {
    const want = PCI_MODEL_NAMES[c.model ?? ""];
    c.modelName = m.enumAttr("name", want !== undefined ? [want] : []);
    m.finish();
  }
  const t = x.child("target");
  if (t === undefined) return;
  c.target = {};
  const chassis = t.intAttr(c.model === "pci-bridge" ? "chassisNr" : "chassis", 0, 255);
  if (chassis !== undefined) c.target.chassis = chassis;
  const port = c.model === "pcie-root-port" ? t.intAttr("port", 0, 255, true) : undefined;
  if (port !== undefined) c.target.port = port;
  t.finish();
}

function parseController(x: XEl): ControllerDef {
  const type = x.enumAttr("type", CONTROLLER_TYPES);
  const c: ControllerDef = { type, index: x.intAttr("index", 0, 255) ?? 0 };
  const models = CONTROLLER_MODELS[type];
  if (models.length > 0) {
    const model = x.optEnumAttr("model", models);
    if (model !== undefined) c.model = model;
  }
  const address = parsePciAddress(x);
  if (address !== undefined) c.address = address;
  parseControllerChildren(x, c);
  x.finish();
  return c;
}

function emptyDevices(): DevicesDef {
  return { disks: [], interfaces: [], graphics: [], videos: [], inputs: [], serials: [], consoles: [], channels: [] };
}

/** Parses `<devices>`; an absent element gives empty lists. */
export function parseDevices(d: XEl | undefined): DevicesDef {
  const out = emptyDevices();
  if (d === undefined) return out;
  const emulator = d.childText("emulator");
  if (emulator !== undefined) out.emulator = emulator;
  out.disks = d.children("disk").map(parseDisk);
  const controllers = d.children("controller").map(parseController);
  if (controllers.length > 0) out.controllers = controllers;
  out.interfaces = d.children("interface").map(parseInterface);
  out.serials = d.children("serial").map((x) => parseCharDev(x, "isa-serial"));
  out.consoles = d.children("console").map((x) => parseCharDev(x, "serial"));
  out.channels = d.children("channel").map(parseChannel);
  out.inputs = d.children("input").map(parseInput);
  out.graphics = d.children("graphics").map(parseGraphics);
  out.videos = d.children("video").map(parseVideo);
  const mb = d.child("memballoon");
  if (mb !== undefined) out.memballoon = parseMemballoon(mb);
  parseExtraDevices(d, out);
  d.finish();
  return out;
}
