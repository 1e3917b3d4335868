/**
 * Network definition → nftables ruleset (pure; golden-tested). Each network gets its own
 * table `inet virtbus-<bridge>`, so starting and stopping one network is one atomic
 * `nft -f` and one `delete table`, and the host's own tables are never touched.
 *
 * Rules follow libvirt's: nat lets the subnet out and only replies back in, and
 * masquerades IPv4 leaving the subnet; route forwards both ways; isolated lets guests talk
 * to each other and the host but forwards nothing; open and bridge get no rules at all.
 */
import type { IpDef, NetworkDef } from "../../model/network-def.js";
import { cidrText } from "../../model/network-ip.js";
import { ipCidr } from "../../model/network-validate.js";

export function firewallTable(def: NetworkDef): string {
  return `virtbus-${def.bridge}`;
}

export function needsFirewall(def: NetworkDef): boolean {
  return def.forward === "nat" || def.forward === "route" || def.forward === "isolated";
}

function proto(ip: IpDef): "ip" | "ip6" {
  return ip.family === "ipv4" ? "ip" : "ip6";
}

function forwardRules(def: NetworkDef): string[] {
  const br = `"${def.bridge}"`;
  const rules = [`iifname ${br} oifname ${br} accept`];
  if (def.forward !== "isolated") {
    for (const ip of def.ips) {
      const net = cidrText(ipCidr(ip));
      // IPv6 is routed even in nat mode (libvirt does not NAT IPv6 by default).
      const natted = def.forward === "nat" && ip.family === "ipv4";
      rules.push(`iifname ${br} ${proto(ip)} saddr ${net} accept`);
      rules.push(`oifname ${br} ${proto(ip)} daddr ${net}${natted ? " ct state established,related" : ""} accept`);
    }
  }
  rules.push(`iifname ${br} reject`, `oifname ${br} reject`);
  return rules;
}

function natRules(def: NetworkDef): string[] {
  if (def.forward !== "nat") return [];
  return def.ips
    .filter((ip) => ip.family === "ipv4")
    .flatMap((ip) => {
      const net = cidrText(ipCidr(ip));
      // Multicast and broadcast must leave unchanged (libvirt's exceptions).
      return [`ip saddr ${net} ip daddr 224.0.0.0/24 return`, `ip saddr ${net} ip daddr 255.255.255.255 return`, `ip saddr ${net} ip daddr != ${net} masquerade`];
    });
}

function chain(name: string, hook: string, rules: string[]): string[] {
  return [`  chain ${name} {`, `    ${hook}; policy accept;`, ...rules.map((r) => `    ${r}`), "  }"];
}

/** The table as `nft -f` input; empty string when the mode needs no rules. */
export function buildFirewallRules(def: NetworkDef): string {
  if (!needsFirewall(def)) return "";
  const nat = natRules(def);
  const lines = [
    `table inet ${firewallTable(def)} {`,
    ...chain("forward", "type filter hook forward priority filter", forwardRules(def)),
    ...(nat.length > 0 ? chain("postrouting", "type nat hook postrouting priority srcnat", nat) : []),
    "}",
  ];
  return `${lines.join("\n")}\n`;
}
