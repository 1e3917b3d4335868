/**
 * virsh's device listings: domiflist, domblklist, vncdisplay, domifaddr. Read from the
 * domain's XML (live while it runs, where each interface names its tap), so they work the
 * same over the socket and the bus and need no command of their own.
 */
import type { Command } from "commander";
import type { NetworkView } from "../drivers/network.js";
import type { DomainDef } from "../model/domain-def.js";
import { isActive, type DomainState } from "../model/state.js";
import * as domainXml from "../model/domain-xml.js";
import { readXml, type XNode } from "../model/xml-reader.js";
import { withRuntime, type VerbContext } from "./domain-verbs.js";
import { formatTable } from "./format.js";
import { CliError, type CliRuntime } from "./runtime.js";

/** VNC display numbers count from this TCP port. */
const VNC_BASE_PORT = 5900;

export interface IfRow {
  interface: string;
  type: string;
  source: string;
  model: string;
  mac: string;
}

export interface BlkRow {
  type: string;
  device: string;
  target: string;
  source: string;
}

export interface AddrRow {
  name: string;
  mac: string;
  protocol: string;
  address: string;
}

export function interfaceRows(def: DomainDef): IfRow[] {
  return def.devices.interfaces.map((n) => ({ interface: n.target?.dev ?? "-", type: n.type, source: n.source ?? "-", model: n.model, mac: n.mac ?? "-" }));
}

export function diskRows(def: DomainDef): BlkRow[] {
  return def.devices.disks.map((d) => ({ type: d.type, device: d.device, target: d.target.dev, source: d.source ?? "-" }));
}

export function formatIfList(rows: IfRow[]): string {
  return formatTable(["Interface", "Type", "Source", "Model", "MAC"], rows.map((r) => [r.interface, r.type, r.source, r.model, r.mac]));
}

export function formatBlkList(rows: BlkRow[], details: boolean): string {
  return details
    ? formatTable(["Type", "Device", "Target", "Source"], rows.map((r) => [r.type, r.device, r.target, r.source]))
    : formatTable(["Target", "Source"], rows.map((r) => [r.target, r.source]));
}

/**
 * virsh vncdisplay from a domain's live XML: `LISTEN:N` with N the port minus 5900; an
 * any-address listen prints as `:N`. Read from the XML itself: a parsed definition drops
 * an autoport's port, as a define must. @throws CliError when there is no such display.
 */
export function vncDisplay(xml: string, running: boolean): string {
  const root = readXml(xml, "domain");
  const name = root.children.find((c) => c.name === "name")?.text ?? "?";
  const devices = root.children.find((c) => c.name === "devices");
  const vnc = devices?.children.find((c: XNode) => c.name === "graphics" && c.attrs["type"] === "vnc");
  if (!vnc) throw new CliError("operation_invalid", `domain "${name}" has no VNC display`);
  const port = Number(vnc.attrs["port"]);
  if (!running || !Number.isInteger(port) || port < VNC_BASE_PORT) {
    throw new CliError("operation_invalid", `domain "${name}" is not running: its VNC display is not allocated`);
  }
  const listen = vnc.attrs["listen"] ?? "";
  const host = listen === "0.0.0.0" || listen === "::" ? "" : listen.includes(":") ? `[${listen}]` : listen;
  return `${host}:${port - VNC_BASE_PORT}`;
}

/** "a.b.c.d" → 32-bit number; undefined when it is not a dotted quad. */
function ipv4(s: string): number | undefined {
  const p = s.split(".").map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return (((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) >>> 0;
}

/** The prefix length of the network subnet (`"addr/prefix"`) an IPv4 address is in. */
export function prefixOf(ip: string, subnets: readonly string[]): number | undefined {
  const a = ipv4(ip);
  if (a === undefined) return undefined;
  for (const s of subnets) {
    const [net, len] = s.split("/");
    const n = ipv4(net ?? "");
    const bits = Number(len);
    if (n === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) continue;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    if (((a & mask) >>> 0) === ((n & mask) >>> 0)) return bits;
  }
  return undefined;
}

interface WireLease {
  type: string;
  ip_address: string;
  mac?: string;
}

/** virsh domifaddr (source lease): each interface on a virtbus network with its DHCP leases. */
export async function interfaceAddresses(rt: CliRuntime, def: DomainDef): Promise<AddrRow[]> {
  const rows: AddrRow[] = [];
  const nets = new Map<string, { leases: WireLease[]; addresses: string[] }>();
  for (const n of def.devices.interfaces) {
    if (n.type !== "network" || n.source === undefined || n.mac === undefined) continue;
    let net = nets.get(n.source);
    if (!net) {
      const { leases } = (await rt.call("network.dhcp_leases", { network: n.source })) as { leases: WireLease[] };
      const info = (await rt.call("network.info", { network: n.source })) as NetworkView;
      net = { leases, addresses: info.addresses };
      nets.set(n.source, net);
    }
    const mac = n.mac.toLowerCase();
    for (const l of net.leases.filter((x) => x.mac?.toLowerCase() === mac)) {
      const prefix = l.type === "ipv4" ? prefixOf(l.ip_address, net.addresses) : undefined;
      rows.push({ name: n.target?.dev ?? "-", mac, protocol: l.type, address: prefix === undefined ? l.ip_address : `${l.ip_address}/${prefix}` });
    }
  }
  return rows;
}

export function formatAddrs(rows: AddrRow[]): string {
  return formatTable(["Name", "MAC address", "Protocol", "Address"], rows.map((r) => [r.name, r.mac, r.protocol, r.address]));
}

async function liveXml(rt: CliRuntime, domain: string): Promise<string> {
  return ((await rt.call("domain.dumpxml", { domain })) as { xml: string }).xml;
}

async function liveDef(rt: CliRuntime, domain: string): Promise<DomainDef> {
  return domainXml.parse(await liveXml(rt, domain));
}

export function registerDeviceVerbs(program: Command, ctx: VerbContext): void {
  program
    .command("domiflist <domain>")
    .description("list a domain's network interfaces (the tap of each while it runs)")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print(interfaceRows(await liveDef(rt, domain)), formatIfList)));
  program
    .command("domblklist <domain>")
    .description("list a domain's disks")
    .option("--details", "also the disk type and device")
    .action((domain: string, o: { details?: boolean }) => withRuntime(ctx, async (rt) => ctx.print(diskRows(await liveDef(rt, domain)), (r) => formatBlkList(r, o.details === true))));
  program
    .command("vncdisplay <domain>")
    .description("the VNC display of a running domain (LISTEN:N)")
    .action((domain: string) =>
      withRuntime(ctx, async (rt) => {
        const { state } = (await rt.call("domain.state", { domain })) as { state: DomainState };
        ctx.print({ display: vncDisplay(await liveXml(rt, domain), isActive(state)) }, (r) => r.display);
      }),
    );
  program
    .command("domifaddr <domain>")
    .description("addresses of a domain's interfaces, from the DHCP leases of its networks")
    .action((domain: string) => withRuntime(ctx, async (rt) => ctx.print(await interfaceAddresses(rt, await liveDef(rt, domain)), formatAddrs)));
}
