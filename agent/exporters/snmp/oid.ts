/**
 * Object identifiers as number arrays: parse, print, compare (lexicographic order, the
 * order GETNEXT walks) and the UUID <-> index conversions the MIB tables need.
 */
import { AgentError } from "../../model/errors.js";

export type Oid = readonly number[];

/** @throws AgentError invalid_arg for anything but dotted non-negative integers. */
export function parseOid(text: string): number[] {
  const s = text.startsWith(".") ? text.slice(1) : text;
  if (s === "") return [];
  const parts = s.split(".");
  const out = new Array<number>(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? "";
    if (!/^\d{1,10}$/.test(p) || Number(p) > 0xffffffff) {
      throw new AgentError("invalid_arg", `bad OID "${text}"`, { component: "snmp" });
    }
    out[i] = Number(p);
  }
  return out;
}

export function formatOid(oid: Oid): string {
  return oid.join(".");
}

/** Negative when a sorts before b in a MIB walk. */
export function compareOid(a: Oid, b: Oid): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function startsWith(oid: Oid, prefix: Oid): boolean {
  if (oid.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (oid[i] !== prefix[i]) return false;
  return true;
}

/** The 16 octets of a UUID as sub-identifiers (an IMPLIED fixed-size index: no length prefix). */
export function uuidToIndex(uuid: string): number[] {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new AgentError("invalid_arg", `bad UUID "${uuid}"`, { component: "snmp" });
  const out: number[] = [];
  for (let i = 0; i < 32; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/** Inverse of uuidToIndex; undefined unless exactly 16 octets. */
export function indexToUuid(index: Oid): string | undefined {
  if (index.length !== 16 || index.some((n) => n > 255)) return undefined;
  const hex = index.map((n) => n.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidToOctets(uuid: string): Buffer {
  return Buffer.from(uuidToIndex(uuid));
}
