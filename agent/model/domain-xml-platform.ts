/**
 * Parse and format of the platform elements for domain-xml.ts (pure): `<features>`, `<cpu>`,
 * `<clock>`, `<pm>`, `<resource>` and `<seclabel>`. Same error conventions as domain-xml.ts.
 * docs/domain-xml.md says, per element, where each accepted value is honoured.
 */
import { CPU_FEATURE_POLICIES, CPU_MODES, TIMER_NAMES } from "./domain-def.js";
import type { ClockDef, CpuDef, CpuFeature, CpuTopology, FeaturesDef, PmDef, SeclabelDef, TimerDef } from "./domain-def.js";
import { AgentError } from "./errors.js";
import type { XEl } from "./xml-reader.js";
import { el } from "./xml-writer.js";

function unsupported(message: string): AgentError {
  return new AgentError("config_unsupported", message, { component: "conf" });
}

const yesNo = (b: boolean): string => (b ? "yes" : "no");

export function parseFeatures(root: XEl): FeaturesDef {
  const f = root.child("features");
  const def: FeaturesDef = { acpi: f?.flag("acpi") ?? false, apic: f?.flag("apic") ?? false };
  if (f?.flag("pae") === true) def.pae = true;
  const smm = f?.child("smm");
  if (smm !== undefined) {
    def.smm = smm.boolAttr("state", true);
    smm.finish();
  }
  const vmport = f?.child("vmport");
  if (vmport !== undefined) {
    def.vmport = vmport.enumAttr("state", ["on", "off"] as const);
    vmport.finish();
  }
  f?.finish();
  return def;
}

export function formatFeatures(f: FeaturesDef): string[] {
  const kids = [
    ...(f.acpi ? el("acpi") : []),
    ...(f.apic ? el("apic") : []),
    ...(f.pae === true ? el("pae") : []),
    ...(f.vmport !== undefined ? el("vmport", [["state", f.vmport]]) : []),
    ...(f.smm !== undefined ? el("smm", [["state", f.smm ? "on" : "off"]]) : []),
  ];
  return kids.length > 0 ? el("features", [], kids) : [];
}

function parseTopology(c: XEl): CpuTopology | undefined {
  const t = c.child("topology");
  if (t === undefined) return undefined;
  const n = (name: string): number => t.reqIntAttr(name, 1, 4096);
  const topo: CpuTopology = { sockets: n("sockets"), dies: t.intAttr("dies", 1, 4096) ?? 1, cores: n("cores"), threads: n("threads") };
  t.finish();
  return topo;
}

function parseCpuFeature(f: XEl): CpuFeature {
  const policy = f.enumAttr("policy", CPU_FEATURE_POLICIES, "require");
  const feature: CpuFeature = { policy, name: f.reqAttr("name") };
  f.finish();
  return feature;
}

function parseCpuModel(c: XEl, def: CpuDef): void {
  const m = c.child("model");
  if (m === undefined) return;
  def.model = m.text();
  const fallback = m.optEnumAttr("fallback", ["allow", "forbid"]);
  if (fallback !== undefined) def.fallback = fallback;
  m.finish();
}

export function parseCpu(root: XEl): CpuDef | undefined {
  const c = root.child("cpu");
  if (c === undefined) return undefined;
  const def: CpuDef = { mode: c.enumAttr("mode", CPU_MODES, "custom") };
  const match = c.optEnumAttr("match", ["exact"]);
  if (match !== undefined) def.match = match;
  // 'full' makes libvirt re-check the CPU QEMU created; virtbus checks nothing ('none').
  const check = c.optEnumAttr("check", ["none", "partial"]);
  if (check !== undefined) def.check = check;
  if (c.node.attrs.migratable !== undefined) def.migratable = c.boolAttr("migratable", true);
  parseCpuModel(c, def);
  const topology = parseTopology(c);
  if (topology !== undefined) def.topology = topology;
  const features = c.children("feature").map(parseCpuFeature);
  if (features.length > 0) def.features = features;
  c.finish();
  return def;
}

export function formatCpu(cpu: CpuDef | undefined): string[] {
  if (cpu === undefined) return [];
  const t = cpu.topology;
  const attrs: [string, string | undefined][] = [
    ["mode", cpu.mode],
    ["match", cpu.match],
    ["check", cpu.check],
    ["migratable", cpu.migratable === undefined ? undefined : cpu.migratable ? "on" : "off"],
  ];
  return el("cpu", attrs, [
    ...(cpu.model !== undefined ? el("model", [["fallback", cpu.fallback]], cpu.model) : []),
    ...(t ? el("topology", [["sockets", t.sockets], ["dies", t.dies], ["cores", t.cores], ["threads", t.threads]]) : []),
    ...(cpu.features ?? []).flatMap((f) => el("feature", [["policy", f.policy], ["name", f.name]])),
  ]);
}

/** Timer values virtbus can honour: rtc catchup/delay, pit delay, hpet present yes/no. */
function parseTimer(t: XEl): TimerDef {
  const name = t.enumAttr("name", TIMER_NAMES);
  const timer: TimerDef = { name };
  const policies = name === "rtc" ? (["catchup", "delay"] as const) : name === "pit" ? (["delay"] as const) : ([] as const);
  if (policies.length > 0) {
    const tp = t.optEnumAttr("tickpolicy", policies);
    if (tp !== undefined) timer.tickpolicy = tp;
  }
  if (name === "hpet") {
    if (t.node.attrs.present !== undefined) timer.present = t.boolAttr("present", true);
  } else t.optEnumAttr("present", ["yes"]);
  t.finish();
  return timer;
}

export function parseClock(root: XEl): ClockDef | undefined {
  const c = root.child("clock");
  if (c === undefined) return undefined;
  const def: ClockDef = { offset: c.enumAttr("offset", ["utc", "localtime"]) };
  const timers = c.children("timer").map(parseTimer);
  if (new Set(timers.map((t) => t.name)).size !== timers.length) {
    throw new AgentError("xml_error", "a <clock/timer> name may appear only once", { component: "conf" });
  }
  if (timers.length > 0) def.timers = timers;
  c.finish();
  return def;
}

export function formatClock(clock: ClockDef | undefined): string[] {
  if (clock === undefined) return [];
  const timers = (clock.timers ?? []).flatMap((t) =>
    el("timer", [["name", t.name], ["tickpolicy", t.tickpolicy], ["present", t.present === undefined ? undefined : yesNo(t.present)]]),
  );
  return el("clock", [["offset", clock.offset]], timers);
}

export function parsePm(root: XEl): PmDef | undefined {
  const pm = root.child("pm");
  if (pm === undefined) return undefined;
  const def: PmDef = {};
  for (const [tag, key] of [["suspend-to-mem", "suspendToMem"], ["suspend-to-disk", "suspendToDisk"]] as const) {
    const c = pm.child(tag);
    if (c === undefined) continue;
    def[key] = c.boolAttr("enabled", true);
    c.finish();
  }
  pm.finish();
  return def;
}

export function formatPm(pm: PmDef | undefined): string[] {
  if (pm === undefined) return [];
  return el("pm", [], [
    ...(pm.suspendToMem !== undefined ? el("suspend-to-mem", [["enabled", yesNo(pm.suspendToMem)]]) : []),
    ...(pm.suspendToDisk !== undefined ? el("suspend-to-disk", [["enabled", yesNo(pm.suspendToDisk)]]) : []),
  ]);
}

/** `<resource><partition>/machine</partition>`: libvirt's default cgroup partition; virtbus places no cgroups. */
export function parseResource(root: XEl): string | undefined {
  const r = root.child("resource");
  if (r === undefined) return undefined;
  const p = r.childText("partition");
  if (p !== "/machine") {
    throw unsupported(`unsupported value '${p ?? ""}' in <resource/partition> (supported: /machine; virtbus does not place guests in cgroup partitions)`);
  }
  r.finish();
  return p;
}

export function formatResource(partition: string | undefined): string[] {
  return partition === undefined ? [] : el("resource", [], el("partition", [], partition));
}

const SECLABEL_MODELS = ["none", "dac", "apparmor", "selinux"] as const;

/**
 * Only type='none' is accepted: per-guest dynamic labels need libvirt's security drivers.
 * virtbus confines every QEMU with its seccomp -sandbox (and the service's own confinement) instead.
 */
function parseSeclabel(x: XEl): SeclabelDef {
  const type = x.attr("type");
  if (type !== "none") {
    throw unsupported(
      `unsupported value '${type ?? ""}' for attribute 'type' of <seclabel> (supported: none): virtbus has no per-guest ` +
        "apparmor/selinux labelling (QEMU runs under its seccomp -sandbox); remove <seclabel> or write <seclabel type='none'/>",
    );
  }
  const s: SeclabelDef = { type: "none" };
  const model = x.optEnumAttr("model", SECLABEL_MODELS);
  if (model !== undefined) s.model = model;
  x.finish();
  return s;
}

export function parseSeclabels(root: XEl): SeclabelDef[] | undefined {
  const list = root.children("seclabel").map(parseSeclabel);
  return list.length > 0 ? list : undefined;
}

export function formatSeclabels(list: SeclabelDef[] | undefined): string[] {
  return (list ?? []).flatMap((s) => el("seclabel", [["type", s.type], ["model", s.model]]));
}
