/**
 * Pure argv fragments for the PCI topology and the controllers (buildCommand): PCIe root
 * ports and PCI bridges from `<controller type='pci' index=N>` (bus pci.N), then the USB,
 * SATA, SCSI and virtio-serial controllers, explicit (libvirt's dumpxml lists them with
 * their addresses) or implied by the devices that need them.
 */
import type { ControllerDef, ControllerType, DomainDef, PciAddress } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { formatPci, implicitSlots, isBuiltinAddress } from "./address.js";
import type { BuildState } from "./command-devices.js";
import { hexSlot, opts } from "./qemu-opts.js";

type Props = Record<string, string | number | undefined>;

function unsupported(message: string): never {
  throw new AgentError("config_unsupported", message, { component: "qemu" });
}

/** `bus=` and `addr=` (with the function when > 0, and multifunction=on) for a PCI address. */
export function pciPlacement(st: BuildState, a: PciAddress | undefined, owner: string): Props {
  if (!a) throw new AgentError("internal", `${owner} has no PCI address (assignAddresses not run)`, { component: "qemu" });
  const addr = a.function === 0 ? hexSlot(a.slot) : `${hexSlot(a.slot)}.0x${a.function.toString(16)}`;
  return { bus: a.bus === 0 ? st.bus : `pci.${a.bus}`, multifunction: a.multifunction === true ? "on" : undefined, addr };
}

function checkRoot(c: ControllerDef, st: BuildState): void {
  const want = st.family === "pc" ? "pci-root" : "pcie-root";
  if (c.model !== undefined && c.model !== want) unsupported(`controller pci 0 model '${c.model}' does not fit machine family ${st.family} (expected ${want})`);
}

/** One `-device` for a `<controller type='pci' index>=1>`. */
function pciControllerDevice(c: ControllerDef, st: BuildState): string {
  const where = pciPlacement(st, c.address, `controller pci ${c.index}`);
  const id = `pci.${c.index}`;
  const a = c.address as PciAddress;
  switch (c.model) {
    case "pcie-root-port": {
      if (st.family !== "q35" || a.bus !== 0) unsupported(`controller pci ${c.index}: a pcie-root-port must sit on pcie.0 of a q35 machine`);
      // libvirt's default port number is the root port's devfn.
      const port = `0x${(c.target?.port ?? a.slot * 8 + a.function).toString(16)}`;
      return opts("pcie-root-port", { port, chassis: c.target?.chassis ?? c.index, id, ...where });
    }
    case "pci-bridge":
      return opts("pci-bridge", { chassis_nr: c.target?.chassis ?? c.index, id, ...where });
    case "pcie-to-pci-bridge":
      return opts("pcie-pci-bridge", { id, ...where });
    case "dmi-to-pci-bridge":
      return opts("i82801b11-bridge", { id, ...where });
    default:
      return unsupported(`controller pci ${c.index}: model '${c.model ?? "(none)"}' cannot create bus ${c.index} (supported: pcie-root-port, pci-bridge, pcie-to-pci-bridge, dmi-to-pci-bridge)`);
  }
}

/** Root ports and bridges in index order, so a parent bus always exists before its children. */
export function pciControllerArgs(def: DomainDef, st: BuildState): string[] {
  const pci = (def.devices.controllers ?? []).filter((c) => c.type === "pci").sort((x, y) => x.index - y.index);
  return pci.flatMap((c) => {
    if (c.index === 0) {
      checkRoot(c, st);
      return [];
    }
    if (c.address === undefined) unsupported(`controller pci ${c.index} needs an explicit PCI address`);
    if (c.address.bus >= c.index) unsupported(`controller pci ${c.index} sits on bus ${c.address.bus}, which must have a lower index`);
    return ["-device", pciControllerDevice(c, st)];
  });
}

interface Planned {
  model: string;
  id: string;
  address: PciAddress | undefined;
  props: Props;
}

/** The index-0 controller of a type; other indexes are not supported for non-PCI types. */
function explicit(def: DomainDef, type: ControllerType): ControllerDef | undefined {
  const list = (def.devices.controllers ?? []).filter((c) => c.type === type);
  const extra = list.find((c) => c.index !== 0);
  if (extra !== undefined) unsupported(`controller ${type} index ${extra.index}: only index 0 is supported`);
  return list[0];
}

const USB_MODELS: Readonly<Record<string, string>> = { "piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "qemu-xhci": "qemu-xhci", "nec-xhci": "nec-usb-xhci" };

function usbPlan(def: DomainDef, st: BuildState): Planned | undefined {
  const c = explicit(def, "usb");
  const needed = def.devices.inputs.some((i) => i.bus === "usb") || (def.devices.redirdevs ?? []).length > 0;
  if (c?.model === "none") return needed ? unsupported("a USB input needs a USB controller, but <controller type='usb' model='none'> is set") : undefined;
  if (c === undefined && !needed) return undefined;
  const model = c?.model ?? (st.family === "pc" ? "piix3-uhci" : "qemu-xhci");
  const dev = USB_MODELS[model] ?? unsupported(`USB controller model '${model}' is not supported (${Object.keys(USB_MODELS).join(", ")})`);
  const xhci = model.endsWith("xhci");
  if (c?.ports !== undefined && !xhci) unsupported(`USB controller model '${model}' has no 'ports' setting`);
  // On pc the PIIX3 UHCI lives in the PIIX slot as function 2, where libvirt puts it.
  const builtin: PciAddress | undefined = st.family === "pc" && model === "piix3-uhci" ? { domain: 0, bus: 0, slot: 1, function: 2 } : undefined;
  const props = xhci ? { p2: c?.ports, p3: c?.ports } : {};
  return { model: dev, id: "usb", address: c?.address ?? builtin, props };
}

function satPlan(def: DomainDef, st: BuildState): Planned | undefined {
  const c = explicit(def, "sata");
  if (st.family === "q35") {
    if (c?.address !== undefined && !isBuiltinAddress("q35", "sata", c.address)) unsupported(`controller sata 0 at ${formatPci(c.address)}: q35's AHCI is the built-in one at 0000:00:1f.2`);
    return undefined;
  }
  const needed = def.devices.disks.some((k) => k.target.bus === "sata");
  return c !== undefined || needed ? { model: "ahci", id: "sata0", address: c?.address, props: {} } : undefined;
}

const SCSI_MODELS: Readonly<Record<string, string>> = { "virtio-scsi": "virtio-scsi-pci", lsilogic: "lsi53c895a", lsisas1068: "mptsas1068" };

function scsiPlan(def: DomainDef): Planned | undefined {
  const c = explicit(def, "scsi");
  if (c === undefined && !def.devices.disks.some((k) => k.target.bus === "scsi")) return undefined;
  const model = SCSI_MODELS[c?.model ?? "virtio-scsi"] ?? unsupported(`SCSI controller model '${c?.model ?? ""}' is not supported`);
  return { model, id: "scsi0", address: c?.address, props: {} };
}

function virtioSerialPlan(def: DomainDef): Planned | undefined {
  const c = explicit(def, "virtio-serial");
  const needed = def.devices.channels.length > 0 || def.devices.consoles.some((x) => x.targetType === "virtio");
  if (c === undefined && !needed) return undefined;
  return { model: "virtio-serial-pci", id: "virtio-serial0", address: c?.address, props: { max_ports: c?.ports, vectors: c?.vectors } };
}

function checkIde(def: DomainDef, st: BuildState): void {
  const c = explicit(def, "ide");
  if (c === undefined) return;
  if (st.family === "q35") unsupported("an IDE controller is not available on q35 machines (use sata)");
  if (c.address !== undefined && !isBuiltinAddress("pc", "ide", c.address)) unsupported(`controller ide 0 at ${formatPci(c.address)}: the PIIX3 IDE is the built-in one at 0000:00:01.1`);
}

/**
 * USB, SATA (pc), SCSI and virtio-serial controllers. A given address is kept; the others
 * take the highest free bus-0 slots, in this order, so they never move user devices.
 */
export function controllerArgs(def: DomainDef, st: BuildState): string[] {
  checkIde(def, st);
  const plans = [usbPlan(def, st), satPlan(def, st), scsiPlan(def), virtioSerialPlan(def)].filter((p): p is Planned => p !== undefined);
  const slots = implicitSlots(def, st.family, plans.filter((p) => p.address === undefined).length);
  let next = 0;
  return plans.flatMap((p) => {
    const address = p.address ?? { domain: 0, bus: 0, slot: slots[next++] ?? 0, function: 0 };
    return ["-device", opts(p.model, { ...p.props, id: p.id, ...pciPlacement(st, address, `controller ${p.id}`) })];
  });
}
