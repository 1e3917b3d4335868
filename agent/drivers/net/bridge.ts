/**
 * Bridges, addresses, forwarding sysctls and host routes, through `ip` and `sysctl`.
 */
import type { NetworkDef } from "../../model/network-def.js";
import { cidrOf, parseIp, type Cidr } from "../../model/network-ip.js";
import type { IpFamily } from "../../model/network-def.js";
import type { NetExec } from "./exec.js";

export async function linkExists(exec: NetExec, name: string): Promise<boolean> {
  return exec.test("ip", ["link", "show", "dev", name]);
}

/** Whether `name` exists and is a bridge (iproute2's linkinfo kind). */
export async function isBridge(exec: NetExec, name: string): Promise<boolean> {
  const out = await exec.run("ip", ["-d", "-j", "link", "show", "dev", name]).catch(() => "[]");
  const links = JSON.parse(out) as { linkinfo?: { info_kind?: string } }[];
  return links[0]?.linkinfo?.info_kind === "bridge";
}

/** Creates the bridge with its addresses and brings it up. The caller deletes it on failure. */
export async function createBridge(exec: NetExec, def: NetworkDef): Promise<void> {
  const stp = def.stp ? "1" : "0";
  // forward_delay is in centiseconds in iproute2.
  await exec.run("ip", ["link", "add", "name", def.bridge, "type", "bridge", "stp_state", stp, "forward_delay", String(def.delay * 100)]);
  if (def.mtu !== undefined) await exec.run("ip", ["link", "set", "dev", def.bridge, "mtu", String(def.mtu)]);
  if (def.mac !== undefined) await exec.run("ip", ["link", "set", "dev", def.bridge, "address", def.mac]);
  if (def.ips.some((ip) => ip.family === "ipv6")) {
    // The bridge is the router: it must not configure itself from RAs (ours included).
    await exec.run("sysctl", ["-q", "-w", `net.ipv6.conf.${def.bridge.replaceAll(".", "/")}.accept_ra=0`]);
  }
  for (const ip of def.ips) {
    // nodad: the address is ours by definition, and dnsmasq cannot bind a tentative one.
    const extra = ip.family === "ipv6" ? ["nodad"] : [];
    await exec.run("ip", [ip.family === "ipv6" ? "-6" : "-4", "addr", "add", `${ip.address}/${ip.prefix}`, "dev", def.bridge, ...extra]);
  }
  await exec.run("ip", ["link", "set", "dev", def.bridge, "up"]);
}

export async function deleteLink(exec: NetExec, name: string): Promise<void> {
  if (await linkExists(exec, name)) await exec.run("ip", ["link", "del", "dev", name]);
}

/** Turns on forwarding for the families a nat/route network forwards (never turned off: shared). */
export async function enableForwarding(exec: NetExec, def: NetworkDef): Promise<void> {
  if (def.forward !== "nat" && def.forward !== "route") return;
  if (def.ips.some((ip) => ip.family === "ipv4")) await exec.run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
  if (def.ips.some((ip) => ip.family === "ipv6")) await exec.run("sysctl", ["-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
}

interface RouteJson {
  dst?: string;
}

function routeCidr(family: IpFamily, dst: string): Cidr | undefined {
  if (dst === "default") return undefined;
  const [addr, len] = dst.split("/");
  const v = parseIp(family, addr ?? "");
  if (v === undefined) return undefined;
  const prefix = len === undefined ? (family === "ipv4" ? 32 : 128) : Number(len);
  // Link-local and multicast routes exist on every interface and never clash with a subnet we accept.
  if (family === "ipv6" && ((v >> 118n) === 0x3fan || (v >> 120n) === 0xffn)) return undefined;
  return cidrOf(family, v, prefix);
}

/** The main table's routes (default excluded), to refuse subnets that would shadow them. */
export async function hostRoutes(exec: NetExec): Promise<Cidr[]> {
  const out: Cidr[] = [];
  for (const [flag, family] of [["-4", "ipv4"], ["-6", "ipv6"]] as const) {
    const json = await exec.run("ip", ["-j", flag, "route", "show", "table", "main"]);
    const routes = (json.trim() === "" ? [] : JSON.parse(json)) as RouteJson[];
    for (const r of routes) {
      const c = r.dst === undefined ? undefined : routeCidr(family, r.dst);
      if (c) out.push(c);
    }
  }
  return out;
}
