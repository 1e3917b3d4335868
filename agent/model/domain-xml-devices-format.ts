/** Formatting of `<devices>` for domain-xml.ts (pure), in the order libvirt prints them. */
import type {
  ChannelDef,
  CharDevDef,
  ControllerDef,
  DevicesDef,
  DiskDef,
  GraphicsDef,
  InterfaceDef,
  MemballoonDef,
  VideoDef,
} from "./domain-def.js";
import { formatAddress } from "./domain-xml-address.js";
import { formatAudio, formatRedirdev, formatRng, formatSound, formatWatchdog } from "./domain-xml-extra.js";
import { el } from "./xml-writer.js";

function formatBoot(order: number | undefined): string[] {
  return order === undefined ? [] : el("boot", [["order", order]]);
}

function formatDisk(d: DiskDef): string[] {
  return el("disk", [["type", d.type], ["device", d.device]], [
    ...el("driver", [["name", d.driver.name], ["type", d.driver.type], ["cache", d.driver.cache], ["io", d.driver.io], ["discard", d.driver.discard], ["detect_zeroes", d.driver.detectZeroes]]),
    ...(d.source !== undefined ? el("source", [[d.type === "file" ? "file" : "dev", d.source]]) : []),
    ...el("target", [["dev", d.target.dev], ["bus", d.target.bus]]),
    ...(d.readonly ? el("readonly") : []),
    ...(d.serial !== undefined ? el("serial", [], d.serial) : []),
    ...formatBoot(d.bootOrder),
    ...formatAddress(d.address),
  ]);
}

function formatController(c: ControllerDef): string[] {
  const t = c.target;
  const chassisKey = c.model === "pci-bridge" ? "chassisNr" : "chassis";
  const port = t?.port === undefined ? undefined : `0x${t.port.toString(16)}`;
  return el("controller", [["type", c.type], ["index", c.index], ["model", c.model], ["ports", c.ports], ["vectors", c.vectors]], [
    ...(c.modelName !== undefined ? el("model", [["name", c.modelName]]) : []),
    ...(t !== undefined ? el("target", [[chassisKey, t.chassis], ["port", port]]) : []),
    ...formatAddress(c.address),
  ]);
}

function formatInterface(n: InterfaceDef): string[] {
  return el("interface", [["type", n.type]], [
    ...(n.mac !== undefined ? el("mac", [["address", n.mac]]) : []),
    ...(n.source !== undefined ? el("source", [[n.type, n.source]]) : []),
    // managed='yes' is the default: libvirt writes only managed='no'
    ...(n.target !== undefined ? el("target", [["dev", n.target.dev], ["managed", n.target.managed ? undefined : "no"]]) : []),
    ...el("model", [["type", n.model]]),
    ...(n.driverName !== undefined ? el("driver", [["name", n.driverName]]) : []),
    ...formatBoot(n.bootOrder),
    ...(n.linkState !== undefined ? el("link", [["state", n.linkState]]) : []),
    ...formatAddress(n.address),
  ]);
}

function formatCharDev(name: "serial" | "console", c: CharDevDef): string[] {
  const targetType = name === "serial" ? "isa-serial" : (c.targetType ?? "serial");
  return el(name, [["type", c.type]], [
    ...(c.path !== undefined ? el("source", [["path", c.path]]) : []),
    ...el("target", [["type", targetType], ["port", c.targetPort]]),
  ]);
}

function formatChannel(c: ChannelDef): string[] {
  return el("channel", [["type", c.type]], [
    ...(c.path !== undefined ? el("source", [["mode", "bind"], ["path", c.path]]) : []),
    ...el("target", [["type", "virtio"], ["name", c.targetName]]),
    ...formatAddress(c.address),
  ]);
}

function formatGraphics(g: GraphicsDef, secure: boolean): string[] {
  const attrs: [string, string | number | undefined][] = [
    ["type", g.type],
    ["port", g.port],
    ["autoport", g.autoport ? "yes" : "no"],
    ["listen", g.listen],
    ["passwd", secure ? g.passwd : undefined],
  ];
  const image = g.imageCompression !== undefined ? el("image", [["compression", g.imageCompression]]) : [];
  return el("graphics", attrs, [...el("listen", [["type", "address"], ["address", g.listen]]), ...image]);
}

function formatVideo(v: VideoDef): string[] {
  return el("video", [], [...el("model", [["type", v.model], ["ram", v.ram], ["vram", v.vram], ["vgamem", v.vgamem]]), ...formatAddress(v.address)]);
}

function formatMemballoon(m: MemballoonDef): string[] {
  const stats = m.statsPeriod !== undefined ? el("stats", [["period", m.statsPeriod]]) : [];
  return el("memballoon", [["model", m.model]], [...stats, ...formatAddress(m.address)]);
}

/** `<devices>` as lines; `secure` controls whether graphics passwords are written. */
export function formatDevices(d: DevicesDef, secure: boolean): string[] {
  return el("devices", [], [
    ...(d.emulator !== undefined ? el("emulator", [], d.emulator) : []),
    ...d.disks.flatMap(formatDisk),
    ...(d.controllers ?? []).flatMap(formatController),
    ...d.interfaces.flatMap(formatInterface),
    ...d.serials.flatMap((c) => formatCharDev("serial", c)),
    ...d.consoles.flatMap((c) => formatCharDev("console", c)),
    ...d.channels.flatMap(formatChannel),
    ...d.inputs.flatMap((i) => el("input", [["type", i.type], ["bus", i.bus]], formatAddress(i.address))),
    ...d.graphics.flatMap((g) => formatGraphics(g, secure)),
    ...(d.sounds ?? []).flatMap(formatSound),
    ...(d.audios ?? []).flatMap(formatAudio),
    ...d.videos.flatMap(formatVideo),
    ...(d.watchdogs ?? []).flatMap(formatWatchdog),
    ...(d.memballoon !== undefined ? formatMemballoon(d.memballoon) : []),
    ...(d.redirdevs ?? []).flatMap(formatRedirdev),
    ...(d.rngs ?? []).flatMap(formatRng),
  ]);
}
