/**
 * libvirt network XML ⇄ NetworkDef (pure). The accepted subset is documented in
 * docs/networks.md; anything else is rejected as config_unsupported naming the element.
 * Semantic checks (prefix ranges, DHCP ranges inside the subnet, overlaps) live in
 * network-validate.ts.
 */
import { AgentError } from "./errors.js";
import { FORWARD_MODES, type DhcpHost, type DhcpRange, type IpDef, type IpFamily, type NetworkDef } from "./network-def.js";
import { familyBits, formatIp, ipv4Netmask, mask, parseIp, parseIpv4 } from "./network-ip.js";
import { canonicalUuid } from "./uuid.js";
import { XEl, readXml } from "./xml-reader.js";
import { el } from "./xml-writer.js";

function xmlError(message: string): AgentError {
  return new AgentError("xml_error", message, { component: "conf" });
}

/** Converts a dotted IPv4 netmask to a prefix length; invalid_arg when not contiguous. */
function netmaskToPrefix(netmask: string): number {
  const v = parseIpv4(netmask);
  for (let p = 0; v !== undefined && p <= 32; p++) if (mask("ipv4", p) === v) return p;
  throw new AgentError("invalid_arg", `invalid netmask '${netmask}'`, { component: "conf" });
}

function parseDhcp(dhcp: XEl): NonNullable<IpDef["dhcp"]> {
  const ranges: DhcpRange[] = dhcp.children("range").map((r) => {
    const out = { start: r.reqAttr("start"), end: r.reqAttr("end") };
    r.finish();
    return out;
  });
  const hosts: DhcpHost[] = dhcp.children("host").map((h) => {
    const out: DhcpHost = { ip: h.reqAttr("ip") };
    const [mac, id, name] = [h.attr("mac"), h.attr("id"), h.attr("name")];
    if (mac !== undefined) out.mac = mac.toLowerCase();
    if (id !== undefined) out.id = id;
    if (name !== undefined) out.name = name;
    h.finish();
    return out;
  });
  dhcp.finish();
  return { ranges, hosts };
}

function parsePrefix(ip: XEl, family: IpFamily): number {
  const netmask = ip.attr("netmask");
  const prefixText = ip.attr("prefix");
  if (netmask !== undefined && prefixText !== undefined) throw xmlError(`<ip> takes either netmask or prefix, not both`);
  if (netmask !== undefined) {
    if (family !== "ipv4") throw xmlError(`netmask is only valid for ipv4; use prefix`);
    return netmaskToPrefix(netmask);
  }
  if (prefixText === undefined) return family === "ipv4" ? 24 : 64;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > familyBits(family)) {
    throw new AgentError("invalid_arg", `invalid ${family} prefix '${prefixText}'`, { component: "conf" });
  }
  return Number(prefixText);
}

function parseIpEl(ip: XEl): IpDef {
  const family = ip.enumAttr("family", ["ipv4", "ipv6"] as const, "ipv4");
  const out: IpDef = { family, address: ip.reqAttr("address"), prefix: parsePrefix(ip, family) };
  const dhcp = ip.child("dhcp");
  if (dhcp !== undefined) out.dhcp = parseDhcp(dhcp);
  ip.finish();
  return out;
}

function parseForward(root: XEl): NetworkDef["forward"] {
  const fwd = root.child("forward");
  if (fwd === undefined) return "isolated";
  // libvirt: <forward/> without mode means nat.
  const mode = fwd.enumAttr("mode", FORWARD_MODES.filter((m) => m !== "isolated"), "nat");
  fwd.finish();
  return mode;
}

function parseBridge(root: XEl, def: NetworkDef): void {
  const br = root.child("bridge");
  if (br === undefined) return;
  def.bridge = br.attr("name") ?? "";
  def.stp = br.boolAttr("stp", true);
  def.delay = br.intAttr("delay", 0, 30) ?? 0;
  br.finish();
}

function parseSmall(root: XEl, def: NetworkDef): void {
  const mtu = root.child("mtu");
  if (mtu !== undefined) {
    def.mtu = mtu.reqIntAttr("size", 68, 65535);
    mtu.finish();
  }
  const mac = root.child("mac");
  if (mac !== undefined) {
    def.mac = mac.reqAttr("address").toLowerCase();
    mac.finish();
  }
  const domain = root.child("domain");
  if (domain !== undefined) {
    def.domainName = domain.reqAttr("name");
    domain.finish();
  }
}

/**
 * Parses libvirt network XML. A missing `<uuid>` yields `uuid: ""` (the driver assigns one);
 * a missing bridge name yields `bridge: ""` (the driver picks a free `virbrN`).
 * @throws AgentError xml_error (malformed), config_unsupported (outside the subset), invalid_arg.
 */
export function parse(xml: string): NetworkDef {
  const root = new XEl(readXml(xml, "network"));
  root.ignore("connections", "ipv6", "trustGuestRxFilters");
  const name = root.childText("name");
  if (name === undefined || name.trim() === "") throw xmlError("missing <name>");
  const uuid = root.childText("uuid");
  const def: NetworkDef = { name, uuid: uuid === undefined ? "" : canonicalUuid(uuid) ?? uuid, forward: parseForward(root), bridge: "", stp: true, delay: 0, ips: [] };
  parseBridge(root, def);
  parseSmall(root, def);
  def.ips = root.children("ip").map(parseIpEl);
  root.finish();
  return def;
}

function formatIpEl(ip: IpDef): string[] {
  const dhcp = ip.dhcp;
  const body =
    dhcp === undefined
      ? []
      : el("dhcp", [], [
          ...dhcp.ranges.flatMap((r) => el("range", [["start", r.start], ["end", r.end]])),
          ...dhcp.hosts.flatMap((h) => el("host", [["mac", h.mac], ["id", h.id], ["name", h.name], ["ip", h.ip]])),
        ]);
  const attrs: [string, string | number | undefined][] =
    ip.family === "ipv4"
      ? [["address", ip.address], ["netmask", ipv4Netmask(ip.prefix)]]
      : [["family", "ipv6"], ["address", ip.address], ["prefix", ip.prefix]];
  return el("ip", attrs, body);
}

/** Formats a definition as libvirt does (virsh net-dumpxml style). */
export function format(def: NetworkDef): string {
  const body = [
    ...el("name", [], def.name),
    ...(def.uuid !== "" ? el("uuid", [], def.uuid) : []),
    ...(def.forward === "isolated" ? [] : el("forward", [["mode", def.forward]])),
    ...(def.bridge === "" ? [] : el("bridge", def.forward === "bridge" ? [["name", def.bridge]] : [["name", def.bridge], ["stp", def.stp ? "on" : "off"], ["delay", def.delay]])),
    ...(def.mtu === undefined ? [] : el("mtu", [["size", def.mtu]])),
    ...(def.mac === undefined ? [] : el("mac", [["address", def.mac]])),
    ...(def.domainName === undefined ? [] : el("domain", [["name", def.domainName]])),
    ...def.ips.flatMap(formatIpEl),
  ];
  return `${el("network", [], body).join("\n")}\n`;
}

/** The subnet of an <ip> as text, e.g. "192.168.100.0/24". */
export function subnetText(ip: IpDef): string {
  const addr = parseIp(ip.family, ip.address);
  return addr === undefined ? `${ip.address}/${ip.prefix}` : `${formatIp(ip.family, addr & mask(ip.family, ip.prefix))}/${ip.prefix}`;
}
