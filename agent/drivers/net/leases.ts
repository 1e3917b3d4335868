/**
 * dnsmasq lease file → DHCP leases (pure parsing). IPv4 lines are
 * "expiry mac ip hostname clientid"; after a "duid SERVER-DUID" line, IPv6 lines are
 * "expiry iaid ip hostname client-duid" (dnsmasq's lease.c). "*" means unknown.
 */
export interface DhcpLease {
  /** Unix seconds; 0 means infinite. */
  expiryTime: number;
  type: "ipv4" | "ipv6";
  ipAddress: string;
  /** IPv4 only: the client's MAC. */
  mac?: string;
  /** IPv6 only: the IA id. */
  iaid?: string;
  hostname?: string;
  /** IPv4 client id or IPv6 DUID. */
  clientId?: string;
}

function known(s: string | undefined): string | undefined {
  return s === undefined || s === "*" ? undefined : s;
}

function parseLine(fields: string[], v6: boolean): DhcpLease | undefined {
  const [expiry, who, ip, host, id] = fields;
  if (expiry === undefined || who === undefined || ip === undefined || !/^\d+$/.test(expiry)) return undefined;
  const lease: DhcpLease = { expiryTime: Number(expiry), type: v6 ? "ipv6" : "ipv4", ipAddress: ip };
  if (v6) lease.iaid = who;
  else lease.mac = who.toLowerCase();
  const [hostname, clientId] = [known(host), known(id)];
  if (hostname !== undefined) lease.hostname = hostname;
  if (clientId !== undefined) lease.clientId = clientId;
  return lease;
}

/** Parses the whole file; malformed lines are skipped (dnsmasq rewrites it as it runs). */
export function parseLeases(text: string): DhcpLease[] {
  let v6 = false;
  const out: DhcpLease[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === "duid") {
      v6 = true;
      continue;
    }
    const lease = parseLine(fields, v6 || (fields[2] ?? "").includes(":"));
    if (lease) out.push(lease);
  }
  return out;
}
