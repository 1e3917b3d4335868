/**
 * /proc/cpuinfo (x86 layout) → vendor, CPUID signature, microcode and flags. Only the first
 * processor block is read: on x86 every logical CPU reports the same identity.
 */

export interface CpuInfo {
  vendorId?: string;
  family?: number;
  model?: number;
  stepping?: number;
  microcode?: number;
  modelName?: string;
  flags: string[];
}

/** CPUID vendor strings → the vendor names libvirt prints. */
const VENDORS: Readonly<Record<string, string>> = {
  GenuineIntel: "Intel",
  AuthenticAMD: "AMD",
  HygonGenuine: "Hygon",
  CentaurHauls: "VIA",
  "  Shanghai  ": "Zhaoxin",
};

export function vendorName(vendorId: string | undefined): string | undefined {
  if (vendorId === undefined) return undefined;
  return VENDORS[vendorId] ?? vendorId;
}

function toInt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t.slice(2), 16);
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** The first processor block as key → value (keys trimmed; values keep inner spaces). */
function firstBlock(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (fields.size > 0) break;
      continue;
    }
    const i = line.indexOf(":");
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    if (!fields.has(key)) fields.set(key, line.slice(i + 1).replace(/^ /, ""));
  }
  return fields;
}

export function parseCpuinfo(text: string): CpuInfo {
  const f = firstBlock(text);
  const flags = (f.get("flags") ?? "").split(/\s+/).filter((x) => x !== "");
  return {
    vendorId: f.get("vendor_id"),
    family: toInt(f.get("cpu family")),
    model: toInt(f.get("model")),
    stepping: toInt(f.get("stepping")),
    microcode: toInt(f.get("microcode")),
    modelName: f.get("model name")?.trim(),
    flags,
  };
}
