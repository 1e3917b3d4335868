/**
 * UEFI firmware for `<os firmware='efi'>` without a `<loader>`: chosen from QEMU's firmware
 * descriptors (the JSON files of QEMU's docs/interop/firmware.json that Debian's ovmf
 * installs in /usr/share/qemu/firmware; a file of the same name in /etc/qemu/firmware
 * overrides it, an empty one hides it), in file-name order, as libvirt chooses. Also
 * fills the variable store of a `<loader>` given without `<nvram>`, and creates a missing
 * store from its template when the guest starts.
 *
 * selectFirmware() and resolveFirmware() are pure; the I/O is loadDescriptors() and
 * ensureNvram().
 */
import { constants as fsc } from "node:fs";
import { chmod, chown, copyFile, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { DomainDef } from "../../model/domain-def.js";
import { AgentError } from "../../model/errors.js";
import { globToRegExp } from "../../model/glob.js";

export const FIRMWARE_DIRS = ["/usr/share/qemu/firmware", "/etc/qemu/firmware"];

export interface FirmwareDescriptor {
  /** The descriptor's file name (its priority). */
  file: string;
  executable: string;
  template?: string;
  targets: { architecture: string; machines: string[] }[];
  features: string[];
}

function unsupported(message: string): AgentError {
  return new AgentError("config_unsupported", message, { component: "qemu" });
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** One descriptor's JSON, or undefined for what is not a UEFI flash image we can use. */
export function parseDescriptor(file: string, json: unknown): FirmwareDescriptor | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const d = json as Record<string, unknown>;
  const mapping = (d["mapping"] ?? {}) as Record<string, unknown>;
  if (!strs(d["interface-types"]).includes("uefi") || mapping["device"] !== "flash") return undefined;
  const exe = (mapping["executable"] ?? {}) as Record<string, unknown>;
  const tpl = (mapping["nvram-template"] ?? {}) as Record<string, unknown>;
  const executable = str(exe["filename"]);
  // Only split code/variables images in raw format: what firmwareArgs() wires as pflash0/1.
  if (executable === undefined || (exe["format"] ?? "raw") !== "raw" || (mapping["mode"] ?? "split") !== "split") return undefined;
  const targets = (Array.isArray(d["targets"]) ? d["targets"] : [])
    .map((t: unknown) => (t ?? {}) as Record<string, unknown>)
    .map((t) => ({ architecture: str(t["architecture"]) ?? "", machines: strs(t["machines"]) }));
  const template = str(tpl["filename"]);
  return { file, executable, ...(template ? { template } : {}), targets, features: strs(d["features"]) };
}

/** The descriptors of `dirs`, a later directory overriding a file of the same name, by file name. */
export async function loadDescriptors(dirs: readonly string[] = FIRMWARE_DIRS): Promise<FirmwareDescriptor[]> {
  const byName = new Map<string, string | undefined>();
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names) if (n.endsWith(".json")) byName.set(n, join(dir, n));
  }
  const out: FirmwareDescriptor[] = [];
  for (const name of [...byName.keys()].sort()) {
    const text = await readFile(byName.get(name)!, "utf8").catch(() => "");
    if (text.trim() === "") continue; // an empty override hides the packaged descriptor
    try {
      const d = parseDescriptor(name, JSON.parse(text));
      if (d) out.push(d);
    } catch {
      // a broken descriptor is skipped, as QEMU's and libvirt's readers do
    }
  }
  return out;
}

/** The first descriptor that fits the guest's architecture, machine and SMM setting. */
export function selectFirmware(descs: readonly FirmwareDescriptor[], def: DomainDef): FirmwareDescriptor | undefined {
  const machine = def.os.machine ?? "";
  return descs.find((d) => {
    if (!d.targets.some((t) => t.architecture === def.os.arch && t.machines.some((m) => globToRegExp(m).test(machine)))) return false;
    // Firmware that needs SMM is passed over only when the guest turns SMM off explicitly.
    if (d.features.includes("requires-smm") && def.features.smm === false) return false;
    return true;
  });
}

/**
 * A definition whose firmware is fully spelled out: `firmware='efi'` gets a loader, a
 * loader gets its variable store path (`<nvramDir>/<name>_VARS.fd`, as libvirt names it)
 * and, when a descriptor knows the loader, its template. `dirs`: where `descs` were read
 * from, for the messages.
 * @throws AgentError config_unsupported when no installed firmware fits.
 */
export function resolveFirmware(def: DomainDef, descs: readonly FirmwareDescriptor[], nvramDir: string, dirs: readonly string[] = FIRMWARE_DIRS): DomainDef {
  const where = dirs.join(" or ");
  const os = def.os;
  if (os.firmware !== "efi" && os.loader === undefined) return def;
  let features = def.features;
  let loader = os.loader;
  let template = os.nvram?.template;
  if (loader === undefined) {
    const d = selectFirmware(descs, def);
    if (!d) {
      throw unsupported(`<os firmware='efi'>: no UEFI firmware descriptor in ${where} fits arch ${os.arch}, machine ${os.machine ?? "?"} (install Debian package ovmf, or give <loader> and <nvram>)`);
    }
    const secure = d.features.includes("secure-boot");
    loader = { path: d.executable, readonly: true, type: "pflash", ...(secure ? { secure: true } : {}) };
    if (d.features.includes("requires-smm")) features = { ...features, smm: true };
    template ??= d.template;
  } else if (template === undefined && os.nvram === undefined) {
    template = descs.find((d) => d.executable === loader!.path)?.template;
  }
  // The agent copies the template with its own rights when the store is missing, so only
  // a variable store that an installed firmware descriptor names is accepted as one.
  if (template !== undefined && !descs.some((d) => d.template === template)) {
    throw new AgentError("invalid_arg", `<nvram template='${template}'>: not a UEFI variable store template named by a firmware descriptor in ${where}`, { component: "qemu" });
  }
  const nvram = os.nvram ?? { path: join(nvramDir, `${def.name}_VARS.fd`) };
  if (os.nvram === undefined && template === undefined) {
    throw unsupported(`<loader>${loader.path}</loader> without <nvram>: no firmware descriptor names a variable store template for it; give <nvram template='...'>PATH</nvram>`);
  }
  return { ...def, features, os: { ...os, loader, nvram: template === undefined ? nvram : { ...nvram, template } } };
}

/**
 * True for a variable store the agent keeps itself: a file directly in its nvram directory,
 * where resolveFirmware() puts the stores it names. Those it hands to QEMU opened and may
 * delete at undefine; any other path is the operator's.
 */
export function isAgentStore(nvramDir: string, path: string): boolean {
  return dirname(resolve(path)) === resolve(nvramDir);
}

/**
 * Creates a guest's missing variable store from its template (mode 0600), as libvirt does
 * at start, owned by `owner` when given (an unprivileged QEMU opening it by path). An
 * existing store is never touched: it holds the guest's boot entries.
 * @throws AgentError invalid_arg when the store is missing and there is no template to copy.
 */
export async function ensureNvram(def: DomainDef, owner?: { uid: number; gid: number }): Promise<void> {
  const nvram = def.os.nvram;
  if (def.os.loader === undefined || nvram === undefined) return;
  if (await stat(nvram.path).then(() => true, () => false)) return;
  if (nvram.template === undefined) {
    throw new AgentError("invalid_arg", `UEFI variable store ${nvram.path} does not exist and <nvram> names no template to create it from`, { component: "qemu" });
  }
  try {
    await mkdir(dirname(nvram.path), { recursive: true, mode: 0o700 });
    await copyFile(nvram.template, nvram.path, fsc.COPYFILE_EXCL);
    await chmod(nvram.path, 0o600);
    if (owner) await chown(nvram.path, owner.uid, owner.gid);
  } catch (e) {
    throw new AgentError("invalid_arg", `cannot create UEFI variable store ${nvram.path} from ${nvram.template}: ${(e as Error).message}`, { component: "qemu", cause: e });
  }
}
