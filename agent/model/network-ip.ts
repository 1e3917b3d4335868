/**
 * IPv4/IPv6 address arithmetic for network definitions (pure; no node:net here).
 * Addresses are held as bigint so both families share one set of subnet checks.
 */
import type { IpFamily } from "./network-def.js";

export interface Cidr {
  family: IpFamily;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

export function familyBits(family: IpFamily): number {
  return family === "ipv4" ? 32 : 128;
}

/** Parses dotted-quad IPv4; undefined when malformed (no leading zeros, as inet_pton). */
export function parseIpv4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parseGroups(s: string): number[] | undefined {
  if (s === "") return [];
  const out: number[] = [];
  for (const g of s.split(":")) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

/** Parses IPv6 text (with at most one "::"; no zone, no embedded IPv4); undefined when malformed. */
export function parseIpv6(s: string): bigint | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? "");
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

export function parseIp(family: IpFamily, s: string): bigint | undefined {
  return family === "ipv4" ? parseIpv4(s) : parseIpv6(s);
}

/** The family of an address literal, or undefined. */
export function ipFamilyOf(s: string): IpFamily | undefined {
  if (parseIpv4(s) !== undefined) return "ipv4";
  if (parseIpv6(s) !== undefined) return "ipv6";
  return undefined;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatIp(family: IpFamily, v: bigint): string {
  if (family === "ipv4") return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join(".");
  const g = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((v >> s) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function mask(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export function cidrOf(family: IpFamily, addr: bigint, prefix: number): Cidr {
  return { family, base: addr & mask(family, prefix), prefix };
}

export function cidrText(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

export function inCidr(c: Cidr, addr: bigint): boolean {
  return (addr & mask(c.family, c.prefix)) === c.base;
}

/** Two subnets of one family overlap when the shorter prefix contains the other's base. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(a.family, p)) === (b.base & mask(b.family, p));
}

/** Dotted netmask of an IPv4 prefix (dnsmasq's dhcp-range wants it). */
export function ipv4Netmask(prefix: number): string {
  return formatIp("ipv4", mask("ipv4", prefix));
}
