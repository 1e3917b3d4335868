/**
 * Semantic checks on a DomainDef, shared by every driver (pure). Syntax is the parser's
 * business; this is libvirt's post-parse validation: names, limits, duplicates, paths.
 */
import { MAX_VCPUS } from "./domain-def.js";
import type { DomainDef, DriveAddress, GraphicsDef, InterfaceDef, PciAddress } from "./domain-def.js";
import { AgentError } from "./errors.js";
import { isCanonicalUuid } from "./uuid.js";

const NAME_RE = /^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,63}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Linux interface names: at most 15 bytes (IFNAMSIZ-1), no '/', ':' or whitespace. */
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,14}$/;
const DISK_TARGET_RE = /^(vd|sd|hd)[a-z]{1,3}$/;
const DISK_SERIAL_RE = /^[A-Za-z0-9_.+-]{1,36}$/;
const MACHINE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CHANNEL_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const CPU_MODEL_RE = /^[A-Za-z0-9_.+-]{1,64}$/;

function invalid(message: string): AgentError {
  return new AgentError("invalid_arg", message, { component: "conf" });
}

function checkPath(path: string | undefined, what: string): void {
  if (path === undefined) return;
  if (!path.startsWith("/")) throw invalid(`${what} path '${path}' must be absolute`);
  // Control characters (NUL, newline) cannot appear in a usable path and would confuse logs.
  if (/[\x00-\x1f\x7f]/.test(path)) throw invalid(`${what} path contains control characters`);
}

function checkUnique<T>(items: readonly T[], key: (t: T) => string, what: string): void {
  const seen = new Set<string>();
  for (const it of items) {
    const k = key(it);
    if (seen.has(k)) throw invalid(`duplicate ${what} '${k}'`);
    seen.add(k);
  }
}

function checkIdentity(def: DomainDef): void {
  if (!NAME_RE.test(def.name)) {
    throw invalid(`invalid domain name '${def.name}': 1 to 64 characters of [A-Za-z0-9_.+-], not starting with '-' or '.'`);
  }
  if (!isCanonicalUuid(def.uuid)) throw invalid(`invalid uuid '${def.uuid}': expected 8-4-4-4-12 hex digits`);
  if (def.title !== undefined && /[\r\n]/.test(def.title)) throw invalid("title must not contain newlines");
}

function checkSizes(def: DomainDef): void {
  if (def.memoryKiB <= 0) throw invalid("memory must be greater than 0");
  if (def.currentMemoryKiB <= 0) throw invalid("currentMemory must be greater than 0");
  if (def.currentMemoryKiB > def.memoryKiB) {
    throw invalid(`currentMemory ${def.currentMemoryKiB} KiB exceeds memory ${def.memoryKiB} KiB`);
  }
  if (def.vcpus < 1 || def.vcpus > MAX_VCPUS) throw invalid(`vcpu count ${def.vcpus} out of range [1, ${MAX_VCPUS}]`);
}

function checkOs(def: DomainDef): void {
  const os = def.os;
  if (os.machine !== undefined && !MACHINE_RE.test(os.machine)) throw invalid(`invalid machine type '${os.machine}'`);
  checkPath(os.kernel, "kernel");
  checkPath(os.initrd, "initrd");
  if (os.kernel === undefined && (os.initrd !== undefined || os.cmdline !== undefined)) {
    throw invalid("initrd and cmdline require a kernel");
  }
  if (os.cmdline !== undefined && /[\x00\r\n]/.test(os.cmdline)) throw invalid("kernel cmdline must be a single line");
  checkUnique(os.boot, (b) => b, "boot device");
  checkPath(os.loader?.path, "loader");
  checkPath(os.nvram?.path, "nvram");
  checkPath(os.nvram?.template, "nvram template");
  if (os.loader?.secure === true && def.features.smm !== true) throw invalid("secure boot (<loader secure='yes'>) requires <features><smm state='on'/>");
  if (def.cpu?.model !== undefined && !CPU_MODEL_RE.test(def.cpu.model)) throw invalid(`invalid cpu model '${def.cpu.model}'`);
  if (def.cpu?.model !== undefined && def.cpu.mode !== "custom") throw invalid(`cpu model requires mode 'custom', not '${def.cpu.mode}'`);
  checkCpuDetails(def);
}

const CPU_FEATURE_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;

function checkCpuDetails(def: DomainDef): void {
  const cpu = def.cpu;
  if (cpu === undefined) return;
  const t = cpu.topology;
  if (t !== undefined && t.sockets * t.dies * t.cores * t.threads !== def.vcpus) {
    throw invalid(`cpu topology ${t.sockets} sockets x ${t.dies} dies x ${t.cores} cores x ${t.threads} threads does not give ${def.vcpus} vcpus`);
  }
  for (const f of cpu.features ?? []) if (!CPU_FEATURE_RE.test(f.name)) throw invalid(`invalid cpu feature name '${f.name}'`);
  checkUnique(cpu.features ?? [], (f) => f.name, "cpu feature");
  if (cpu.migratable !== undefined && cpu.mode !== "host-passthrough" && cpu.mode !== "maximum") {
    throw invalid(`cpu migratable is only valid with mode host-passthrough or maximum, not '${cpu.mode}'`);
  }
  if (cpu.fallback !== undefined && cpu.model === undefined) throw invalid("cpu model fallback needs a model");
}

function checkDisks(def: DomainDef): void {
  const disks = def.devices.disks;
  checkUnique(disks, (d) => d.target.dev, "disk target");
  for (const d of disks) {
    const where = `disk '${d.target.dev}'`;
    if (!DISK_TARGET_RE.test(d.target.dev)) throw invalid(`invalid disk target '${d.target.dev}': expected vdX, sdX or hdX`);
    if (d.device === "disk" && d.source === undefined) throw invalid(`${where} has no source (only a cdrom may be empty)`);
    checkPath(d.source, `${where} source`);
    if (d.device === "cdrom" && d.target.bus === "virtio") throw invalid(`${where}: a cdrom cannot be on the virtio bus`);
    if (d.driver.io === "native" && d.driver.cache !== "none" && d.driver.cache !== "directsync") {
      throw invalid(`${where}: io='native' needs cache 'none' or 'directsync' (O_DIRECT)`);
    }
    if (d.driver.detectZeroes === "unmap" && d.driver.discard !== "unmap") throw invalid(`${where}: detect_zeroes='unmap' needs discard='unmap'`);
    if (d.serial !== undefined && !DISK_SERIAL_RE.test(d.serial)) throw invalid(`${where}: invalid serial '${d.serial}'`);
    if (d.address !== undefined) {
      const isDrive = "controller" in d.address;
      if (isDrive === (d.target.bus === "virtio")) {
        throw invalid(`${where}: address type '${isDrive ? "drive" : "pci"}' does not fit bus '${d.target.bus}'`);
      }
    }
  }
}

function checkMac(mac: string): void {
  if (!MAC_RE.test(mac)) throw invalid(`invalid MAC address '${mac}': expected six hex octets separated by ':'`);
  // Bit 0 of the first octet marks a group address; a NIC must have an individual one.
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) throw invalid(`invalid MAC address '${mac}': multicast bit set`);
  if (mac === "00:00:00:00:00:00") throw invalid("invalid MAC address '00:00:00:00:00:00'");
}

function checkInterface(n: InterfaceDef, i: number): void {
  if (n.mac !== undefined) checkMac(n.mac);
  if (n.type === "network" && (n.source === undefined || !NAME_RE.test(n.source))) {
    throw invalid(`interface ${i}: invalid network name '${n.source ?? ""}'`);
  }
  if (n.type === "bridge" && (n.source === undefined || !IFNAME_RE.test(n.source))) {
    throw invalid(`interface ${i}: invalid bridge name '${n.source ?? ""}'`);
  }
  if (n.target !== undefined) {
    if (!IFNAME_RE.test(n.target.dev)) throw invalid(`interface ${i}: invalid target device name '${n.target.dev}'`);
    if (!n.target.managed && n.type !== "ethernet") throw invalid(`interface ${i}: managed='no' is only valid for type 'ethernet'`);
  }
}

function checkInterfaces(def: DomainDef): void {
  def.devices.interfaces.forEach(checkInterface);
  const macs = def.devices.interfaces.flatMap((n) => (n.mac !== undefined ? [n.mac] : []));
  checkUnique(macs, (m) => m, "MAC address");
  const taps = def.devices.interfaces.flatMap((n) => (n.target !== undefined ? [n.target.dev] : []));
  checkUnique(taps, (t) => t, "interface target device");
}

function checkBootOrder(def: DomainDef): void {
  const orders = [...def.devices.disks, ...def.devices.interfaces].flatMap((d) => (d.bootOrder !== undefined ? [d.bootOrder] : []));
  checkUnique(orders, (o) => String(o), "boot order");
  if (orders.length > 0 && def.os.boot.length > 0) {
    // libvirt: "per-device boot elements cannot be used together with os/boot elements".
    throw invalid("per-device boot order cannot be combined with <os><boot dev=...>");
  }
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpAddress(s: string): boolean {
  if (IPV4_RE.test(s)) return true;
  // IPv6: hex groups and colons, at most one '::', and 2..8 groups.
  if (!/^[0-9a-fA-F:]+$/.test(s) || (s.match(/::/g) ?? []).length > 1) return false;
  const groups = s.split(":").filter((g) => g !== "");
  return groups.every((g) => g.length <= 4) && groups.length <= 8 && (s.includes("::") || groups.length === 8);
}

function checkGraphics(g: GraphicsDef): void {
  if (g.autoport && g.port !== -1) throw invalid(`${g.type} graphics: autoport requires port -1`);
  if (!g.autoport) {
    const min = g.type === "vnc" ? 5900 : 1;
    if (g.port < min || g.port > 65535) throw invalid(`${g.type} graphics port ${g.port} out of range [${min}, 65535]`);
  }
  if (!isIpAddress(g.listen)) throw invalid(`${g.type} graphics listen '${g.listen}' is not an IP address`);
  if (g.passwd !== undefined && /[\x00-\x1f\x7f]/.test(g.passwd)) throw invalid(`${g.type} graphics passwd contains control characters`);
}

function checkCharDevs(def: DomainDef): void {
  const d = def.devices;
  for (const c of [...d.serials, ...d.consoles]) checkPath(c.path, "serial/console file");
  checkUnique(d.serials, (c) => String(c.targetPort), "serial target port");
  checkUnique(d.consoles, (c) => `${c.targetType ?? "serial"} ${c.targetPort}`, "console target port");
  for (const ch of d.channels) {
    checkPath(ch.path, "channel socket");
    if (!CHANNEL_NAME_RE.test(ch.targetName)) throw invalid(`invalid channel target name '${ch.targetName}'`);
  }
  checkUnique(d.channels, (c) => c.targetName, "channel target name");
}

function pciKey(a: PciAddress): string {
  return `${a.domain.toString(16).padStart(4, "0")}:${a.bus.toString(16).padStart(2, "0")}:${a.slot.toString(16).padStart(2, "0")}.${a.function}`;
}

function checkAddresses(def: DomainDef): void {
  const d = def.devices;
  const all: (PciAddress | DriveAddress | undefined)[] = [
    ...d.disks.map((x) => x.address),
    ...d.interfaces.map((x) => x.address),
    ...d.videos.map((x) => x.address),
    ...(d.controllers ?? []).map((x) => x.address),
    ...[...(d.sounds ?? []), ...(d.rngs ?? []), ...(d.watchdogs ?? [])].map((x) => x.address),
    d.memballoon?.address,
  ];
  const pci = all.filter((a): a is PciAddress => a !== undefined && !("controller" in a));
  checkUnique(pci, pciKey, "PCI address");
  const drives = d.disks.flatMap((x) => (x.address !== undefined && "controller" in x.address ? [{ bus: x.target.bus, a: x.address }] : []));
  checkUnique(drives, ({ bus, a }) => `${bus} ${a.controller}:${a.bus}:${a.target}:${a.unit}`, "drive address");
  checkUnique(d.controllers ?? [], (c) => `${c.type} index ${c.index}`, "controller");
  const usb = [...d.inputs, ...(d.redirdevs ?? [])].flatMap((i) => (i.address !== undefined ? [i.address] : []));
  checkUnique(usb, (a) => `${a.bus}:${a.port}`, "USB address");
  const vser = d.channels.flatMap((c) => (c.address !== undefined ? [c.address] : []));
  checkUnique(vser, (a) => `${a.controller}:${a.bus}:${a.port}`, "virtio-serial address");
}

function checkExtraDevices(def: DomainDef): void {
  const d = def.devices;
  const audios = d.audios ?? [];
  checkUnique(audios, (a) => String(a.id), "audio id");
  for (const s of d.sounds ?? []) {
    if (s.audioId !== undefined && !audios.some((a) => a.id === s.audioId)) throw invalid(`sound '${s.model}' refers to missing <audio id='${s.audioId}'>`);
  }
  const spice = d.graphics.some((g) => g.type === "spice");
  const needsSpice = [...audios.filter((a) => a.type === "spice"), ...d.channels.filter((c) => c.type === "spicevmc"), ...(d.redirdevs ?? [])];
  if (needsSpice.length > 0 && !spice) throw invalid("spice audio, spicevmc channels and USB redirection need <graphics type='spice'>");
  for (const c of d.channels) if (c.type === "spicevmc" && c.targetName !== "com.redhat.spice.0") throw invalid(`a spicevmc channel must be named com.redhat.spice.0, not '${c.targetName}'`);
  if ((d.watchdogs ?? []).length > 1) throw invalid("at most one watchdog is supported (QEMU has one watchdog action)");
  for (const i of d.inputs) if (i.address !== undefined && i.bus !== "usb") throw invalid(`${i.bus} ${i.type} input cannot have a USB address`);
}

function checkMisc(def: DomainDef): void {
  checkPath(def.devices.emulator, "emulator");
  def.devices.graphics.forEach(checkGraphics);
  checkUnique(def.devices.graphics, (g) => g.type, "graphics type");
  for (const v of def.devices.videos) {
    if (v.vram !== undefined && (v.model === "none" || v.vram === 0)) throw invalid(`video model '${v.model}': invalid vram ${v.vram}`);
  }
  const mb = def.devices.memballoon;
  if (mb?.model === "none" && (mb.statsPeriod !== undefined || mb.address !== undefined)) {
    throw invalid("memballoon model 'none' takes no stats period or address");
  }
}

/**
 * Checks a parsed or hand-built definition before a driver accepts it.
 * @throws AgentError invalid_arg naming the first problem found.
 */
export function validateDomainDef(def: DomainDef): void {
  checkIdentity(def);
  checkSizes(def);
  checkOs(def);
  checkDisks(def);
  checkInterfaces(def);
  checkBootOrder(def);
  checkCharDevs(def);
  checkAddresses(def);
  checkExtraDevices(def);
  checkMisc(def);
}
