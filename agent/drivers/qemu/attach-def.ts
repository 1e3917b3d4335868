/**
 * Pure: a hand-written QEMU command line → a best-effort DomainDef plus notes on what it
 * could not express. Recognised: -machine/-M, -accel, -enable-kvm, -smp, -m, -name, -uuid,
 * -cpu, -kernel/-initrd/-append, -boot, -rtc, -no-shutdown, -no-reboot, -no-acpi, disks
 * (attach-storage.ts), -netdev/-device NICs and -net, -vnc, -spice, -vga and display
 * devices, -serial, usb-tablet, virtio-balloon. Everything else is listed, never guessed.
 */
import type { BootDevice, CpuDef, DomainDef, GraphicsDef, InterfaceDef, VideoDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { canonicalUuid } from "../../model/uuid.js";
import { parseOptList, type CmdOption } from "./attach-opts.js";
import { isDiskDevice, parseDisks, type AttachedDisk } from "./attach-storage.js";

export interface CmdlineInput {
  pid: number;
  /** Target of /proc/PID/exe. */
  exe: string;
  argv: readonly string[];
  options: readonly CmdOption[];
  /** `--name` given to attach: wins over -name. */
  nameOverride?: string;
}

export interface CmdlineDef {
  def: DomainDef;
  disks: AttachedDisk[];
  /** NICs with their qdev ids, for the QMP check. */
  nicIds: Array<string | undefined>;
  /** Host tap names (from -netdev tap,ifname=…), for interface stats. */
  taps: string[];
  notes: string[];
}

const NAME_RE = /^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,63}$/;
const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Options read into the def (or deliberately irrelevant to it): not reported as unknown. */
const HANDLED = new Set([
  "machine", "M", "accel", "enable-kvm", "smp", "m", "name", "uuid", "cpu", "kernel", "initrd", "append", "boot", "rtc",
  "no-shutdown", "no-reboot", "no-acpi", "hda", "hdb", "hdc", "hdd", "cdrom", "drive", "blockdev", "netdev", "net", "device",
  "vnc", "spice", "vga", "serial", "qmp", "qmp-pretty", "monitor", "mon", "chardev", "S", "nodefaults", "no-user-config",
  "nodefconfig", "display", "nographic", "daemonize", "pidfile", "sandbox", "msg", "overcommit", "usb", "D", "d", "trace",
]);

/** Keys whose values may be secrets: never copied into notes. */
const SECRET_KEY = /secret|pass|data|key|iv|token|cred/i;

export function archOf(exe: string): string {
  const m = /qemu-system-([A-Za-z0-9_]+)$/.exec(exe);
  return m?.[1] ?? "x86_64";
}

function last(options: readonly CmdOption[], ...names: string[]): string | undefined {
  let v: string | undefined;
  for (const o of options) if (names.includes(o.name)) v = o.value ?? "";
  return v;
}

function has(options: readonly CmdOption[], name: string): boolean {
  return options.some((o) => o.name === name);
}

/** `-m 64`, `-m 1G`, `-m size=512M,slots=2`: QEMU's default unit is MiB. */
export function parseMemoryKiB(value: string | undefined): number {
  if (value === undefined) return 128 * 1024;
  const p = parseOptList(value);
  const size = p.props.get("size") ?? p.head ?? "128";
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(size);
  if (!m) throw new AgentError("invalid_arg", `cannot read -m ${JSON.stringify(value)}`, { component: "qemu" });
  const scale: Record<string, number> = { K: 1, M: 1024, G: 1024 ** 2, T: 1024 ** 3, "": 1024 };
  return Math.round(Number(m[1]) * (scale[(m[2] ?? "").toUpperCase()] ?? 1024));
}

/** `-smp 4`, `-smp cpus=2,sockets=1`, `-smp sockets=2,cores=2` (no count: the product). */
export function parseSmp(value: string | undefined): number {
  if (value === undefined) return 1;
  const p = parseOptList(value);
  const cpus = p.props.get("cpus") ?? p.head;
  if (cpus !== undefined && /^\d+$/.test(cpus)) return Number(cpus);
  const n = (k: string) => Number(p.props.get(k) ?? "1");
  const product = n("sockets") * n("dies") * n("cores") * n("threads");
  return Number.isInteger(product) && product > 0 ? product : 1;
}

function domainType(options: readonly CmdOption[]): "kvm" | "qemu" {
  if (has(options, "enable-kvm")) return "kvm";
  const accel = last(options, "accel");
  if (accel !== undefined) return (parseOptList(accel).head ?? parseOptList(accel).props.get("accel")) === "kvm" ? "kvm" : "qemu";
  const machine = last(options, "machine", "M");
  const ma = machine === undefined ? undefined : parseOptList(machine).props.get("accel");
  return ma?.split(":")[0] === "kvm" ? "kvm" : "qemu";
}

function machineType(options: readonly CmdOption[]): string | undefined {
  const v = last(options, "machine", "M");
  if (v === undefined) return undefined;
  const p = parseOptList(v);
  return p.head ?? p.props.get("type");
}

function pickName(input: CmdlineInput, notes: string[]): string {
  if (input.nameOverride !== undefined) return input.nameOverride;
  const v = last(input.options, "name");
  const p = v === undefined ? undefined : parseOptList(v);
  const name = p?.props.get("guest") ?? p?.head;
  if (name !== undefined && NAME_RE.test(name)) return name;
  if (name !== undefined) notes.push(`-name ${JSON.stringify(name)} is not a valid domain name; named pid-${input.pid}`);
  return `pid-${input.pid}`;
}

/** The -uuid, canonicalised; the all-zero uuid (QEMU's "none given") counts as absent. */
export function cmdlineUuid(options: readonly CmdOption[]): string | undefined {
  const v = last(options, "uuid");
  const u = v === undefined ? undefined : canonicalUuid(v);
  return u === ZERO_UUID ? undefined : u;
}

function parseCpu(value: string | undefined, notes: string[]): CpuDef | undefined {
  if (value === undefined) return undefined;
  const p = parseOptList(value);
  if (p.props.size > 0) notes.push(`-cpu feature flags not represented: ${[...p.props.keys()].join(",")}`);
  if (p.head === "host") return { mode: "host-passthrough" };
  if (p.head === "max") return { mode: "maximum" };
  return p.head !== undefined && /^[A-Za-z0-9_.+-]{1,64}$/.test(p.head) ? { mode: "custom", model: p.head } : undefined;
}

const BOOT_LETTERS: Record<string, BootDevice> = { a: "fd", c: "hd", d: "cdrom", n: "network" };

function parseBoot(value: string | undefined): BootDevice[] {
  if (value === undefined) return [];
  const p = parseOptList(value);
  const order = p.props.get("order") ?? (p.head !== undefined && !p.head.includes("=") ? p.head : "");
  const out: BootDevice[] = [];
  for (const c of order) {
    const b = BOOT_LETTERS[c];
    if (b && !out.includes(b)) out.push(b);
  }
  return out;
}

/** Builds the def. `uuid` is the -uuid, or one the caller generated. */
export function buildCmdlineDef(input: CmdlineInput, uuid: string): CmdlineDef {
  const notes: string[] = [];
  const o = input.options;
  const q35 = /^(q35|pc-q35)/.test(machineType(o) ?? "");
  const disks = parseDisks(o, q35);
  const nics = parseNics(o, notes);
  const memoryKiB = parseMemoryKiB(last(o, "m"));
  const kernel = last(o, "kernel");
  const def: DomainDef = {
    type: domainType(o),
    name: pickName(input, notes),
    uuid,
    memoryKiB,
    currentMemoryKiB: memoryKiB,
    vcpus: parseSmp(last(o, "smp")),
    os: { type: "hvm", arch: archOf(input.exe), boot: parseBoot(last(o, "boot")) },
    features: { acpi: !has(o, "no-acpi"), apic: true },
    onPoweroff: has(o, "no-shutdown") ? "preserve" : "destroy",
    onReboot: has(o, "no-reboot") ? "destroy" : "restart",
    onCrash: "destroy",
    devices: buildDevices(o, input.exe, disks, nics, notes),
  };
  const machine = machineType(o);
  if (machine !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(machine)) def.os.machine = machine;
  if (kernel !== undefined) setKernel(def, kernel, last(o, "initrd"), last(o, "append"));
  const cpu = parseCpu(last(o, "cpu"), notes);
  if (cpu) def.cpu = cpu;
  if (/base=localtime/.test(last(o, "rtc") ?? "")) def.clock = { offset: "localtime" };
  notes.push(...unknownOptions(o));
  const taps = nics.flatMap((n) => (n.nic.target ? [n.nic.target.dev] : []));
  return { def, disks, nicIds: nics.map((n) => n.qdev), taps, notes };
}

function buildDevices(o: readonly CmdOption[], exe: string, disks: AttachedDisk[], nics: Array<{ nic: InterfaceDef }>, notes: string[]): DomainDef["devices"] {
  return {
    emulator: exe,
    disks: disks.map((d) => d.disk),
    interfaces: nics.map((n) => n.nic),
    graphics: parseGraphics(o, notes),
    videos: parseVideos(o),
    inputs: parseInputs(o, machineType(o)),
    serials: parseSerials(o, notes),
    consoles: [],
    channels: [],
    memballoon: { model: o.some((x) => x.name === "device" && /^virtio-balloon/.test(x.value ?? "")) ? "virtio" : "none" },
  };
}

function setKernel(def: DomainDef, kernel: string, initrd: string | undefined, append: string | undefined): void {
  def.os.kernel = kernel;
  if (initrd !== undefined) def.os.initrd = initrd;
  if (append !== undefined) def.os.cmdline = append;
}

/** -netdev tap,ifname=X + -device <nic>,netdev=…; user-mode and other backends are noted. */
function parseNics(o: readonly CmdOption[], notes: string[]): Array<{ nic: InterfaceDef; qdev?: string }> {
  const netdevs = new Map<string, { type: string; ifname?: string }>();
  for (const x of o) {
    if (x.name !== "netdev" || x.value === undefined) continue;
    const p = parseOptList(x.value);
    const id = p.props.get("id");
    if (id !== undefined) netdevs.set(id, { type: p.head ?? p.props.get("type") ?? "?", ifname: p.props.get("ifname") });
  }
  const out: Array<{ nic: InterfaceDef; qdev?: string }> = [];
  for (const x of o) {
    if (x.value === undefined) continue;
    const p = parseOptList(x.value);
    if (x.name === "net") {
      notes.push(`legacy -net ${p.head ?? "?"}${p.props.has("model") ? ` (model ${p.props.get("model") ?? ""})` : ""} not represented (no libvirt interface type for a hub NIC)`);
      continue;
    }
    const model = p.head ?? p.props.get("driver") ?? "";
    if (x.name !== "device" || !isNicModel(model)) continue;
    const nd = netdevs.get(p.props.get("netdev") ?? "");
    if (!nd || nd.type !== "tap" || nd.ifname === undefined) {
      notes.push(`NIC ${model} on a ${nd?.type ?? "missing"} netdev not represented (only tap with ifname= maps to <interface type='ethernet'>)`);
      continue;
    }
    const nic: InterfaceDef = { type: "ethernet", model: nicModelName(model), target: { dev: nd.ifname, managed: false } };
    const mac = p.props.get("mac")?.toLowerCase();
    if (mac !== undefined) nic.mac = mac;
    out.push({ nic, qdev: p.props.get("id") });
  }
  return out;
}

function isNicModel(model: string): boolean {
  return /^(virtio-net(-pci)?|e1000e?|rtl8139|vmxnet3|ne2k_pci|pcnet)$/.test(model);
}

function nicModelName(model: string): string {
  return model.startsWith("virtio-net") ? "virtio" : model;
}

/** -vnc HOST:DISPLAY (port 5900+display), -spice port=…,addr=…. */
function parseGraphics(o: readonly CmdOption[], notes: string[]): GraphicsDef[] {
  const out: GraphicsDef[] = [];
  const vnc = last(o, "vnc");
  if (vnc !== undefined && vnc !== "none") {
    const head = parseOptList(vnc).head ?? "";
    const m = /^(.*):(\d+)$/.exec(head);
    if (m && !head.startsWith("unix:")) {
      const host = (m[1] ?? "").replace(/^\[|\]$/g, "");
      out.push({ type: "vnc", port: 5900 + Number(m[2]), autoport: false, listen: host === "" ? "0.0.0.0" : host });
    } else notes.push(`-vnc ${head} not represented`);
  }
  const spice = last(o, "spice");
  if (spice !== undefined) {
    const p = parseOptList(spice).props;
    const port = Number(p.get("port") ?? "-1");
    if (port > 0) out.push({ type: "spice", port, autoport: false, listen: p.get("addr") ?? "0.0.0.0" });
    else notes.push("-spice without a TCP port not represented");
  }
  return out;
}

const VGA_MODELS: Record<string, VideoDef["model"]> = {
  std: "vga", VGA: "vga", cirrus: "cirrus", "cirrus-vga": "cirrus", virtio: "virtio", "virtio-vga": "virtio",
  "virtio-gpu-pci": "virtio", qxl: "qxl", "qxl-vga": "qxl", "bochs-display": "bochs", none: "none",
};

function parseVideos(o: readonly CmdOption[]): VideoDef[] {
  const vga = last(o, "vga");
  const devs = o.filter((x) => x.name === "device").map((x) => parseOptList(x.value ?? "").head ?? "");
  const models = devs.flatMap((d) => (VGA_MODELS[d] !== undefined && d !== "none" && d !== "std" ? [VGA_MODELS[d]] : []));
  if (vga !== undefined && VGA_MODELS[vga] !== undefined && vga !== "none") models.unshift(VGA_MODELS[vga]);
  // Without -nodefaults (and no -vga/-nographic), QEMU adds a standard VGA card.
  if (models.length === 0 && vga === undefined && !has(o, "nodefaults") && !has(o, "nographic")) models.push("vga");
  return models.map((model) => ({ model }));
}

function parseInputs(o: readonly CmdOption[], machine: string | undefined): DomainDef["devices"]["inputs"] {
  // i440fx and q35 always have the PS/2 keyboard and mouse, -nodefaults or not (libvirt lists them too).
  const pcLike = machine === undefined || /^(pc|q35)/.test(machine);
  const out: DomainDef["devices"]["inputs"] = pcLike ? [{ type: "mouse", bus: "ps2" }, { type: "keyboard", bus: "ps2" }] : [];
  for (const x of o) {
    const head = x.name === "device" ? parseOptList(x.value ?? "").head : undefined;
    if (head === "usb-tablet") out.push({ type: "tablet", bus: "usb" });
    if (head === "virtio-keyboard-pci") out.push({ type: "keyboard", bus: "virtio" });
    if (head === "virtio-tablet-pci") out.push({ type: "tablet", bus: "virtio" });
  }
  return out;
}

function parseSerials(o: readonly CmdOption[], notes: string[]): DomainDef["devices"]["serials"] {
  const out: DomainDef["devices"]["serials"] = [];
  for (const x of o) {
    if (x.name !== "serial" || x.value === undefined || x.value === "none") continue;
    if (x.value === "pty") out.push({ type: "pty", targetPort: out.length });
    else if (x.value.startsWith("file:/")) out.push({ type: "file", path: x.value.slice(5), targetPort: out.length });
    else notes.push(`-serial ${x.value.split(",")[0] ?? ""} not represented`);
  }
  return out;
}

/** Options outside the def, values redacted where a key looks secret. */
function unknownOptions(o: readonly CmdOption[]): string[] {
  const out: string[] = [];
  for (const x of o) {
    const devHead = x.name === "device" ? parseOptList(x.value ?? "").head : undefined;
    const knownDevice = devHead === undefined || isDiskDevice(devHead) || isNicModel(devHead) || devHead in VGA_MODELS || /^(usb-tablet|virtio-balloon|virtio-keyboard|virtio-tablet)/.test(devHead);
    if (HANDLED.has(x.name) && knownDevice) continue;
    out.push(`not represented: -${x.name}${x.value === undefined ? "" : ` ${redact(x.name, x.value)}`}`);
  }
  return out;
}

export function redact(name: string, value: string): string {
  if (name === "object" && /^secret/.test(value)) return "secret,…(redacted)";
  return value
    .split(",")
    .map((kv) => {
      const eq = kv.indexOf("=");
      return eq > 0 && SECRET_KEY.test(kv.slice(0, eq)) ? `${kv.slice(0, eq)}=***` : kv;
    })
    .join(",");
}
