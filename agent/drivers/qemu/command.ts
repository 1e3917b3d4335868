/**
 * Pure argv builder: (domain definition, QEMU capabilities, launch context) → argv.
 * No I/O: paths, fds and capabilities come in as data so golden tests fix them.
 *
 * docs/qemu-argv.md explains the choices (bootindex, implicit controller slots, secrets).
 */
import { isIP } from "node:net";
import type { CpuDef, DomainDef, GraphicsDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { assignAddresses, machineFamily, rootBusName } from "./address.js";
import { canonicalMachine } from "./caps.js";
import {
  balloonArgs,
  type BuildState,
  channelArgs,
  diskArgs,
  inputArgs,
  interfaceArgs,
  serialArgs,
  virtioConsoleArgs,
  videoArgs,
} from "./command-devices.js";
import { cpuFlags, firmwareArgs, globalArgs, machineProps, redirdevArgs, rngArgs, rtcValue, smpValue, soundArgs, watchdogArgs } from "./command-extra.js";
import { controllerArgs, pciControllerArgs } from "./command-pci.js";
import { onOff, optValue, opts, rawValue } from "./qemu-opts.js";

export interface MachineType {
  name: string; // "pc-i440fx-7.2"
  alias?: string; // "pc"
  isDefault: boolean;
  deprecated: boolean;
  maxCpus: number;
}

export interface QemuCaps {
  binary: string;
  version: { major: number; minor: number; micro: number };
  machines: MachineType[];
  /** /dev/kvm opened read-write and KVM_GET_API_VERSION answered. */
  kvm: boolean;
}

export interface LaunchContext {
  /** fd number, inside the child, of the listening QMP socket. */
  monitorFd: number;
  /** Per-domain private directory (pty/channel sockets, secrets). */
  runDir: string;
  /** fd numbers inside the child of the opened taps, keyed by interface index in def.devices.interfaces. */
  tapFds: Record<number, number>;
  /** fd number inside the child from which QEMU reads the graphics password secret, when there is one. */
  graphicsSecretFd?: number;
  /** Ports the driver picked for autoport spice graphics, keyed by index in def.devices.graphics. */
  graphicsPorts?: Record<number, number>;
  /** fd number inside the child of the UEFI variable store, opened read-write; absent: QEMU opens the path. */
  nvramFd?: number;
  /** fd numbers inside the child of listening channel sockets, keyed by index in def.devices.channels; absent: QEMU creates the socket. */
  channelFds?: Record<number, number>;
}

export interface QemuCommand {
  binary: string;
  argv: string[];
}

const SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
const VNC_BASE_PORT = 5900;
/** With autoport and no port chosen by the driver, QEMU itself tries displays :0 to :99. */
const VNC_AUTOPORT_LAST_DISPLAY = 99;

function fail(code: "invalid_arg" | "config_unsupported" | "operation_invalid" | "internal", message: string): never {
  throw new AgentError(code, message, { component: "qemu" });
}

function accelArgs(def: DomainDef, caps: QemuCaps): string[] {
  if (def.type === "kvm" && !caps.kvm) {
    fail("operation_invalid", "KVM is not available on this host (/dev/kvm missing or not accessible); use domain type='qemu' for TCG");
  }
  return ["-accel", def.type === "kvm" ? "kvm" : "tcg"];
}

/** host-model has no TCG equivalent of "the host": like libvirt, fall back to the richest model, max. */
function cpuModel(def: DomainDef, cpu: CpuDef | undefined): string {
  if (!cpu) return "qemu64";
  switch (cpu.mode) {
    case "host-passthrough":
      return def.type === "kvm" ? "host" : fail("config_unsupported", "CPU mode host-passthrough needs domain type='kvm'");
    case "host-model":
      return def.type === "kvm" ? "host" : "max";
    case "maximum":
      return "max";
    case "custom":
      if (!cpu.model || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(cpu.model)) fail("invalid_arg", `CPU model '${cpu.model ?? ""}' is not a valid QEMU CPU model name`);
      return cpu.model;
  }
}

function baseArgs(def: DomainDef, machine: string, caps: QemuCaps, ctx: LaunchContext): string[] {
  if (!Number.isInteger(def.memoryKiB) || def.memoryKiB <= 0) fail("invalid_arg", `memory ${def.memoryKiB} KiB is not a positive integer`);
  if (!Number.isInteger(def.vcpus) || def.vcpus < 1) fail("invalid_arg", `vcpu count ${def.vcpus} is not a positive integer`);
  if (!Number.isInteger(ctx.monitorFd) || ctx.monitorFd < 3) fail("internal", `monitor fd ${ctx.monitorFd} is not an inherited fd (>= 3)`);
  return [
    "-name", opts(`guest=${optValue(def.name, "domain name")}`, { "debug-threads": "on" }),
    "-uuid", rawValue(def.uuid, "domain uuid"),
    "-machine", opts(machine, { usb: "off", acpi: onOff(def.features.acpi), "dump-guest-core": "off", ...machineProps(def) }),
    ...accelArgs(def, caps),
    "-cpu", opts(cpuModel(def, def.cpu), cpuFlags(def.cpu)),
    "-m", `size=${def.memoryKiB}k`,
    "-smp", smpValue(def),
    "-no-user-config", "-nodefaults", "-no-shutdown", "-S",
    ...(def.onReboot === "destroy" ? ["-no-reboot"] : []),
    // Without this QEMU opens a GTK/SDL window when $DISPLAY happens to be set.
    "-display", "none",
    "-sandbox", SANDBOX,
    "-chardev", `socket,id=charmonitor,fd=${ctx.monitorFd},server=on,wait=off`,
    "-mon", "chardev=charmonitor,id=monitor,mode=control",
    "-rtc", rtcValue(def),
    "-msg", "timestamp=on",
  ];
}

/** -kernel/-initrd/-append are not option lists: passed verbatim (a comma in the cmdline stays one comma). */
function kernelArgs(def: DomainDef): string[] {
  const os = def.os;
  const out: string[] = [];
  const abs = (p: string, what: string): string => (p.startsWith("/") ? rawValue(p, what) : fail("invalid_arg", `${what} must be an absolute path`));
  if (os.kernel !== undefined) out.push("-kernel", abs(os.kernel, "kernel"));
  if (os.initrd !== undefined) out.push("-initrd", abs(os.initrd, "initrd"));
  if (os.cmdline !== undefined) out.push("-append", rawValue(os.cmdline, "kernel cmdline"));
  if (os.kernel === undefined && (os.initrd !== undefined || os.cmdline !== undefined)) fail("invalid_arg", "initrd and cmdline need a kernel");
  return out;
}

/**
 * bootindex per device. Per-device <boot order> wins; otherwise <os><boot dev> is turned
 * into bootindex on the first device of each kind, as libvirt does, because legacy
 * `-boot order=` does not reach devices added with -device on all firmwares.
 */
function bootIndexes(def: DomainDef): Map<string, number> {
  const map = new Map<string, number>();
  const d = def.devices;
  const perDevice = d.disks.some((k) => k.bootOrder !== undefined) || d.interfaces.some((n) => n.bootOrder !== undefined);
  if (perDevice) {
    d.disks.forEach((k, i) => k.bootOrder !== undefined && map.set(`disk:${i}`, k.bootOrder));
    d.interfaces.forEach((n, i) => n.bootOrder !== undefined && map.set(`net:${i}`, n.bootOrder));
    return map;
  }
  let next = 1;
  for (const dev of def.os.boot) {
    const i =
      dev === "network" ? d.interfaces.length > 0 ? 0 : -1 : dev === "fd" ? -1 : d.disks.findIndex((k) => k.device === (dev === "hd" ? "disk" : "cdrom"));
    if (i >= 0) map.set(`${dev === "network" ? "net" : "disk"}:${i}`, next++);
  }
  return map;
}

function bootArgs(def: DomainDef): string[] {
  return ["-boot", opts("strict=on", { menu: def.os.bootMenu ? "on" : undefined })];
}

function listenHost(g: GraphicsDef): string {
  const v = isIP(g.listen);
  if (v === 0) fail("invalid_arg", `graphics listen address '${g.listen}' is not an IP address`);
  return v === 6 ? `[${g.listen}]` : g.listen;
}

function graphicsSecret(g: GraphicsDef, ctx: LaunchContext, i: number): { args: string[]; id?: string } {
  if (g.passwd === undefined) return { args: [] };
  // The password never reaches argv (readable in /proc/PID/cmdline): QEMU reads it from an
  // inherited fd through a secret object (vnc/spice password-secret=, QEMU >= 7.0).
  if (ctx.graphicsSecretFd === undefined) fail("internal", `graphics ${i} has a password but no secret fd was passed`);
  const id = `graphics${i}-secret`;
  return { args: ["-object", `secret,id=${id},file=/dev/fd/${ctx.graphicsSecretFd}`], id };
}

function vncArgs(g: GraphicsDef, ctx: LaunchContext, i: number, secretId?: string): string[] {
  const chosen = ctx.graphicsPorts?.[i];
  const port = g.autoport ? chosen ?? VNC_BASE_PORT : g.port;
  if (!Number.isInteger(port) || port < VNC_BASE_PORT || port > 65535) fail("invalid_arg", `VNC port ${port} must be between ${VNC_BASE_PORT} and 65535`);
  const to = g.autoport && chosen === undefined ? VNC_AUTOPORT_LAST_DISPLAY : undefined;
  return ["-vnc", opts(`${listenHost(g)}:${port - VNC_BASE_PORT}`, { to, "password-secret": secretId })];
}

function spiceArgs(g: GraphicsDef, ctx: LaunchContext, i: number, secretId?: string): string[] {
  const port = g.autoport ? ctx.graphicsPorts?.[i] : g.port;
  if (port === undefined) fail("internal", `spice graphics ${i} uses autoport but the driver passed no port`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail("invalid_arg", `spice port ${port} is outside 1-65535`);
  const auth = secretId === undefined ? { "disable-ticketing": "on" } : { "password-secret": secretId };
  const image = { "image-compression": g.imageCompression };
  return ["-spice", opts(`port=${port}`, { addr: g.listen === "" ? undefined : optValue(g.listen, "spice listen"), ...auth, ...image })];
}

function graphicsArgs(def: DomainDef, ctx: LaunchContext): string[] {
  const gs = def.devices.graphics;
  if (gs.filter((g) => g.passwd !== undefined).length > 1) fail("config_unsupported", "only one graphics device may have a password");
  if (gs.filter((g) => g.type === "vnc").length > 1 || gs.filter((g) => g.type === "spice").length > 1) {
    fail("config_unsupported", "at most one vnc and one spice graphics device are supported");
  }
  return gs.flatMap((g, i) => {
    const secret = graphicsSecret(g, ctx, i);
    const main = g.type === "vnc" ? vncArgs(g, ctx, i, secret.id) : spiceArgs(g, ctx, i, secret.id);
    return [...secret.args, ...main];
  });
}

/**
 * Builds the qemu-system-x86_64 argv for a definition. Pure: caps, fds and paths come in as
 * data. Devices lacking addresses get them from assignAddresses (deterministic), but the
 * driver should store addresses at define time so they never move.
 * @throws AgentError operation_invalid (type='kvm' without KVM), config_unsupported (machine,
 *   device or option this builder does not support), invalid_arg (a value that cannot be
 *   passed safely, colliding addresses), internal (a tap fd, MAC or secret fd is missing).
 */
export function buildCommand(def: DomainDef, caps: QemuCaps, ctx: LaunchContext): QemuCommand {
  const machine = canonicalMachine(caps, def.os.machine);
  const family = machineFamily(machine);
  const d = assignAddresses(def, machine);
  const st: BuildState = { family, bus: rootBusName(family), bootIndex: bootIndexes(d), ctx };
  const argv = [
    ...baseArgs(d, machine, caps, ctx),
    ...globalArgs(d, st),
    ...firmwareArgs(d, st),
    ...bootArgs(d),
    ...kernelArgs(d),
    ...pciControllerArgs(d, st),
    ...controllerArgs(d, st),
    ...diskArgs(d, st),
    ...interfaceArgs(d, st),
    ...graphicsArgs(d, ctx),
    ...soundArgs(d, st),
    ...videoArgs(d, st),
    ...inputArgs(d),
    ...serialArgs(d),
    ...virtioConsoleArgs(d),
    ...channelArgs(d, st),
    ...watchdogArgs(d, st),
    ...balloonArgs(d, st),
    ...redirdevArgs(d),
    ...rngArgs(d, st),
  ];
  // caps belong to one binary; a def naming another <emulator> must be probed by the driver first.
  return { binary: caps.binary, argv };
}
