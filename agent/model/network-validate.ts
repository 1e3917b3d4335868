/**
 * Semantic checks of network definitions (pure), libvirt's virNetworkDefParse checks plus
 * the conflicts a start would otherwise discover half-way (overlapping subnets, bridge names).
 */
import { AgentError } from "./errors.js";
import { isManagedBridge, type IpDef, type NetworkDef } from "./network-def.js";
import { cidrOf, cidrsOverlap, cidrText, inCidr, parseIp, type Cidr } from "./network-ip.js";
import { isCanonicalUuid } from "./uuid.js";

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/;
/** Linux IFNAMSIZ is 16 including the NUL; no "/" or whitespace, not "." or "..". */
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const DNS_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function invalid(message: string, details: Record<string, unknown> = {}): AgentError {
  return new AgentError("invalid_arg", message, { component: "network", details });
}

export function isValidIfname(s: string): boolean {
  return IFNAME_RE.test(s);
}

/** The subnet of one <ip>; invalid_arg when the address does not parse in its family. */
export function ipCidr(ip: IpDef): Cidr {
  const addr = parseIp(ip.family, ip.address);
  if (addr === undefined) throw invalid(`invalid ${ip.family} address '${ip.address}'`);
  return cidrOf(ip.family, addr, ip.prefix);
}

function checkPrefix(ip: IpDef): void {
  // /31 and /32 leave no room for guests; IPv6 RA/SLAAC only works on a /64 (RFC 4862 §5.5.3).
  const ok = ip.family === "ipv4" ? ip.prefix >= 8 && ip.prefix <= 30 : ip.prefix === 64;
  if (!ok) throw invalid(`invalid prefix /${ip.prefix} for ${ip.family} (ipv4: 8-30, ipv6: 64)`, { address: ip.address });
}

function checkInSubnet(ip: IpDef, cidr: Cidr, addrText: string, what: string): bigint {
  const v = parseIp(ip.family, addrText);
  if (v === undefined) throw invalid(`invalid ${ip.family} address '${addrText}' in ${what}`);
  if (!inCidr(cidr, v)) throw invalid(`${what} ${addrText} is outside the subnet ${cidrText(cidr)}`, { subnet: cidrText(cidr) });
  const last = cidr.base | ((1n << BigInt((ip.family === "ipv4" ? 32 : 128) - ip.prefix)) - 1n);
  if (ip.family === "ipv4" && (v === cidr.base || v === last)) throw invalid(`${what} ${addrText} is the network or broadcast address of ${cidrText(cidr)}`);
  return v;
}

function checkDhcp(ip: IpDef, cidr: Cidr): void {
  for (const r of ip.dhcp?.ranges ?? []) {
    const start = checkInSubnet(ip, cidr, r.start, "DHCP range start");
    const end = checkInSubnet(ip, cidr, r.end, "DHCP range end");
    if (start > end) throw invalid(`DHCP range ${r.start}-${r.end} ends before it starts`);
  }
  for (const h of ip.dhcp?.hosts ?? []) {
    checkInSubnet(ip, cidr, h.ip, "DHCP host");
    if (h.mac !== undefined && !MAC_RE.test(h.mac)) throw invalid(`invalid MAC '${h.mac}' in DHCP host`);
    if (h.name !== undefined && !DNS_NAME_RE.test(h.name)) throw invalid(`invalid host name '${h.name}' in DHCP host`);
    if (h.id !== undefined && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$/.test(h.id)) throw invalid(`invalid DHCP id '${h.id}'`);
    const ok = ip.family === "ipv4" ? h.mac !== undefined || h.name !== undefined : h.id !== undefined || h.name !== undefined;
    if (!ok) throw invalid(`DHCP host ${h.ip} needs ${ip.family === "ipv4" ? "mac or name" : "id or name"}`);
  }
}

function checkIps(def: NetworkDef): void {
  if (def.forward === "bridge" && def.ips.length > 0) throw invalid(`forward mode 'bridge' uses an existing host bridge and takes no <ip>`);
  const cidrs: Cidr[] = [];
  for (const fam of ["ipv4", "ipv6"] as const) {
    if (def.ips.filter((i) => i.family === fam && i.dhcp !== undefined).length > 1) throw invalid(`only one ${fam} <ip> may have <dhcp>`);
  }
  for (const ip of def.ips) {
    checkPrefix(ip);
    const cidr = ipCidr(ip);
    checkInSubnet(ip, cidr, ip.address, "address");
    if (cidrs.some((c) => cidrsOverlap(c, cidr))) throw invalid(`subnet ${cidrText(cidr)} is listed twice`);
    cidrs.push(cidr);
    checkDhcp(ip, cidr);
  }
}

/**
 * Checks one definition on its own.
 * @throws AgentError invalid_arg naming the offending value.
 */
export function validateNetworkDef(def: NetworkDef): void {
  if (!NAME_RE.test(def.name)) throw invalid(`invalid network name '${def.name}' (letters, digits, _ . + -; at most 64)`);
  if (def.uuid !== "" && !isCanonicalUuid(def.uuid)) throw invalid(`invalid uuid '${def.uuid}'`);
  if (def.bridge !== "" && !IFNAME_RE.test(def.bridge)) throw invalid(`invalid bridge name '${def.bridge}' (at most 15 of A-Z a-z 0-9 _ . -)`);
  if (def.forward === "bridge" && def.bridge === "") throw invalid(`forward mode 'bridge' needs <bridge name='…'/> of an existing host bridge`);
  if (def.mac !== undefined && !MAC_RE.test(def.mac)) throw invalid(`invalid bridge MAC '${def.mac}'`);
  if (def.domainName !== undefined && !DNS_NAME_RE.test(def.domainName)) throw invalid(`invalid domain name '${def.domainName}'`);
  if (!isManagedBridge(def) && (def.mtu !== undefined || def.mac !== undefined || def.domainName !== undefined)) {
    throw invalid(`forward mode 'bridge' takes no <mtu>, <mac> or <domain>`);
  }
  checkIps(def);
}

/** Subnets of a definition (one per <ip>). Call on a validated def. */
export function networkCidrs(def: NetworkDef): Cidr[] {
  return def.ips.map(ipCidr);
}

/**
 * Checks a definition against the others (by name: a redefinition is not a conflict) and
 * against host routes.
 * @throws AgentError operation_invalid for a shared bridge name or an overlapping subnet.
 */
export function checkConflicts(def: NetworkDef, others: readonly NetworkDef[], hostRoutes: readonly Cidr[] = []): void {
  const mine = networkCidrs(def);
  for (const o of others) {
    if (o.name === def.name || (def.uuid !== "" && o.uuid === def.uuid)) continue;
    if (def.bridge !== "" && o.bridge === def.bridge && (isManagedBridge(def) || isManagedBridge(o))) {
      throw new AgentError("operation_invalid", `bridge name '${def.bridge}' is already used by network '${o.name}'`, { component: "network", details: { network: o.name } });
    }
    const hit = networkCidrs(o).find((c) => mine.some((m) => cidrsOverlap(m, c)));
    if (hit) throw new AgentError("operation_invalid", `subnet ${cidrText(hit)} of network '${o.name}' overlaps this network`, { component: "network", details: { network: o.name } });
  }
  const route = hostRoutes.find((r) => mine.some((m) => cidrsOverlap(m, r)));
  if (route) throw new AgentError("operation_invalid", `subnet overlaps the host route ${cidrText(route)}`, { component: "network", details: { route: cidrText(route) } });
}
