/**
 * `<address>` parse and format for the device parsers (pure): pci, drive, usb and
 * virtio-serial kinds. Each device says which kinds it takes; others are config_unsupported.
 */
import type { DriveAddress, PciAddress, UsbAddress, VirtioSerialAddress } from "./domain-def.js";
import { AgentError } from "./errors.js";
import type { XEl } from "./xml-reader.js";
import { el } from "./xml-writer.js";

const U32 = 0xffffffff;

export type AddressKind = "pci" | "drive" | "usb" | "virtio-serial";
interface AddressOf {
  pci: PciAddress;
  drive: DriveAddress;
  usb: UsbAddress;
  "virtio-serial": VirtioSerialAddress;
}

function parsePci(a: XEl): PciAddress {
  const pci: PciAddress = {
    domain: a.reqIntAttr("domain", 0, 0xffff, true),
    bus: a.reqIntAttr("bus", 0, 0xff, true),
    slot: a.reqIntAttr("slot", 0, 0x1f, true),
    function: a.reqIntAttr("function", 0, 7, true),
  };
  if (a.node.attrs.multifunction !== undefined) pci.multifunction = a.boolAttr("multifunction", false);
  return pci;
}

function parseDrive(a: XEl): DriveAddress {
  return {
    controller: a.intAttr("controller", 0, U32) ?? 0,
    bus: a.intAttr("bus", 0, U32) ?? 0,
    target: a.intAttr("target", 0, U32) ?? 0,
    unit: a.intAttr("unit", 0, U32) ?? 0,
  };
}

function parseUsb(a: XEl): UsbAddress {
  const port = a.reqAttr("port");
  // Up to five hub levels of ports 1..31, as libvirt's "1.2.3" syntax.
  if (!/^([1-9]|[12]\d|3[01])(\.([1-9]|[12]\d|3[01])){0,4}$/.test(port)) {
    throw new AgentError("xml_error", `invalid USB port '${port}' in <${a.path}>`, { component: "conf" });
  }
  return { bus: a.intAttr("bus", 0, 0xff) ?? 0, port };
}

function parseVirtioSerial(a: XEl): VirtioSerialAddress {
  return { controller: a.intAttr("controller", 0, 0xff) ?? 0, bus: a.intAttr("bus", 0, 0) ?? 0, port: a.reqIntAttr("port", 1, 30) };
}

/** `<address type=...>` child of `parent`, restricted to `kinds`; undefined when absent. */
export function parseAddress<K extends AddressKind>(parent: XEl, kinds: readonly K[]): AddressOf[K] | undefined {
  const a = parent.child("address");
  if (a === undefined) return undefined;
  const kind: AddressKind = a.enumAttr("type", kinds);
  const parsers: { [P in AddressKind]: (x: XEl) => AddressOf[P] } = {
    pci: parsePci,
    drive: parseDrive,
    usb: parseUsb,
    "virtio-serial": parseVirtioSerial,
  };
  const addr = parsers[kind](a);
  a.finish();
  return addr as AddressOf[K];
}

function hex(n: number, width: number): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}

/** Lines of one `<address>`; the kind is told by the fields present. */
export function formatAddress(a: PciAddress | DriveAddress | UsbAddress | VirtioSerialAddress | undefined): string[] {
  if (a === undefined) return [];
  if ("unit" in a) {
    return el("address", [["type", "drive"], ["controller", a.controller], ["bus", a.bus], ["target", a.target], ["unit", a.unit]]);
  }
  if ("slot" in a) {
    const mf = a.multifunction === undefined ? undefined : a.multifunction ? "on" : "off";
    const attrs = [["domain", hex(a.domain, 4)], ["bus", hex(a.bus, 2)], ["slot", hex(a.slot, 2)], ["function", hex(a.function, 1)]] as const;
    return el("address", [["type", "pci"], ...attrs, ["multifunction", mf]]);
  }
  if ("controller" in a) return el("address", [["type", "virtio-serial"], ["controller", a.controller], ["bus", a.bus], ["port", a.port]]);
  return el("address", [["type", "usb"], ["bus", a.bus], ["port", a.port]]);
}
