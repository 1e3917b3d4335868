/**
 * libvirt's scaled-integer units for `<memory unit=...>` and friends (pure).
 *
 * libvirt reads the unit case-insensitively by its shape: `b`/`bytes` = 1, a bare letter
 * or `<letter>iB` is a power of 1024 (`k`, `KiB`, `M`, `MiB`, ...), and `<letter>B` is a
 * power of 1000 (`KB`, `MB`, ...). An absent unit means KiB.
 */
import { AgentError } from "./errors.js";

const PREFIXES = ["k", "m", "g", "t", "p", "e"] as const;

/** Largest size we keep, in KiB: 2^53-1, libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED. */
export const MAX_KIB = Number.MAX_SAFE_INTEGER;

/** Bytes per unit, or undefined for a unit libvirt does not know. */
export function unitScale(unit: string): bigint | undefined {
  const u = unit.toLowerCase();
  if (u === "b" || u === "bytes") return 1n;
  const power = PREFIXES.indexOf(u.charAt(0) as (typeof PREFIXES)[number]) + 1;
  if (power === 0) return undefined;
  const rest = u.slice(1);
  if (rest === "" || rest === "ib") return 1024n ** BigInt(power);
  if (rest === "b") return 1000n ** BigInt(power);
  return undefined;
}

/**
 * Converts `value` (a decimal unsigned integer string) in `unit` to KiB.
 * @throws AgentError config_unsupported for an unknown unit; xml_error for a value that is
 * not an unsigned integer, is not a whole number of KiB, or exceeds MAX_KIB.
 */
export function toKiB(value: string, unit: string | undefined, where: string): number {
  const scale = unitScale(unit ?? "KiB");
  if (scale === undefined) {
    throw new AgentError("config_unsupported", `unsupported unit '${unit ?? ""}' in ${where}`, { component: "conf" });
  }
  if (!/^\d+$/.test(value)) {
    throw new AgentError("xml_error", `invalid size '${value}' in ${where}: expected an unsigned integer`, { component: "conf" });
  }
  const bytes = BigInt(value) * scale;
  if (bytes % 1024n !== 0n) {
    throw new AgentError("xml_error", `size ${value} ${unit ?? "KiB"} in ${where} is not a whole number of KiB`, { component: "conf" });
  }
  const kib = bytes / 1024n;
  if (kib > BigInt(MAX_KIB)) {
    throw new AgentError("xml_error", `size ${value} ${unit ?? "KiB"} in ${where} is too large (max ${MAX_KIB} KiB)`, { component: "conf" });
  }
  return Number(kib);
}
