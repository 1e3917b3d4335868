/**
 * Host capabilities (pure): the data `host.capabilities` answers with, its XML form in
 * libvirt's capabilities format (what `virsh capabilities` prints, see libvirt's
 * formatcaps documentation) and its JSON form (the same data, snake_case keys).
 *
 * Deliberate differences from libvirt, so consumers are not surprised:
 * - `<cpu><model>` is a best-effort QEMU/libvirt model name chosen from the CPUID
 *   signature (drivers/host/cpu-model.ts), and `<feature>` lists every recognised
 *   cpuinfo flag, not the difference against that model as libvirt does.
 * - `<topology sockets=...>` counts sockets per NUMA node, as libvirt's nodeinfo does.
 * - A cell's `<pages>` count is the pool size (libvirt's meaning); the JSON also has `free`.
 * - No `<counter>`, `<maxphysaddr>`, resctrl `<control>` or `<memory_bandwidth>`.
 */

export const PM_TARGETS = ["suspend_mem", "suspend_disk", "suspend_hybrid"] as const;
export type PmTarget = (typeof PM_TARGETS)[number];

export const CACHE_TYPES = ["both", "data", "instruction"] as const;
export type CacheType = (typeof CACHE_TYPES)[number];

export interface CpuSignature {
  family: number;
  model: number;
  stepping: number;
}

export interface CpuTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

export interface HostCpu {
  arch: string;
  /** Best-effort libvirt/QEMU CPU model name; undefined when the CPU is not recognised. */
  model?: string;
  vendor?: string;
  /** The microcode revision as a number (cpuinfo prints it in hex; libvirt prints decimal). */
  microcode?: number;
  signature?: CpuSignature;
  topology: CpuTopology;
  /** libvirt feature names, sorted. */
  features: string[];
  /** Page sizes the host supports, KiB, ascending (4 first). */
  pageSizesKib: number[];
}

export interface CellPages {
  sizeKib: number;
  /** Pages of this size in the cell's pool (for 4 KiB: memory not in a hugepage pool). */
  count: number;
  free: number;
}

export interface CellCpu {
  id: number;
  socketId: number;
  dieId: number;
  coreId: number;
  /** Thread siblings as a cpu list ("0,4" or "0-1"). */
  siblings: string;
}

export interface NumaCell {
  id: number;
  memoryKib: number;
  pages: CellPages[];
  /** Empty when the kernel exposes no distances. */
  distances: Array<{ id: number; value: number }>;
  cpus: CellCpu[];
}

export interface CacheBank {
  id: number;
  level: number;
  type: CacheType;
  sizeKib: number;
  /** CPUs sharing the bank, as a cpu list. */
  cpus: string;
}

export interface SecModel {
  model: string;
  doi: string;
}

export interface GuestMachine {
  name: string;
  /** Set on an alias entry ("pc"): the versioned machine it stands for. */
  canonical?: string;
  maxCpus: number;
  deprecated: boolean;
}

export interface GuestFeature {
  name: string;
  /** libvirt's default='on|off' toggle='yes|no' pair; absent for plain flags like pae. */
  toggle?: { default: "on" | "off"; toggle: boolean };
}

export interface GuestCaps {
  osType: "hvm";
  arch: string;
  wordsize: number;
  emulator: string;
  machines: GuestMachine[];
  domainTypes: string[];
  features: GuestFeature[];
}

export interface HostCapabilities {
  host: {
    uuid: string;
    cpu: HostCpu;
    powerManagement: PmTarget[];
    /** Modes offered by /sys/power/mem_sleep (JSON only; libvirt has no element for it). */
    memSleep: string[];
    iommu: boolean;
    migration: { live: boolean; uriTransports: string[] };
    cells: NumaCell[];
    cacheBanks: CacheBank[];
    secModels: SecModel[];
  };
  guests: GuestCaps[];
}

/** A machine type as drivers/qemu/caps.ts reports it (structural, so model stays pure). */
export interface MachineInput {
  name: string;
  alias?: string;
  isDefault: boolean;
  deprecated: boolean;
  maxCpus: number;
}

/**
 * libvirt's guest machine list: each versioned machine, and after it an entry for its
 * alias with `canonical` set. The default machine comes first, as QEMU lists it.
 */
export function guestMachines(machines: readonly MachineInput[]): GuestMachine[] {
  const ordered = [...machines.filter((m) => m.isDefault), ...machines.filter((m) => !m.isDefault)];
  return ordered.flatMap((m) => {
    const own: GuestMachine = { name: m.name, maxCpus: m.maxCpus, deprecated: m.deprecated };
    if (m.alias === undefined) return [own];
    return [own, { name: m.alias, canonical: m.name, maxCpus: m.maxCpus, deprecated: m.deprecated }];
  });
}

/** Formats cpu ids as the kernel's cpu list ("0-3,8,10-11"). Input need not be sorted. */
export function formatCpuList(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

// ---- XML ----

type Attr = readonly [string, string | number | undefined];

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", "'": "apos", '"': "quot" }[c]};`);
}

/** One element as lines: text body, child lines (indented by two), or self-closed. */
function el(name: string, attrs: readonly Attr[] = [], body?: string | string[]): string[] {
  const a = attrs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}='${escapeXml(String(v))}'`)
    .join("");
  if (typeof body === "string") return [`<${name}${a}>${escapeXml(body)}</${name}>`];
  if (body === undefined || body.length === 0) return [`<${name}${a}/>`];
  return [`<${name}${a}>`, ...body.map((l) => `  ${l}`), `</${name}>`];
}

function formatCpu(cpu: HostCpu): string[] {
  const t = cpu.topology;
  const sig = cpu.signature;
  return el("cpu", [], [
    ...el("arch", [], cpu.arch),
    ...(cpu.model === undefined ? [] : el("model", [], cpu.model)),
    ...(cpu.vendor === undefined ? [] : el("vendor", [], cpu.vendor)),
    ...(cpu.microcode === undefined ? [] : el("microcode", [["version", cpu.microcode]])),
    ...(sig === undefined ? [] : el("signature", [["family", sig.family], ["model", sig.model], ["stepping", sig.stepping]])),
    ...el("topology", [["sockets", t.sockets], ["dies", t.dies], ["cores", t.cores], ["threads", t.threads]]),
    ...cpu.features.flatMap((f) => el("feature", [["name", f]])),
    ...cpu.pageSizesKib.flatMap((s) => el("pages", [["unit", "KiB"], ["size", s]])),
  ]);
}

function formatCell(c: NumaCell): string[] {
  const cpu = (x: CellCpu) =>
    el("cpu", [["id", x.id], ["socket_id", x.socketId], ["die_id", x.dieId], ["core_id", x.coreId], ["siblings", x.siblings]]);
  return el("cell", [["id", c.id]], [
    ...el("memory", [["unit", "KiB"]], String(c.memoryKib)),
    ...c.pages.flatMap((p) => el("pages", [["unit", "KiB"], ["size", p.sizeKib]], String(p.count))),
    ...(c.distances.length === 0 ? [] : el("distances", [], c.distances.flatMap((d) => el("sibling", [["id", d.id], ["value", d.value]])))),
    ...el("cpus", [["num", c.cpus.length]], c.cpus.flatMap(cpu)),
  ]);
}

/** libvirt prints a cache size in the largest unit that divides it exactly. */
export function cacheSizeUnit(sizeKib: number): [number, "KiB" | "MiB" | "GiB"] {
  if (sizeKib > 0 && sizeKib % (1024 * 1024) === 0) return [sizeKib / (1024 * 1024), "GiB"];
  if (sizeKib > 0 && sizeKib % 1024 === 0) return [sizeKib / 1024, "MiB"];
  return [sizeKib, "KiB"];
}

function formatCache(banks: readonly CacheBank[]): string[] {
  if (banks.length === 0) return [];
  return el(
    "cache",
    [],
    banks.flatMap((b) => {
      const [size, unit] = cacheSizeUnit(b.sizeKib);
      return el("bank", [["id", b.id], ["level", b.level], ["type", b.type], ["size", size], ["unit", unit], ["cpus", b.cpus]]);
    }),
  );
}

function formatHost(h: HostCapabilities["host"]): string[] {
  const mig = h.migration;
  return el("host", [], [
    ...el("uuid", [], h.uuid),
    ...formatCpu(h.cpu),
    ...el("power_management", [], h.powerManagement.flatMap((p) => el(p))),
    ...el("iommu", [["support", h.iommu ? "yes" : "no"]]),
    ...el("migration_features", [], [
      ...(mig.live ? el("live") : []),
      ...(mig.uriTransports.length === 0 ? [] : el("uri_transports", [], mig.uriTransports.flatMap((u) => el("uri_transport", [], u)))),
    ]),
    ...el("topology", [], el("cells", [["num", h.cells.length]], h.cells.flatMap(formatCell))),
    ...formatCache(h.cacheBanks),
    ...h.secModels.flatMap((s) => el("secmodel", [], [...el("model", [], s.model), ...el("doi", [], s.doi)])),
  ]);
}

function formatGuest(g: GuestCaps): string[] {
  const machine = (m: GuestMachine) =>
    el("machine", [["canonical", m.canonical], ["maxCpus", m.maxCpus], ["deprecated", m.deprecated ? "yes" : undefined]], m.name);
  const feature = (f: GuestFeature) =>
    el(f.name, f.toggle === undefined ? [] : [["default", f.toggle.default], ["toggle", f.toggle.toggle ? "yes" : "no"]]);
  return el("guest", [], [
    ...el("os_type", [], g.osType),
    ...el("arch", [["name", g.arch]], [
      ...el("wordsize", [], String(g.wordsize)),
      ...el("emulator", [], g.emulator),
      ...g.machines.flatMap(machine),
      ...g.domainTypes.flatMap((t) => el("domain", [["type", t]])),
    ]),
    ...el("features", [], g.features.flatMap(feature)),
  ]);
}

/** The capabilities document as `virsh capabilities` lays it out (blank line between sections). */
export function formatCapabilitiesXml(caps: HostCapabilities): string {
  const indent = (lines: string[]) => lines.map((l) => `  ${l}`);
  const sections = [formatHost(caps.host), ...caps.guests.map(formatGuest)].map((s) => indent(s).join("\n"));
  return `<capabilities>\n\n${sections.join("\n\n")}\n\n</capabilities>\n`;
}

// ---- JSON ----

function cpuJson(cpu: HostCpu): Record<string, unknown> {
  return {
    arch: cpu.arch,
    model: cpu.model ?? null,
    vendor: cpu.vendor ?? null,
    microcode: cpu.microcode ?? null,
    signature: cpu.signature ?? null,
    topology: cpu.topology,
    features: cpu.features,
    page_sizes_kib: cpu.pageSizesKib,
  };
}

function cellJson(c: NumaCell): Record<string, unknown> {
  return {
    id: c.id,
    memory_kib: c.memoryKib,
    pages: c.pages.map((p) => ({ size_kib: p.sizeKib, count: p.count, free: p.free })),
    distances: c.distances,
    cpus: c.cpus.map((x) => ({ id: x.id, socket_id: x.socketId, die_id: x.dieId, core_id: x.coreId, siblings: x.siblings })),
  };
}

function guestJson(g: GuestCaps): Record<string, unknown> {
  return {
    os_type: g.osType,
    arch: g.arch,
    wordsize: g.wordsize,
    emulator: g.emulator,
    machines: g.machines.map((m) => ({ name: m.name, canonical: m.canonical ?? null, max_cpus: m.maxCpus, deprecated: m.deprecated })),
    domain_types: g.domainTypes,
    features: g.features.map((f) => ({ name: f.name, default: f.toggle?.default ?? null, toggle: f.toggle?.toggle ?? null })),
  };
}

/** The same data as the XML, with the wire's snake_case keys. */
export function toCapabilitiesJson(caps: HostCapabilities): Record<string, unknown> {
  const h = caps.host;
  return {
    host: {
      uuid: h.uuid,
      cpu: cpuJson(h.cpu),
      power_management: h.powerManagement,
      mem_sleep: h.memSleep,
      iommu: h.iommu,
      migration_features: { live: h.migration.live, uri_transports: h.migration.uriTransports },
      cells: h.cells.map(cellJson),
      cache_banks: h.cacheBanks.map((b) => ({ id: b.id, level: b.level, type: b.type, size_kib: b.sizeKib, cpus: b.cpus })),
      secmodels: h.secModels,
    },
    guests: caps.guests.map(guestJson),
  };
}
