/**
 * Virtual network definitions (libvirt's virNetworkDef, the supported subset). Pure data.
 */

/** libvirt's <forward mode>; "isolated" is libvirt's "no <forward> element". */
export const FORWARD_MODES = ["nat", "route", "open", "isolated", "bridge"] as const;
export type ForwardMode = (typeof FORWARD_MODES)[number];

export const IP_FAMILIES = ["ipv4", "ipv6"] as const;
export type IpFamily = (typeof IP_FAMILIES)[number];

export interface DhcpRange {
  start: string;
  end: string;
}

export interface DhcpHost {
  /** IPv4 hosts are matched by MAC, IPv6 hosts by id or name (libvirt's rule). */
  mac?: string;
  id?: string;
  name?: string;
  ip: string;
}

export interface IpDef {
  family: IpFamily;
  /** The bridge's own address in this subnet. */
  address: string;
  prefix: number;
  dhcp?: { ranges: DhcpRange[]; hosts: DhcpHost[] };
}

export interface NetworkDef {
  name: string;
  uuid: string; // lower-case canonical
  forward: ForwardMode;
  /** The bridge we create (all modes but "bridge"), or the existing host bridge (mode "bridge"). */
  bridge: string;
  /** libvirt's <bridge stp>; default on, as libvirt. */
  stp: boolean;
  /** Bridge delay in seconds (libvirt default 0). */
  delay: number;
  mtu?: number;
  /** libvirt's <mac address> of the bridge. */
  mac?: string;
  /** <domain name='…'/>: the local DNS domain dnsmasq serves. */
  domainName?: string;
  ips: IpDef[];
}

/** Modes where the agent creates a bridge, addresses and dnsmasq (libvirt's "virtual" networks). */
export function isManagedBridge(def: NetworkDef): boolean {
  return def.forward !== "bridge";
}
