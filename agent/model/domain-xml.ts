/**
 * libvirt domain XML <-> DomainDef for the documented subset (docs/domain-xml.md).
 *
 * Use as a namespace: `import * as domainXml from "./domain-xml.js"`.
 * Error conventions (the same for every element):
 * - `xml_error`: not well-formed, DOCTYPE, oversize, wrong root, a required element or
 *   attribute missing (name, memory, os/type, ...), a value of the wrong syntax or range.
 * - `config_unsupported`: an element, attribute or attribute value outside the subset,
 *   named by its path, e.g. "unsupported element <devices/hostdev>".
 * Semantic checks (duplicates, paths, limits) live in `validateDomainDef`.
 */
import { BOOT_DEVICES, DOMAIN_DEFAULTS, DOMAIN_TYPES } from "./domain-def.js";
import type { DomainDef, OsDef } from "./domain-def.js";
import { parseDevices } from "./domain-xml-devices.js";
import { formatDevices } from "./domain-xml-devices-format.js";
import { formatFirmware, parseFirmware } from "./domain-xml-firmware.js";
import {
  formatClock,
  formatCpu,
  formatFeatures,
  formatPm,
  formatResource,
  formatSeclabels,
  parseClock,
  parseCpu,
  parseFeatures,
  parsePm,
  parseResource,
  parseSeclabels,
} from "./domain-xml-platform.js";
import { AgentError } from "./errors.js";
import { toKiB } from "./memory-units.js";
import { LIFECYCLE_ACTIONS } from "./state.js";
import type { LifecycleAction } from "./state.js";
import { canonicalUuid } from "./uuid.js";
import { XEl, dedentXml, rawChildContent, readXml } from "./xml-reader.js";
import { el, rawEl } from "./xml-writer.js";

export interface FormatOptions {
  /** Include secrets (the graphics passwd), like `virsh dumpxml --security-info`. Default false. */
  secure?: boolean;
}

function missing(what: string): AgentError {
  return new AgentError("xml_error", `missing ${what}`, { component: "conf" });
}

function reqText(parent: XEl, name: string): string {
  const t = parent.childText(name);
  if (t === undefined || t === "") throw missing(`element <${parent.path === "domain" ? name : `${parent.path}/${name}`}>`);
  return t;
}

function parseSize(parent: XEl, name: string): number | undefined {
  const c = parent.child(name);
  if (c === undefined) return undefined;
  const kib = toKiB(c.text(), c.attr("unit"), `<${c.path}>`);
  c.finish();
  return kib;
}

function parseVcpus(root: XEl): number {
  const c = root.child("vcpu");
  if (c === undefined) return 1; // libvirt's default
  c.enumAttr("placement", ["static"], "static");
  const n = Number(/^\d+$/.test(c.text()) ? c.text() : NaN);
  if (!Number.isSafeInteger(n)) throw new AgentError("xml_error", `invalid vcpu count '${c.text()}' in <vcpu>`, { component: "conf" });
  const current = c.intAttr("current", 0, Number.MAX_SAFE_INTEGER);
  if (current !== undefined && current !== n) {
    throw new AgentError("config_unsupported", "unsupported attribute value: <vcpu> 'current' different from the vcpu count (hotplug)", { component: "conf" });
  }
  c.finish();
  return n;
}

function parseOs(root: XEl): OsDef {
  const os = root.child("os");
  if (os === undefined) throw missing("element <os>");
  const t = os.child("type");
  if (t === undefined) throw missing("element <os/type>");
  if (t.text() !== "hvm") throw new AgentError("config_unsupported", `unsupported OS type '${t.text()}' in <os/type> (supported: hvm)`, { component: "conf" });
  const def: OsDef = { type: "hvm", arch: t.enumAttr("arch", ["x86_64", "i686"], "x86_64"), boot: [] };
  const machine = t.attr("machine");
  if (machine !== undefined) def.machine = machine;
  t.finish();
  parseFirmware(os, def);
  def.boot = os.children("boot").map((b) => {
    const dev = b.enumAttr("dev", BOOT_DEVICES);
    b.finish();
    return dev;
  });
  const menu = os.child("bootmenu");
  if (menu !== undefined) {
    def.bootMenu = menu.boolAttr("enable", false);
    menu.finish();
  }
  for (const k of ["kernel", "initrd", "cmdline"] as const) {
    const v = os.childText(k);
    if (v !== undefined) def[k] = v;
  }
  os.finish();
  return def;
}

function parseAction(root: XEl, name: string, allowed: readonly LifecycleAction[], dflt: LifecycleAction): LifecycleAction {
  const v = root.childText(name);
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new AgentError("config_unsupported", `unsupported value '${v}' in <${name}> (supported: ${allowed.join(", ")})`, { component: "conf" });
  }
  return v as LifecycleAction;
}

/** libvirt allows coredump-* only for on_crash. */
const NON_CRASH_ACTIONS = LIFECYCLE_ACTIONS.filter((a) => !a.startsWith("coredump"));

function parseHeader(root: XEl, xml: string): Pick<DomainDef, "type" | "name" | "uuid" | "title" | "description" | "metadata"> {
  const type = root.enumAttr("type", DOMAIN_TYPES);
  root.ignore("id"); // the runtime id virsh dumpxml shows for a running guest: state, not config
  const out: ReturnType<typeof parseHeader> = { type, name: reqText(root, "name"), uuid: "" };
  const uuid = root.childText("uuid");
  // An invalid uuid is kept as written so validateDomainDef can report it (invalid_arg).
  if (uuid !== undefined) out.uuid = canonicalUuid(uuid) ?? uuid;
  const title = root.childText("title");
  if (title !== undefined) out.title = title;
  const description = root.childText("description");
  if (description !== undefined) out.description = description;
  if (root.child("metadata") !== undefined) out.metadata = dedentXml(rawChildContent(xml, "metadata") ?? "");
  return out;
}

/** The optional top-level elements libvirt writes that carry no device. */
function parseOptional(root: XEl, def: DomainDef): void {
  const pm = parsePm(root);
  if (pm !== undefined) def.pm = pm;
  const partition = parseResource(root);
  if (partition !== undefined) def.resourcePartition = partition;
  const seclabels = parseSeclabels(root);
  if (seclabels !== undefined) def.seclabels = seclabels;
}

/**
 * Parses libvirt domain XML. A missing `<uuid>` yields `uuid: ""`: the caller (the driver's
 * define) generates one, because this module is pure. Does not run `validateDomainDef`.
 * @throws AgentError xml_error or config_unsupported (see the module comment).
 */
export function parse(xml: string): DomainDef {
  const root = new XEl(readXml(xml, "domain"));
  const header = parseHeader(root, xml);
  const memoryKiB = parseSize(root, "memory");
  if (memoryKiB === undefined) throw missing("element <memory>");
  const def: DomainDef = {
    ...header,
    memoryKiB,
    currentMemoryKiB: parseSize(root, "currentMemory") ?? memoryKiB,
    vcpus: parseVcpus(root),
    os: parseOs(root),
    features: parseFeatures(root),
    onPoweroff: parseAction(root, "on_poweroff", NON_CRASH_ACTIONS, DOMAIN_DEFAULTS.onPoweroff),
    onReboot: parseAction(root, "on_reboot", NON_CRASH_ACTIONS, DOMAIN_DEFAULTS.onReboot),
    onCrash: parseAction(root, "on_crash", LIFECYCLE_ACTIONS, DOMAIN_DEFAULTS.onCrash),
    devices: parseDevices(root.child("devices")),
  };
  const cpu = parseCpu(root);
  if (cpu !== undefined) def.cpu = cpu;
  const clock = parseClock(root);
  if (clock !== undefined) def.clock = clock;
  parseOptional(root, def);
  root.finish();
  return def;
}

function formatOs(os: OsDef): string[] {
  return el("os", [["firmware", os.firmware]], [
    ...el("type", [["arch", os.arch], ["machine", os.machine]], os.type),
    ...formatFirmware(os),
    ...(os.kernel !== undefined ? el("kernel", [], os.kernel) : []),
    ...(os.initrd !== undefined ? el("initrd", [], os.initrd) : []),
    ...(os.cmdline !== undefined ? el("cmdline", [], os.cmdline) : []),
    ...os.boot.flatMap((dev) => el("boot", [["dev", dev]])),
    ...(os.bootMenu !== undefined ? el("bootmenu", [["enable", os.bootMenu ? "yes" : "no"]]) : []),
  ]);
}

function formatHeader(def: DomainDef): string[] {
  return [
    ...el("name", [], def.name),
    ...(def.uuid !== "" ? el("uuid", [], def.uuid) : []),
    ...(def.title !== undefined ? el("title", [], def.title) : []),
    ...(def.description !== undefined ? el("description", [], def.description) : []),
    ...(def.metadata !== undefined ? rawEl("metadata", def.metadata) : []),
    ...el("memory", [["unit", "KiB"]], String(def.memoryKiB)),
    ...el("currentMemory", [["unit", "KiB"]], String(def.currentMemoryKiB)),
    ...el("vcpu", [["placement", "static"]], String(def.vcpus)),
    ...formatResource(def.resourcePartition),
  ];
}

function formatPlatform(def: DomainDef): string[] {
  return [
    ...formatOs(def.os),
    ...formatFeatures(def.features),
    ...formatCpu(def.cpu),
    ...formatClock(def.clock),
    ...el("on_poweroff", [], def.onPoweroff),
    ...el("on_reboot", [], def.onReboot),
    ...el("on_crash", [], def.onCrash),
    ...formatPm(def.pm),
  ];
}

/**
 * Formats a definition as pretty-printed libvirt-style domain XML (memory in KiB).
 * The graphics passwd is written only with `{secure: true}` (persistence), as libvirt's
 * dumpxml omits it without --security-info.
 */
export function format(def: DomainDef, opts: FormatOptions = {}): string {
  const body = [...formatHeader(def), ...formatPlatform(def), ...formatDevices(def.devices, opts.secure ?? false), ...formatSeclabels(def.seclabels)];
  return `${el("domain", [["type", def.type]], body).join("\n")}\n`;
}
